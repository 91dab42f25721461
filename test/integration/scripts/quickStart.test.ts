/**
 * The zero-install quick start (scripts/quickStart.ts) with both default addresses pointing at
 * nothing: an embedded PostgreSQL from the npm package starts, the queues live in it, and the
 * service takes and applies a ledger entry. A URL that was given is never replaced. Run as root
 * (CI is), the server runs as `postgres`: it also starts when the data directory, or the whole
 * checkout, sits in a directory that only root may enter (a `mktemp -d`, /root/app).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../../scripts/service.ts';
import { sharedHomePath } from '../../../scripts/embeddedPostgres.ts';
import { prepareQuickStart, type QuickStart } from '../../../scripts/quickStart.ts';
import { loadConfig } from '../../../worker/runtime/config.ts';
import { makePrivateCheckout, processesMentioning } from '../../support/privateCheckout.ts';
import { TEST_API_KEY } from '../../support/testService.ts';

/** Port 1 on loopback: nothing listens there. */
const NOTHING = {
  databaseUrl: 'postgres://postgres@127.0.0.1:1/credits',
  redisUrl: 'redis://127.0.0.1:1',
};
const environment = { PORT: '0', API_KEYS: TEST_API_KEY, PARTITIONS: '2', LOG_LEVEL: 'silent' };

const asRoot = process.getuid?.() === 0;
// mkdtemp makes the directory 0700: run as root, the `postgres` user cannot enter it.
const dataDir = join(mkdtempSync(join(tmpdir(), 'credits-quick-start-')), 'postgres');
let quickStart: QuickStart | undefined;
let service: Service | undefined;
const cleanups: (() => void)[] = [];
afterAll(async () => {
  await service?.close();
  await quickStart?.stop();
  rmSync(join(dataDir, '..'), { recursive: true, force: true });
  for (const cleanup of cleanups) cleanup();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${service?.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TEST_API_KEY}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe('the zero-install quick start', () => {
  it('serves a ledger entry with both URLs pointing at nothing, from an embedded Postgres holding the queues too', async () => {
    quickStart = await prepareQuickStart(loadConfig(environment), { dataDir, probe: NOTHING });
    expect(quickStart.notice).toMatch(
      /^zero-install quick start: embedded PostgreSQL on 127\.0\.0\.1:\d+, data in .*; queues in PostgreSQL instead of Redis/,
    );
    expect(quickStart.config.queueStore).toBe('postgres');
    expect(new URL(quickStart.config.databaseUrl).port).not.toBe('1');
    if (asRoot) {
      cleanups.push(() => rmSync(sharedHomePath(dataDir), { recursive: true, force: true }));
      expect(quickStart.notice).toContain(`data in ${join(sharedHomePath(dataDir), 'postgres')}`);
    }

    service = await startService(quickStart.config, { logger: pino({ level: 'silent' }) });
    const ready = await call('GET', '/health/ready');
    expect(ready).toEqual({
      status: 200,
      body: {
        status: 'ready',
        checks: { postgres: 'ok', queues: 'ok', migrations: 'ok', workers: 'ok' },
      },
    });

    const customer = await call('POST', '/v1/customers', {
      name: 'Quick',
      email: 'quick@example.com',
      external_customer_id: 'quick-1',
    });
    expect(customer.status).toBe(201);
    const entry = await call('POST', `/v1/customers/${customer.body.id}/credits/ledger_entry`, {
      entry_type: 'increment',
      amount: 12.5,
    });
    expect(entry.status).toBe(201);
    expect(entry.body).toMatchObject({
      entry_type: 'increment',
      entry_status: 'committed',
      amount: 12.5,
      ending_balance: 12.5,
    });
    const spent = await call('POST', `/v1/customers/${customer.body.id}/credits/ledger_entry`, {
      entry_type: 'decrement',
      amount: 2.25,
    });
    expect(spent.status).toBe(201);
    const credits = await call('GET', `/v1/customers/${customer.body.id}/credits`);
    expect(credits.body.data.map((block: { balance: number }) => block.balance)).toEqual([10.25]);
  }, 120_000);

  it('never replaces a URL that was given, even one where nothing answers', async () => {
    const config = loadConfig({
      ...environment,
      DATABASE_URL: NOTHING.databaseUrl,
      REDIS_URL: NOTHING.redisUrl,
    });
    const unchanged = await prepareQuickStart(config, { dataDir: join(dataDir, 'unused') });
    expect(unchanged.notice).toBeUndefined();
    expect(unchanged.config).toEqual(config);
  });

  it('is off with QUICK_START=off', async () => {
    const config = loadConfig({ ...environment, QUICK_START: 'off' });
    const unchanged = await prepareQuickStart(config, {
      dataDir: join(dataDir, 'unused'),
      probe: NOTHING,
    });
    expect(unchanged).toMatchObject({ config, notice: undefined });
  });

  it('starts from a whole checkout inside a directory that only root may enter, and stops leaving nothing running', async () => {
    const checkout = makePrivateCheckout();
    const { app, dataDir: appDataDir } = checkout;
    cleanups.push(() => checkout.remove());
    expect(statSync(checkout.outer).mode & 0o777).toBe(0o700);
    const module = (path: string) => JSON.stringify(pathToFileURL(join(app, path)).href);
    const program = `
      const { prepareQuickStart } = await import(${module('scripts/quickStart.ts')});
      const { startService } = await import(${module('scripts/service.ts')});
      const { loadConfig } = await import(${module('worker/runtime/config.ts')});
      const { pino } = await import('pino');
      const quickStart = await prepareQuickStart(loadConfig(${JSON.stringify(environment)}), { dataDir: ${JSON.stringify(appDataDir)}, probe: ${JSON.stringify(NOTHING)} });
      const service = await startService(quickStart.config, { logger: pino({ level: 'silent' }) });
      const ready = await fetch(service.url + '/health/ready');
      console.log(JSON.stringify({ notice: quickStart.notice, ready: ready.status }));
      await service.close();
      await quickStart.stop();
    `;
    const started = Date.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', program], {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect({ code, output }).toMatchObject({ code: 0 });
    const result = JSON.parse(output.trim().split('\n').at(-1) ?? '{}');
    expect(result.ready).toBe(200);
    if (asRoot)
      expect(result.notice).toContain(`data in ${join(sharedHomePath(appDataDir), 'postgres')}`);
    expect(Date.now() - started).toBeLessThan(90_000);
    expect(processesMentioning(app)).toEqual([]);
    expect(processesMentioning(sharedHomePath(appDataDir))).toEqual([]);
  }, 120_000);
});
