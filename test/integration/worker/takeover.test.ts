/**
 * Split roles with real processes (test/integration/worker/roleProcesses.ts): an api process and
 * worker processes on one database and one queue prefix, sharing the machine's Redis.
 *
 * - A worker process serves `/metrics` and `/health/*` on its own port (WORKER_PORT), and the
 *   api's readiness fails on `workers` once no worker process has been seen for a few seconds.
 * - kill -9 of the worker running a partition's job: the other resumes within JOB_LOCK_MS (4 s)
 *   plus a stalled check, and every request is applied once, in each customer's order.
 * - SIGSTOP of the worker while it applies a large usage batch: the other takes over, and once
 *   the first is continued it is fenced out (logs it, applies nothing); every event applied once.
 *
 * Each test uses one partition, so both workers compete for the same queue. To know which
 * worker holds the partition, the other is stopped (SIGSTOP) while the queue is idle: it then
 * holds no job, and every job goes to the first.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyDatabase } from '../../../scripts/verify.ts';
import { cloneTemplateDatabase, type TestDatabase } from '../../support/databases.ts';
import { REDIS_URL } from '../../support/testService.ts';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { deleteQueueKeys } from '../../../worker/jobs/queueKeys.ts';
import { eventually, sleep } from '../ledgerTestHelpers.ts';
import { call, RoleProcesses, type RoleProcess } from './roleProcesses.ts';

/** The bound the service promises (JOB_LOCK_MS 4 s, stalled checks every 1 s: 5 s at worst). */
const TAKEOVER_BOUND_MS = 5_000;
/** Starting three processes takes most of it on a busy machine. */
const PROCESS_TEST_TIMEOUT_MS = 120_000;
/** The machine is shared with other test runs: a little slack on top of the bound, nothing more. */
const NOISY_MACHINE_SLACK_MS = 2_000;

let database: TestDatabase;
let db: pg.Pool;
let roles: RoleProcesses;
let queuePrefix: string;

beforeEach(async () => {
  database = await cloneTemplateDatabase();
  db = new pg.Pool({ connectionString: database.url, max: 2 });
  queuePrefix = `test-${randomBytes(5).toString('hex')}`;
});

afterEach(async () => {
  await roles?.stopAll();
  await db?.end();
  await deleteQueueKeys(REDIS_URL, queuePrefix);
  await database?.drop();
});

function startRoles(partitions: number): RoleProcesses {
  roles = new RoleProcesses({
    databaseUrl: database.url,
    redisUrl: REDIS_URL,
    queuePrefix,
    partitions,
  });
  return roles;
}

async function query<T = Record<string, unknown>>(
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  return (await db.query(text, params)).rows as T[];
}

/** The pid in a heartbeat's worker id (`host:pid:nonce`) of the partition's fence holder. */
async function holderPid(partition = 0): Promise<number | undefined> {
  const [row] = await query<{ holder: string | null }>(
    'select holder from partition_fences where partition = $1',
    [partition],
  );
  return row?.holder ? Number(row.holder.split(':').at(-2)) : undefined;
}

async function idleQueue(api: RoleProcess): Promise<void> {
  await eventually(
    async () => {
      const metrics = await call(api.url, 'GET', '/metrics');
      const busy = /credits_queue_jobs\{partition="0",state="(waiting|active)"\} [1-9]/.test(
        metrics.text,
      );
      return busy ? undefined : true;
    },
    30_000,
    'the partition queue to be idle',
  );
}

async function createCustomer(api: RoleProcess): Promise<string> {
  const customer = await call(api.url, 'POST', '/v1/customers', {
    name: 'Takeover',
    email: `${randomUUID()}@example.com`,
  });
  expect(customer.status, customer.text).toBe(201);
  return customer.body.id as string;
}

async function increment(api: RoleProcess, customerId: string, amount: number): Promise<void> {
  const entry = await call(api.url, 'POST', `/v1/customers/${customerId}/credits/ledger_entry`, {
    entry_type: 'increment',
    amount,
  });
  expect(entry.status, entry.text).toBe(201);
}

/** Ledger invariants, and every request committed with one entry, in its customer's order. */
async function expectAppliedOnceInOrder(
  requestIdsByCustomer: Map<string, string[]>,
): Promise<void> {
  const verified = await verifyDatabase(database.url);
  expect(verified.violations).toEqual([]);
  for (const [customerId, requestIds] of requestIdsByCustomer) {
    const rows = await query<{ request_id: string; n: number }>(
      `select request_id, count(*)::int as n, min(ledger_sequence_number) as seq
         from ledger_entries where customer_id = $1 and request_id = any($2) group by request_id order by seq`,
      [customerId, requestIds],
    );
    expect(rows.map((row) => row.request_id)).toEqual(requestIds);
    expect(rows.every((row) => row.n === 1)).toBe(true);
  }
}

describe('a worker process of its own', () => {
  it(
    'serves /metrics and health on WORKER_PORT; the api is not ready once no worker is seen',
    { timeout: PROCESS_TEST_TIMEOUT_MS },
    async () => {
      startRoles(2);
      const worker = await roles.start('worker');
      const api = await roles.start('api');
      expect(worker.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(worker.url).not.toBe(api.url);

      expect((await call(worker.url, 'GET', '/health/live')).status).toBe(200);
      const workerReady = await call(worker.url, 'GET', '/health/ready');
      expect(workerReady.status, workerReady.text).toBe(200);
      expect(workerReady.body.checks).toEqual({
        postgres: 'ok',
        redis: 'ok',
        migrations: 'ok',
        workers: 'ok',
      });
      // Nothing else is served there.
      expect((await call(worker.url, 'GET', '/v1/customers')).status).toBe(404);

      const customerId = await createCustomer(api);
      await increment(api, customerId, 10);
      // The 201 is announced before BullMQ marks the job completed; the queue is empty (progress
      // 0) a moment later.
      const idleMetric = /^credits_partition_last_progress_seconds\{partition="[01]"\} 0$/gm;
      const workerMetrics = await eventually(
        async () => {
          const metrics = await call(worker.url, 'GET', '/metrics');
          return (metrics.text.match(idleMetric) ?? []).length === 2 ? metrics : undefined;
        },
        5_000,
        'both partitions idle in the metrics',
      );
      expect(workerMetrics.status).toBe(200);
      // Job metrics are the worker's: the api-only process runs no jobs.
      expect(workerMetrics.text).toMatch(
        /credits_job_duration_seconds_count\{job_name="ledger.apply"\} 1/,
      );
      expect(workerMetrics.text).toMatch(/^credits_workers_live 1$/m);
      expect(workerMetrics.text).toMatch(
        /^credits_partition_last_progress_seconds\{partition="0"\} 0$/m,
      );
      expect(workerMetrics.text).toMatch(
        /^credits_partition_last_progress_seconds\{partition="1"\} 0$/m,
      );

      const apiReady = await call(api.url, 'GET', '/health/ready');
      expect(apiReady.status, apiReady.text).toBe(200);
      expect(apiReady.body.checks.workers).toBe('ok');

      const killedAt = Date.now();
      await roles.kill(worker);
      const down = await eventually(
        async () => {
          const answer = await call(api.url, 'GET', '/health/ready');
          return answer.status === 503 ? answer : undefined;
        },
        15_000,
        'the api to be not ready without workers',
      );
      const notReadyAfterMs = Date.now() - killedAt;
      console.log(`api not ready ${notReadyAfterMs} ms after the last worker was killed`);
      expect(down.body.failing).toEqual(['workers']);
      expect(down.body.checks.workers).toMatch(/^failed: no worker process seen/);
      // Heartbeats every second, gone after five.
      expect(notReadyAfterMs).toBeLessThanOrEqual(6_000 + NOISY_MACHINE_SLACK_MS);
      expect((await call(api.url, 'GET', '/metrics')).text).toMatch(/^credits_workers_live 0$/m);

      // Work waiting with nobody to do it: that partition's progress age climbs, the idle one stays 0.
      const partition = Number(partitionOf(customerId, 2));
      const waiting = await call(
        api.url,
        'POST',
        `/v1/customers/${customerId}/credits/ledger_entry`,
        { entry_type: 'decrement', amount: 1 },
        { prefer: 'respond-async' },
      );
      expect(waiting.status, waiting.text).toBe(202);
      await sleep(2_500);
      const stuck = (await call(api.url, 'GET', '/metrics')).text;
      const age = Number(
        new RegExp(
          `^credits_partition_last_progress_seconds\\{partition="${partition}"\\} (\\S+)$`,
          'm',
        ).exec(stuck)?.[1],
      );
      expect(age).toBeGreaterThanOrEqual(2);
      expect(stuck).toMatch(
        new RegExp(
          `^credits_partition_last_progress_seconds\\{partition="${1 - partition}"\\} 0$`,
          'm',
        ),
      );
    },
  );
});

describe('takeover between worker processes', () => {
  it(
    'after kill -9 of the worker running the partition, the other resumes within 5 s and applies every request once, in order',
    { timeout: PROCESS_TEST_TIMEOUT_MS },
    async () => {
      startRoles(1);
      const api = await roles.start('api');
      const first = await roles.start('worker');
      const second = await roles.start('worker');
      const customers = [
        await createCustomer(api),
        await createCustomer(api),
        await createCustomer(api),
      ];
      for (const customerId of customers) await increment(api, customerId, 1_000_000);
      await idleQueue(api);
      // Only `first` works from here: `second` holds no job while stopped.
      roles.signal(second, 'SIGSTOP');

      const accepted = new Map<string, string[]>(customers.map((id) => [id, []]));
      let loading = true;
      const streams = customers.map(async (customerId) => {
        while (loading) {
          const answer = await call(
            api.url,
            'POST',
            `/v1/customers/${customerId}/credits/ledger_entry`,
            { entry_type: 'decrement', amount: 1 },
            { prefer: 'respond-async' },
          );
          expect([201, 202], answer.text).toContain(answer.status);
          accepted
            .get(customerId)!
            .push(answer.body.id ?? answer.body.request_id ?? answer.body.ledger_request_id);
        }
      });
      await eventually(
        async () => ((await holderPid()) === first.pid ? true : undefined),
        10_000,
        'the first worker to hold the partition',
      );
      await sleep(1_500);
      const killedAt = new Date();
      await roles.kill(first);
      roles.signal(second, 'SIGCONT');
      const resumed = await eventually(
        async () => {
          const [row] = await query<{ created_at: Date }>(
            'select min(created_at) as created_at from ledger_entries where created_at > $1',
            [killedAt],
          );
          return row?.created_at ?? undefined;
        },
        20_000,
        'another worker to apply a request',
      );
      const resumedAfterMs = resumed.getTime() - killedAt.getTime();
      console.log(`after kill -9, the next request was applied ${resumedAfterMs} ms later`);
      expect(await holderPid()).toBe(second.pid);
      await sleep(500);
      loading = false;
      await Promise.all(streams);
      const ids = [...accepted.values()].flat();
      await eventually(
        async () => {
          const [row] = await query<{ queued: number }>(
            `select count(*)::int as queued from requests where id = any($1) and status <> 'committed'`,
            [ids],
          );
          return row?.queued === 0 ? true : undefined;
        },
        30_000,
        'every request to be committed',
      );
      expect(ids.length).toBeGreaterThan(20);
      await expectAppliedOnceInOrder(accepted);
      expect(resumedAfterMs).toBeLessThanOrEqual(TAKEOVER_BOUND_MS + NOISY_MACHINE_SLACK_MS);
    },
  );

  it(
    'a worker stopped (SIGSTOP) while applying is fenced out once continued: its successor applied everything once',
    { timeout: PROCESS_TEST_TIMEOUT_MS },
    async () => {
      startRoles(1);
      const api = await roles.start('api');
      const first = await roles.start('worker');
      const second = await roles.start('worker');
      const customerId = await createCustomer(api);
      const price = await call(api.url, 'POST', '/v1/usage_prices', {
        name: 'calls',
        event_name: `calls_${randomUUID().slice(0, 8)}`,
        item_id: 'item',
        unit_amount: '0.5',
      });
      expect(price.status, price.text).toBe(201);
      await increment(api, customerId, 1_000_000);
      await idleQueue(api);
      const holder = (await holderPid()) === second.pid ? second : first;
      const other = holder === first ? second : first;

      // Both stopped while the queue is idle: the usage piles up, and `holder` takes it all at once.
      roles.signal(other, 'SIGSTOP');
      roles.signal(holder, 'SIGSTOP');
      const eventsSent = 20 * 500;
      const timestamp = new Date(Date.now() - 60_000).toISOString();
      for (let call_ = 0; call_ < 20; call_ += 1) {
        const events = Array.from({ length: 500 }, () => ({
          idempotency_key: randomUUID(),
          event_name: price.body.event_name,
          timestamp,
          customer_id: customerId,
          properties: {},
        }));
        const answer = await call(api.url, 'POST', '/v1/ingest', { events });
        expect(answer.status, answer.text).toBe(200);
      }
      const requests: string[] = [];
      for (let index = 0; index < 5; index += 1) {
        const answer = await call(
          api.url,
          'POST',
          `/v1/customers/${customerId}/credits/ledger_entry`,
          { entry_type: 'decrement', amount: 1 },
          { prefer: 'respond-async' },
        );
        expect(answer.status, answer.text).toBe(202);
        requests.push(answer.body.id);
      }

      roles.signal(holder, 'SIGCONT');
      // Stop it inside its usage transaction: an open transaction of this database's.
      await eventually(
        async () => {
          const [row] = await query<{ open: number }>(
            `select count(*)::int as open from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid() and xact_start is not null
              and (state = 'idle in transaction' or query ilike '%partition_fences%')`,
          );
          return (row?.open ?? 0) > 0 ? true : undefined;
        },
        20_000,
        'the worker to be inside its usage transaction',
      );
      const stoppedAt = Date.now();
      roles.signal(holder, 'SIGSTOP');
      roles.signal(other, 'SIGCONT');

      await eventually(
        async () => ((await holderPid()) === other.pid ? true : undefined),
        20_000,
        'the other worker to take the partition over',
      );
      const takenOverAfterMs = Date.now() - stoppedAt;
      console.log(
        `after SIGSTOP mid-transaction, the other worker committed its first transaction ${takenOverAfterMs} ms later`,
      );
      await eventually(
        async () => {
          const [row] = await query<{ committed: number }>(
            `select count(*)::int as committed from requests where id = any($1) and status = 'committed'`,
            [requests],
          );
          return row?.committed === requests.length ? true : undefined;
        },
        30_000,
        'the successor to apply everything',
      );

      roles.signal(holder, 'SIGCONT');
      await eventually(
        async () =>
          holder.lines.some((line) => String(line.msg).startsWith('fenced out')) ? true : undefined,
        20_000,
        'the continued worker to log that it was fenced out',
      );
      // Give the continued worker time to do anything it still would, then check nothing changed twice.
      await sleep(2_000);
      const [events] = await query<{ applied: number; credits: string }>(
        `select count(*)::int as applied, sum(credits)::text as credits from events where customer_id = $1 and status = 'applied'`,
        [customerId],
      );
      expect(events?.applied).toBe(eventsSent);
      const [usage] = await query<{ amount: string }>(
        `select (-sum(amount))::numeric(38,1)::text as amount from ledger_entries where customer_id = $1 and entry_type = 'decrement' and request_id is null`,
        [customerId],
      );
      expect(usage?.amount).toBe((eventsSent * 0.5).toFixed(1));
      await expectAppliedOnceInOrder(new Map([[customerId, requests]]));
      expect(takenOverAfterMs).toBeLessThanOrEqual(TAKEOVER_BOUND_MS + NOISY_MACHINE_SLACK_MS);
    },
  );
});
