/**
 * The jobs a running job takes with it (worker/jobs/ledgerFollowers.ts, worker/jobs/usageFollowers.ts):
 * the run of its own kind directly behind it, in queue order, stopping at the first job of
 * another kind, within the bound. Grouping is an optimisation: when the queue cannot be read (a
 * Redis blip), the job runs alone; failing it would strand its request or lose its events.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followingLedgerJobs } from '../../../worker/jobs/ledgerFollowers.ts';
import { deleteQueueKeys } from '../../../worker/jobs/queueKeys.ts';
import { followingUsageJobs } from '../../../worker/jobs/usageFollowers.ts';
import { REDIS_URL } from '../../support/testService.ts';

const prefix = `test-followers-${randomBytes(4).toString('hex')}`;
let redis: Redis;
beforeAll(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await deleteQueueKeys(REDIS_URL, prefix);
  redis.disconnect();
});

describe('followers', () => {
  it('takes the request jobs behind (either name), in queue order, up to the first job of another name and the bound', async () => {
    const queue = new Queue('p0', { connection: redis, prefix });
    for (const [name, id] of [
      ['ledger.apply', 'a'],
      ['ledger.apply', 'b'],
      ['ledger.apply', 'c'],
      ['balance.apply', 'd'],
      ['ledger.apply', 'e'],
      ['usage.closeDays', 'f'],
      ['ledger.apply', 'g'],
    ] as const)
      await queue.add(name, { requestId: id, customerId: 'x' });
    expect((await followingLedgerJobs(queue)).map((job) => job.data.requestId)).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
    ]);
    // The bound counts the running job: 3 in all means 2 followers.
    expect((await followingLedgerJobs(queue, 3)).map((job) => job.data.requestId)).toEqual([
      'a',
      'b',
    ]);
    await queue.close();
  });

  it('an unreadable queue gives no followers instead of failing the job', async () => {
    const lost = new Redis(REDIS_URL, { maxRetriesPerRequest: null, enableOfflineQueue: false });
    const queue = new Queue('p1', { connection: lost, prefix });
    await queue.waitUntilReady();
    lost.disconnect();
    await expect(followingLedgerJobs(queue)).resolves.toEqual([]);
    await expect(followingUsageJobs(queue, 5_000, 0)).resolves.toEqual([]);
  });
});
