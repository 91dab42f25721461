/**
 * `guardPartitionCount`: a changed PARTITIONS is refused while any queue of the old layout still
 * holds a job (a customer's old and new writes could otherwise run at once, out of order), and
 * accepted once they drain. Runs against the real Redis under a prefix of its own.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startService } from '../../../scripts/service.ts';
import { loadConfig } from '../../../worker/runtime/config.ts';
import { partitionQueueName } from '../../../worker/jobs/partition.ts';
import { guardPartitionCount } from '../../../worker/jobs/partitionGuard.ts';
import { RedisQueueStore } from '../../../worker/jobs/queueStore.ts';
import { openRedis } from '../../../worker/jobs/redis.ts';
import { cloneTemplateDatabase } from '../../support/databases.ts';
import { deleteQueueKeys } from '../../../worker/jobs/queueKeys.ts';
import { describeRequires, meets, REDIS_SERVER } from '../../support/requiresBinary.ts';
import { REDIS_URL, startTestService } from '../../support/testService.ts';
import { eventually } from '../ledgerTestHelpers.ts';

let redis: Redis;
let store: RedisQueueStore;
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
});
afterAll(async () => {
  if (!meets([REDIS_SERVER])) return;
  redis.disconnect();
  for (const prefix of prefixes) await deleteQueueKeys(REDIS_URL, prefix);
});

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

const recorded = (prefix: string) => redis.get(`${prefix}:ledger:partitions`);

describeRequires([REDIS_SERVER], 'guardPartitionCount', () => {
  it('records the count on first start and accepts the same count again, backlog or not', async () => {
    const prefix = newPrefix();
    await guardPartitionCount(store, prefix, 4);
    expect(await recorded(prefix)).toBe('4');
    await withQueue(prefix, 1, (queue) =>
      queue.add('ledger.apply', { requestId: 'r', customerId: 'c' }),
    );
    await expect(guardPartitionCount(store, prefix, 4)).resolves.toBeUndefined();
    expect(await recorded(prefix)).toBe('4');
  });

  it('refuses a changed count while an old partition has a waiting job, then accepts it once drained', async () => {
    const prefix = newPrefix();
    await guardPartitionCount(store, prefix, 4);
    await withQueue(prefix, 3, (queue) =>
      queue.add('ledger.apply', { requestId: 'r', customerId: 'c' }),
    );

    await expect(guardPartitionCount(store, prefix, 8)).rejects.toThrow(
      /PARTITIONS is 8 .*made for 4 .*partition 3 still holds 1 job/s,
    );
    await expect(guardPartitionCount(store, prefix, 2)).rejects.toThrow(/partition 3/);
    expect(await recorded(prefix)).toBe('4');

    await withQueue(prefix, 3, (queue) => queue.drain());
    await expect(guardPartitionCount(store, prefix, 8)).resolves.toBeUndefined();
    expect(await recorded(prefix)).toBe('8');
    // The new layout is now the recorded one: going back is guarded the same way.
    await withQueue(prefix, 6, (queue) =>
      queue.add('ledger.apply', { requestId: 'r', customerId: 'c' }),
    );
    await expect(guardPartitionCount(store, prefix, 4)).rejects.toThrow(/partition 6/);
  });

  it('counts delayed and prioritized jobs as backlog too', async () => {
    const prefix = newPrefix();
    await guardPartitionCount(store, prefix, 2);
    await withQueue(prefix, 0, (queue) =>
      queue.add('ledger.apply', { requestId: 'r', customerId: 'c' }, { delay: 60_000 }),
    );
    await expect(guardPartitionCount(store, prefix, 3)).rejects.toThrow(/partition 0/);
    await withQueue(prefix, 0, (queue) => queue.obliterate({ force: true }));
    await withQueue(prefix, 1, (queue) =>
      queue.add('ledger.apply', { requestId: 'r', customerId: 'c' }, { priority: 5 }),
    );
    await expect(guardPartitionCount(store, prefix, 3)).rejects.toThrow(/partition 1/);
    await withQueue(prefix, 1, (queue) => queue.obliterate({ force: true }));
    await expect(guardPartitionCount(store, prefix, 3)).resolves.toBeUndefined();
    expect(await recorded(prefix)).toBe('3');
  });

  it('ignores completed and failed jobs, which are history, not backlog', async () => {
    const prefix = newPrefix();
    const t = await startTestService({ QUEUE_PREFIX: prefix, PARTITIONS: '2' });
    try {
      const created = await t.request('POST', '/v1/customers', {
        name: 'Guarded',
        email: 'guarded@example.com',
      });
      const entry = await t.request(
        'POST',
        `/v1/customers/${created.body.id}/credits/ledger_entry`,
        { entry_type: 'increment', amount: 1 },
      );
      expect(entry.status).toBe(201);
      await t.service.queues.queue(0).add('ledger.apply', { requestId: 42 });
      await t.service.queues.queue(1).add('ledger.apply', { requestId: 43 });
      await eventually(
        async () => {
          const counts = await Promise.all(
            [0, 1].map((partition) =>
              t.service.queues
                .queue(partition)
                .getJobCounts('completed', 'failed', 'wait', 'active'),
            ),
          );
          const finished = counts.reduce(
            (sum, count) => sum + (count.completed ?? 0) + (count.failed ?? 0),
            0,
          );
          const pending = counts.reduce(
            (sum, count) => sum + (count.wait ?? 0) + (count.active ?? 0),
            0,
          );
          return finished >= 3 && pending === 0 ? true : undefined;
        },
        10_000,
        'the jobs to finish',
      );
      await expect(guardPartitionCount(store, prefix, 5)).resolves.toBeUndefined();
      expect(await recorded(prefix)).toBe('5');
    } finally {
      await t.stop();
    }
  });
});

describeRequires([REDIS_SERVER], 'startService with a changed PARTITIONS', () => {
  it('refuses to start while the old queues hold jobs, and leaves no connection open', async () => {
    const prefix = newPrefix();
    await guardPartitionCount(store, prefix, 4);
    await withQueue(prefix, 2, (queue) =>
      queue.add('ledger.apply', { requestId: 'r', customerId: 'c' }),
    );
    const database = await cloneTemplateDatabase();
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
      await expect(startService(config, { logger: pino({ level: 'silent' }) })).rejects.toThrow(
        /PARTITIONS is 6/,
      );
      // A refused start must release what it opened (the database pool, the Redis client).
      const client = new pg.Client({
        connectionString: database.url.replace(/\/[^/]+$/, '/postgres'),
      });
      await client.connect();
      try {
        const open = await client.query<{ count: string }>(
          'select count(*)::text as count from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [database.name],
        );
        expect(
          Number(open.rows[0]?.count),
          'connections left open to the database by the refused start',
        ).toBe(0);
      } finally {
        await client.end();
      }
    } finally {
      await database.drop();
    }
  });
});
