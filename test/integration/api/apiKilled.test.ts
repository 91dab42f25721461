/**
 * Acknowledged means durable when the api process dies. While Redis is away a ledger write is
 * answered 202: its request is committed in Postgres, and the api keeps the job to enqueue once
 * Redis is back. Killing that api with SIGKILL before then loses the job, not the write: a worker
 * process's stranded sweep gives the request its job again, it is applied once, and a retry with
 * the same Idempotency-Key answers what was applied instead of applying it twice.
 *
 * Real processes (scripts/start.ts as ROLE=api and ROLE=worker), a private Redis that is stopped
 * and started again (AOF on), and a short sweep interval so the test does not wait 40 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { PrivateRedis } from '../../../scripts/faults/privateServices.ts';
import { verifyDatabase } from '../../../scripts/verify.ts';
import { cloneTemplateDatabase, type TestDatabase } from '../../support/databases.ts';
import { describeRequires, REDIS_SERVER } from '../../support/requiresBinary.ts';
import { eventually } from '../ledgerTestHelpers.ts';
import { call, RoleProcesses } from '../worker/roleProcesses.ts';

const REDIS_DOWN_MS = 6_000;

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

describeRequires([REDIS_SERVER], 'the api killed after a 202', () => {
  it('loses nothing: the worker applies the write once, and a retry with its key replays it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'credits-api-killed-redis-'));
    const redis = await PrivateRedis.start(dir);
    cleanups.push(async () => {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const database: TestDatabase = await cloneTemplateDatabase();
    cleanups.push(() => database.drop());
    const db = new pg.Pool({ connectionString: database.url, max: 2 });
    cleanups.push(() => db.end());
    const roles = new RoleProcesses({
      databaseUrl: database.url,
      redisUrl: redis.url,
      queuePrefix: `test-${randomBytes(5).toString('hex')}`,
      partitions: 2,
      extra: { STRANDED_AFTER_MS: '1000', SWEEP_EVERY_MS: '500' },
    });
    cleanups.push(() => roles.stopAll());
    const api = await roles.start('api');
    await roles.start('worker');

    const customer = await call(api.url, 'POST', '/v1/customers', {
      name: 'Killed api',
      email: `${randomUUID()}@example.com`,
    });
    expect(customer.status, customer.text).toBe(201);
    const entryPath = `/v1/customers/${customer.body.id}/credits/ledger_entry`;
    const increment = await call(api.url, 'POST', entryPath, {
      entry_type: 'increment',
      amount: 10,
    });
    expect(increment.status, increment.text).toBe(201);

    const restarted = redis.restart(REDIS_DOWN_MS);
    await eventually(
      async () => {
        const ready = await call(api.url, 'GET', '/health/ready');
        return ready.status === 503 ? true : undefined;
      },
      5_000,
      'the api to see Redis gone',
    );
    const key = randomUUID();
    const decrement = {
      entry_type: 'decrement',
      amount: 3,
      description: 'acknowledged, then the api died',
    };
    const accepted = await call(api.url, 'POST', entryPath, decrement, { 'Idempotency-Key': key });
    expect(accepted.status, accepted.text).toBe(202);
    const requestId: string = accepted.body.id;
    // The job it meant to enqueue once Redis is back dies with it.
    await roles.kill(api);
    await restarted;

    const status = async () =>
      (await db.query<{ status: string }>('select status from requests where id = $1', [requestId]))
        .rows[0]?.status;
    expect(await status()).toBe('queued');
    await eventually(
      async () => ((await status()) === 'committed' ? true : undefined),
      20_000,
      'the stranded sweep to apply the request',
    );

    const again = await roles.start('api');
    const polled = await call(again.url, 'GET', `/v1/ledger_requests/${requestId}`);
    expect(polled.status, polled.text).toBe(200);
    expect(polled.body.status).toBe('committed');
    const retried = await call(again.url, 'POST', entryPath, decrement, { 'Idempotency-Key': key });
    expect(retried.status, retried.text).toBeLessThan(300);
    const { rows: entries } = await db.query<{ amount: string }>(
      `select amount::text from ledger_entries where customer_id = $1 and entry_type = 'decrement'`,
      [customer.body.id],
    );
    expect(entries.map((entry) => Number(entry.amount))).toEqual([-3]);
    const credits = await call(again.url, 'GET', `/v1/customers/${customer.body.id}/credits`);
    expect(credits.body.data.map((block: { balance: number }) => block.balance)).toEqual([7]);
    expect((await verifyDatabase(database.url)).violations).toEqual([]);
  }, 90_000);
});
