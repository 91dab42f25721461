/**
 * Redis down (ARCHITECTURE.md "Delivery, idempotency, failure"), with a Redis server of the
 * test's own (the machine's is shared with every other test file):
 * - nothing hangs: a ledger write answers within a second with 202 (it is durable in Postgres
 *   before its enqueue; it is enqueued once Redis is back, and applied); an ingest call answers
 *   within a second with 503, `Retry-After` and an RFC 7807 body (its events live only in the job);
 * - the log says "lost" once and "back" once, not a line per failed reconnect per connection;
 * - shutdown finishes within its bound and exits 0, in process (`service.close()`) and as a real
 *   `scripts/start.ts` process given SIGTERM.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { PrivateRedis } from '../../../scripts/faults/privateServices.ts';
import { SHUTDOWN_BOUND_MS } from '../../../scripts/service.ts';
import { cloneTemplateDatabase, type TestDatabase } from '../../support/databases.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../../support/testService.ts';
import { createCustomer, eventually, ledgerEntryPath, sleep } from '../ledgerTestHelpers.ts';

/** Lines a whole outage may log: lost, back, and a few about requests; never one per retry. */
const OUTAGE_LOG_LINES_MAX = 8;
/** How long the outage lasts in the first test: long enough for ioredis to retry many times. */
const DOWN_MS = 8_000;

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function privateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'credits-outage-redis-'));
  const redis = await PrivateRedis.start(dir);
  cleanups.push(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return redis;
}

/** A pino destination that keeps every line, to count them. */
function lineCollector(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

const messages = (lines: string[]) =>
  lines.map((line) => (JSON.parse(line) as { msg?: string }).msg ?? '');

/** One request, timed, never waiting more than 5 s (a hang fails the test instead of stalling it). */
async function timed(t: TestService, method: string, path: string, body: unknown) {
  const startedAt = performance.now();
  const response = await fetch(`${t.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? JSON.parse(text) : undefined,
    ms: performance.now() - startedAt,
  };
}

describe('with Redis down', () => {
  it('a ledger write is accepted (202) within a second and applied once Redis is back; ingest answers 503 with Retry-After within a second; the log says lost and back once', async () => {
    const redis = await privateRedis();
    const log = lineCollector();
    const t = await startTestService(
      { QUEUE_STORE: 'redis', REDIS_URL: redis.url, LOG_LEVEL: 'info' },
      { logger: pino({ level: 'info' }, log.stream) },
    );
    cleanups.push(() => t.stop());
    const customer = await createCustomer(t);
    const up = await timed(t, 'POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: 10,
    });
    expect(up.status).toBe(201);

    const linesBefore = log.lines.length;
    const restarted = redis.restart(DOWN_MS);
    await eventually(
      async () =>
        messages(log.lines).some((msg) => /redis connection lost/i.test(msg)) ? true : undefined,
      5_000,
      'the lost line',
    );

    const write = await timed(t, 'POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: 5,
      description: 'during the outage',
    });
    expect(write.ms).toBeLessThan(1_000);
    expect(write.status, JSON.stringify(write.body)).toBe(202);
    expect(write.body).toMatchObject({ status: 'queued' });
    const requestId: string = write.body.id;

    const events = [
      {
        idempotency_key: randomUUID(),
        event_name: 'api_call',
        timestamp: new Date().toISOString(),
        customer_id: customer.id,
        properties: {},
      },
    ];
    const ingest = await timed(t, 'POST', '/v1/ingest', { events });
    expect(ingest.ms).toBeLessThan(1_000);
    expect(ingest.status).toBe(503);
    expect(Number(ingest.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(ingest.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(ingest.body).toMatchObject({ status: 503, title: 'Service unavailable' });

    // A second write for the same customer while the first waits: it keeps its place behind it.
    const second = await timed(t, 'POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: 1,
      description: 'second during the outage',
    });
    expect(second.ms).toBeLessThan(1_000);
    expect(second.status).toBe(202);
    expect(second.body).toMatchObject({ status: 'queued' });

    // Let ioredis retry for a while: every retry of every connection fails.
    await sleep(3_000);
    const duringOutage = log.lines.length - linesBefore;

    await restarted;
    for (const id of [requestId, second.body.id as string]) {
      const committed = await eventually(
        async () => {
          const answer = await t.request('GET', `/v1/ledger_requests/${id}`);
          return answer.body?.status === 'committed' ? answer.body : undefined;
        },
        15_000,
        'the writes accepted during the outage to be applied',
      );
      expect(committed.entries).toHaveLength(1);
    }
    const entries = await t.request('GET', `/v1/customers/${customer.id}/credits/ledger?limit=10`);
    const descriptions = (
      entries.body.data as { description: string | null; ledger_sequence_number: number }[]
    )
      .sort((a, b) => a.ledger_sequence_number - b.ledger_sequence_number)
      .map((entry) => entry.description);
    expect(descriptions.slice(-2)).toEqual(['during the outage', 'second during the outage']);
    const balance = await t.request('GET', `/v1/customers/${customer.id}/credits`);
    expect(
      balance.body.data
        .map((block: { balance: number }) => Number(block.balance))
        .reduce((a: number, b: number) => a + b, 0),
    ).toBe(16);

    await eventually(
      async () =>
        messages(log.lines).some((msg) => /redis connection back/i.test(msg)) ? true : undefined,
      5_000,
      'the back line',
    );
    const outageLines = log.lines.slice(linesBefore);
    expect(duringOutage, outageLines.join('\n')).toBeLessThanOrEqual(OUTAGE_LOG_LINES_MAX);
    expect(
      messages(outageLines).filter((msg) => /redis connection (lost|back)/i.test(msg)),
    ).toHaveLength(2);

    // And now down for good: closing still finishes within its bound.
    await redis.stop();
    await eventually(
      async () =>
        messages(log.lines).filter((msg) => /redis connection lost/i.test(msg)).length === 2
          ? true
          : undefined,
      5_000,
      'the second lost line',
    );
    const closeStartedAt = performance.now();
    await t.service.close();
    const closeMs = performance.now() - closeStartedAt;
    if (process.env.OUTAGE_TEST_VERBOSE)
      console.info(
        { writeMs: write.ms, ingestMs: ingest.ms, secondMs: second.ms, duringOutage, closeMs },
        log.lines.slice(linesBefore),
      );
    expect(closeMs).toBeLessThan(SHUTDOWN_BOUND_MS);
  }, 60_000);

  it('SIGTERM to scripts/start.ts stops it within the bound with exit code 0, logging a bounded number of lines', async () => {
    const redis = await privateRedis();
    const database: TestDatabase = await cloneTemplateDatabase();
    cleanups.push(() => database.drop());
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('../../../scripts/start.ts', import.meta.url))],
      {
        env: {
          ...process.env,
          DATABASE_URL: database.url,
          REDIS_URL: redis.url,
          QUEUE_STORE: 'redis',
          QUICK_START: 'off',
          PORT: '0',
          API_KEYS: TEST_API_KEY,
          PARTITIONS: '4',
          LOG_LEVEL: 'info',
          QUEUE_PREFIX: `test-outage-${randomUUID().slice(0, 8)}`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const lines: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream.on('data', (chunk: Buffer) => {
        const parts = (rest + chunk.toString('utf8')).split('\n');
        rest = parts.pop() ?? '';
        lines.push(...parts.filter(Boolean));
      });
    }
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    await eventually(
      async () =>
        lines.some((line) => line.includes('credits ledger started')) ? true : undefined,
      30_000,
      'the service to start',
    );

    const linesBefore = lines.length;
    await redis.stop();
    await eventually(
      async () =>
        lines.slice(linesBefore).some((line) => /redis connection lost/i.test(line))
          ? true
          : undefined,
      5_000,
      'the lost line',
    );
    await sleep(2_000);
    const signalledAt = performance.now();
    child.kill('SIGTERM');
    const code = await exited;
    const stopMs = performance.now() - signalledAt;
    const outageLines = lines.slice(linesBefore);
    if (process.env.OUTAGE_TEST_VERBOSE) console.info({ code, stopMs }, outageLines);
    expect(code, outageLines.join('\n')).toBe(0);
    expect(stopMs).toBeLessThan(SHUTDOWN_BOUND_MS + 1_000);
    expect(outageLines.length, outageLines.join('\n')).toBeLessThanOrEqual(OUTAGE_LOG_LINES_MAX);
  }, 60_000);
});
