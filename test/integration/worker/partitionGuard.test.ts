/**
 * The partition count (worker/jobs/partitionGuard.ts): recorded in Postgres by the first process
 * to start under a queue prefix; a process with another PARTITIONS refuses to start, whatever the
 * queues hold (an empty queue no longer lets it re-lay them); a running process stops within a
 * second or two of the count changing under it (`npm run partitions`). And the change itself is
 * safe with jobs waiting on the old layout: a customer's next request applies the ones left on a
 * partition nobody listens to any more, first; a quiet customer's are put back by the sweep.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type Service } from '../../../scripts/service.ts';
import { loadConfig } from '../../../worker/runtime/config.ts';
import { partitionOf, partitionQueueName } from '../../../worker/jobs/partition.ts';
import {
  guardPartitionCount,
  PartitionCountMismatchError,
} from '../../../worker/jobs/partitionGuard.ts';
import { RedisQueueStore } from '../../../worker/jobs/queueStore.ts';
import { openRedis } from '../../../worker/jobs/redis.ts';
import { deleteQueueKeys } from '../../../worker/jobs/queueKeys.ts';
import {
  changeRecordedPartitions,
  recordedPartitions,
} from '../../../worker/store/partitionLayouts.ts';
import { sweepStrandedRequests } from '../../../worker/sweeps/strandedSweep.ts';
import { cloneTemplateDatabase } from '../../support/databases.ts';
import { startIntakeOnly } from '../../support/intakeOnly.ts';
import { describeRequires, meets, REDIS_SERVER } from '../../support/requiresBinary.ts';
import {
  REDIS_URL,
  startTestService,
  TEST_API_KEY,
  type TestService,
} from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  eventually,
  expectLedgerConsistent,
  ledgerEntryPath,
  sql,
} from '../ledgerTestHelpers.ts';

/** The watch reads every second; closing takes a moment more. */
const STOPS_WITHIN_MS = 5_000;
const silent = pino({ level: 'silent' });

let redis: Redis;
let store: RedisQueueStore;
let t: TestService;
const prefixes: string[] = [];

function newPrefix(): string {
  const prefix = `test-guard-${randomBytes(5).toString('hex')}`;
  prefixes.push(prefix);
  return prefix;
}

beforeAll(async () => {
  if (!meets([REDIS_SERVER])) return;
  redis = await openRedis(REDIS_URL);
  store = new RedisQueueStore(redis, REDIS_URL);
  // Its database holds the records of the guard's own tests; its service is the first of them.
  t = await startTestService({ PARTITIONS: '4' });
});
afterAll(async () => {
  if (!meets([REDIS_SERVER])) return;
  await t?.stop();
  redis.disconnect();
  for (const prefix of prefixes) await deleteQueueKeys(REDIS_URL, prefix);
});

const recorded = (prefix: string) => recordedPartitions(t.service.orm.em.fork(), prefix);
const redisKey = (prefix: string) => redis.get(`${prefix}:ledger:partitions`);

function serviceConfig(env: Record<string, string>) {
  return loadConfig({
    DATABASE_URL: t.databaseUrl,
    REDIS_URL,
    PORT: '0',
    WORKER_PORT: '0',
    API_KEYS: TEST_API_KEY,
    QUEUE_STORE: 'redis',
    LOG_LEVEL: 'silent',
    ...env,
  });
}

describeRequires([REDIS_SERVER], 'guardPartitionCount', () => {
  it('records the count in Postgres on first start (and as the Redis key redrive reads), and starts again with it', async () => {
    const prefix = newPrefix();
    await guardPartitionCount(t.service.orm, store, prefix, 4);
    expect(await recorded(prefix)).toBe(4);
    expect(await redisKey(prefix)).toBe('4');
    await expect(guardPartitionCount(t.service.orm, store, prefix, 4)).resolves.toBeUndefined();
    expect(await recorded(prefix)).toBe(4);
  });

  it('refuses another PARTITIONS, even with every queue empty, until the count is changed', async () => {
    const prefix = newPrefix();
    await guardPartitionCount(t.service.orm, store, prefix, 4);
    const refused = guardPartitionCount(t.service.orm, store, prefix, 8);
    await expect(refused).rejects.toBeInstanceOf(PartitionCountMismatchError);
    await expect(refused).rejects.toThrow(
      /PARTITIONS is 8 but the service runs 4 partitions .*npm run partitions -- 8/s,
    );
    expect(await recorded(prefix)).toBe(4);

    expect(await changeRecordedPartitions(t.service.orm.em.fork(), prefix, 8)).toBe(4);
    await expect(guardPartitionCount(t.service.orm, store, prefix, 8)).resolves.toBeUndefined();
    expect(await redisKey(prefix)).toBe('8');
    await expect(guardPartitionCount(t.service.orm, store, prefix, 4)).rejects.toThrow(
      /PARTITIONS is 4 but the service runs 8/,
    );
  });

  it('adopts the count a prefix recorded in Redis before it moved to Postgres', async () => {
    const prefix = newPrefix();
    await redis.set(`${prefix}:ledger:partitions`, '6');
    await expect(guardPartitionCount(t.service.orm, store, prefix, 4)).rejects.toThrow(
      /PARTITIONS is 4 but the service runs 6/,
    );
    expect(await recorded(prefix)).toBe(6);
    await expect(guardPartitionCount(t.service.orm, store, prefix, 6)).resolves.toBeUndefined();
  });
});

describeRequires([REDIS_SERVER], 'startService and a changed count', () => {
  it('refuses to start with another PARTITIONS, and leaves no connection open', async () => {
    const database = await cloneTemplateDatabase();
    const prefix = newPrefix();
    const admin = new pg.Client({
      connectionString: database.url.replace(/\/[^/]+$/, '/postgres'),
    });
    const direct = new pg.Client({ connectionString: database.url });
    await direct.connect();
    await direct.query(
      `insert into partition_layouts (queue_prefix, partitions, changed_at) values ($1, 4, now())`,
      [prefix],
    );
    await direct.end();
    try {
      const config = loadConfig({
        DATABASE_URL: database.url,
        REDIS_URL,
        PORT: '0',
        API_KEYS: 'k',
        PARTITIONS: '6',
        QUEUE_PREFIX: prefix,
        LOG_LEVEL: 'silent',
      });
      await expect(startService(config, { logger: silent })).rejects.toThrow(/PARTITIONS is 6/);
      // A refused start must release what it opened (the database pool, the Redis client).
      await admin.connect();
      const open = await admin.query<{ count: string }>(
        'select count(*)::text as count from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
        [database.name],
      );
      expect(
        Number(open.rows[0]?.count),
        'connections left open to the database by the refused start',
      ).toBe(0);
    } finally {
      await admin.end();
      await database.drop();
    }
  });

  it('stops every running process, api and worker, within a few seconds of the count changing', async () => {
    const prefix = newPrefix();
    const told: { role: string; recorded: number; atMs: number }[] = [];
    const started: Service[] = [];
    for (const role of ['api', 'worker'] as const)
      started.push(
        await startService(serviceConfig({ PARTITIONS: '3', QUEUE_PREFIX: prefix, ROLE: role }), {
          logger: silent,
          onPartitionCountChanged: (count) =>
            told.push({ role, recorded: count, atMs: performance.now() }),
        }),
      );
    // Told nothing while the count stands.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(told).toEqual([]);
    try {
      const changedAtMs = performance.now();
      await changeRecordedPartitions(t.service.orm.em.fork(), prefix, 5);
      await eventually(async () => (told.length === 2 ? true : undefined), STOPS_WITHIN_MS);
      expect(told.map(({ role, recorded: count }) => [role, count]).sort()).toEqual([
        ['api', 5],
        ['worker', 5],
      ]);
      for (const each of told) expect(each.atMs - changedAtMs).toBeLessThan(STOPS_WITHIN_MS);
    } finally {
      for (const service of started) await service.close();
    }
  });
});

/** A customer whose partition under 4 is 2 or 3: one that PARTITIONS=2 no longer has. */
async function customerOnAVanishingPartition(): Promise<string> {
  for (;;) {
    const customer = await createCustomer(t);
    if (partitionOf(customer.id, 4) >= 2) return customer.id;
  }
}

async function withQueue<T>(
  prefix: string,
  partition: number,
  use: (queue: Queue) => Promise<T>,
): Promise<T> {
  const queue = new Queue(partitionQueueName(partition), { connection: redis, prefix });
  try {
    return await use(queue);
  } finally {
    await queue.close();
  }
}

describeRequires([REDIS_SERVER], 'changing PARTITIONS from 4 to 2 with jobs waiting', () => {
  it('loses nothing and keeps each customer in acceptance order', async () => {
    const busy = await customerOnAVanishingPartition();
    const quiet = await customerOnAVanishingPartition();
    for (const customerId of [busy, quiet])
      await addEntry(t, customerId, { entry_type: 'increment', amount: 100 });
    // Accepted on the old layout; their jobs end up on partitions 2 and 3, which nobody will
    // work once the count is 2 (a stale api's enqueues, or jobs that were waiting there).
    const intake = await startIntakeOnly(t, silent);
    const decrement = (description: string) => ({
      entry_type: 'decrement',
      amount: 7,
      description,
    });
    const first = await intake.recordOnly('POST', ledgerEntryPath(busy), decrement('first'));
    const second = await intake.recordOnly('POST', ledgerEntryPath(busy), decrement('second'));
    const lone = await intake.recordOnly('POST', ledgerEntryPath(quiet), decrement('lone'));

    await changeRecordedPartitions(t.service.orm.em.fork(), t.queuePrefix, 2);
    // The running service (PARTITIONS=4) closes itself; so does the intake.
    await eventually(
      async () => (t.service.workers?.isRunning() === false ? true : undefined),
      STOPS_WITHIN_MS,
      'the old-layout service to stop',
    );
    await expect(
      startService(serviceConfig({ PARTITIONS: '4', QUEUE_PREFIX: t.queuePrefix }), {
        logger: silent,
      }),
    ).rejects.toThrow(/PARTITIONS is 4 but the service runs 2/);
    for (const [requestId, customerId] of [
      [first, busy],
      [second, busy],
      [lone, quiet],
    ] as const)
      await withQueue(t.queuePrefix, partitionOf(customerId, 4), (queue) =>
        queue.add('ledger.apply', { requestId, customerId }, { jobId: requestId }),
      );

    const next = await startService(
      serviceConfig({ PARTITIONS: '2', QUEUE_PREFIX: t.queuePrefix }),
      { logger: silent },
    );
    // The first service closed itself with its database pool: read through the new one.
    const now: TestService = { ...t, service: next };
    try {
      // The busy customer's next request applies the two left behind first, then itself.
      const answer = await fetch(`${next.url}${ledgerEntryPath(busy)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(decrement('third')),
      });
      const entry = (await answer.json()) as { ending_balance: number };
      expect(answer.status).toBe(201);
      expect(Number(entry.ending_balance)).toBe(79);
      const order = await sql<{ description: string; ending_balance: string }>(
        now,
        `select q.payload->>'description' as description, e.ending_balance::text as ending_balance
           from ledger_entries e join requests q on q.id = e.request_id
          where e.customer_id = ? and q.payload->>'description' is not null order by e.ledger_sequence_number`,
        [busy],
      );
      expect(order.map((row) => [row.description, Number(row.ending_balance)])).toEqual([
        ['first', 93],
        ['second', 86],
        ['third', 79],
      ]);

      // The quiet customer's is put back on its new partition by the stranded sweep.
      const swept = await sweepStrandedRequests({
        orm: next.orm,
        queues: next.queues,
        clock: { now: () => new Date(next.clock.now().getTime() + 11_000) },
        partitions: 2,
        retention: {
          idempotencyKeys: next.config.idempotencyKeyRetention,
          requests: next.config.requestRetention,
        },
      });
      expect(swept).toContainEqual({ partition: partitionOf(quiet, 2), jobId: lone });
      await eventually(async () => {
        const [row] = await sql<{ status: string }>(
          now,
          'select status from requests where id = ?',
          [lone],
        );
        return row?.status === 'committed' ? true : undefined;
      });
      expect(await expectLedgerConsistent(now, busy)).toBe('79');
      expect(await expectLedgerConsistent(now, quiet)).toBe('93');
    } finally {
      await next.close();
      await intake.close();
    }
  });
});
