/**
 * The queues in Postgres (QUEUE_STORE=postgres, BullMQ's PostgreSQL backend; the zero-install
 * quick start uses it). An api process and a worker process share one database and nothing else:
 * the worker's outcomes reach the api's waiting requests over NOTIFY, usage is applied, a failed
 * job is listed as a dead letter, and readiness and metrics read the store. The whole suite also
 * runs on this store with `TEST_QUEUE_STORE=postgres npm test`.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../../scripts/service.ts';
import { loadConfig } from '../../../worker/runtime/config.ts';
import { jobCatalog } from '../../../worker/jobs/queues.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  createCustomer,
  createUsagePrice,
  eventually,
  expectLedgerConsistent,
  sql,
} from '../ledgerTestHelpers.ts';

let api: TestService;
let worker: Service;
beforeAll(async () => {
  api = await startTestService({ ROLE: 'api', QUEUE_STORE: 'postgres', SYNC_WAIT_MS: '10000' });
  const config = loadConfig({
    DATABASE_URL: api.databaseUrl,
    QUEUE_STORE: 'postgres',
    QUEUE_PREFIX: api.queuePrefix,
    ROLE: 'worker',
    WORKER_PORT: '0',
    PARTITIONS: '4',
    API_KEYS: 'unused',
    LOG_LEVEL: 'silent',
  });
  worker = await startService(config, { logger: pino({ level: 'silent' }) });
});
afterAll(async () => {
  await worker?.close();
  await api?.stop();
});

describe('QUEUE_STORE=postgres with the api and the worker in separate services', () => {
  it('answers a ledger entry 201 once the other process has written it: the outcome came over NOTIFY', async () => {
    const customer = await createCustomer(api);
    const entry = await api.request('POST', `/v1/customers/${customer.id}/credits/ledger_entry`, {
      entry_type: 'increment',
      amount: 40,
    });
    expect(entry.status, entry.text).toBe(201);
    expect(entry.body).toMatchObject({ entry_status: 'committed', amount: 40, ending_balance: 40 });
    const spent = await api.request('POST', `/v1/customers/${customer.id}/credits/ledger_entry`, {
      entry_type: 'decrement',
      amount: 15.5,
    });
    expect(spent.status, spent.text).toBe(201);
    expect(spent.body.ending_balance).toBe(24.5);
    expect(await expectLedgerConsistent(api, customer.id)).toBe('24.5');
  });

  it('applies ingested usage events', async () => {
    const customer = await createCustomer(api);
    await api.request('POST', `/v1/customers/${customer.id}/credits/ledger_entry`, {
      entry_type: 'increment',
      amount: 100,
    });
    const price = await createUsagePrice(api, { unit_amount: '0.5' });
    // Stamped after the increment: usage draws from the blocks drawable at its instant (§5).
    const boughtAt = Date.now();
    const events = Array.from({ length: 20 }, (_, index) => ({
      idempotency_key: randomUUID(),
      event_name: price.event_name,
      timestamp: new Date(boughtAt + index).toISOString(),
      customer_id: customer.id,
      properties: {},
    }));
    const ingested = await api.request('POST', '/v1/ingest', { events });
    expect(ingested.status, ingested.text).toBe(200);
    await eventually(
      async () => {
        const [row] = await sql<{ count: number }>(
          api,
          'select count(*)::int as count from events where customer_id = ?',
          [customer.id],
        );
        return row?.count === events.length ? true : undefined;
      },
      15_000,
      'the events applied',
    );
    await eventually(
      async () => {
        const credits = await api.request('GET', `/v1/customers/${customer.id}/credits`);
        return credits.body.data[0]?.balance === 90 ? true : undefined;
      },
      15_000,
      'the balance to drop by 20 × 0.5',
    );
  });

  it('lists a job that failed as a dead letter', async () => {
    const job = await api.service.queues
      .queue(2)
      .add('usage.apply', { events: [], accepted_at: 'never' }, jobCatalog['usage.apply'].options);
    const listed = await eventually(
      async () => {
        const page = await api.request('GET', '/v1/failed_jobs?partition=2');
        return page.body.data.find((failed: { id: string }) => failed.id === job.id);
      },
      15_000,
      'the failed job listed',
    );
    expect(listed).toMatchObject({ partition: 2, name: 'usage.apply', attempts_made: 1 });
    expect(listed.failed_reason).toMatch(/events|accepted_at/);
  });

  it('reports the store in readiness and the partitions in /metrics', async () => {
    const ready = await api.request('GET', '/health/ready', undefined, { authorization: '' });
    expect(ready.body).toEqual({
      status: 'ready',
      checks: { postgres: 'ok', queues: 'ok', migrations: 'ok', workers: 'ok' },
    });
    const metrics = await api.request('GET', '/metrics', undefined, { authorization: '' });
    expect(metrics.text).toMatch(/credits_queue_jobs\{partition="3",state="failed"\} \d+/);
  });
});
