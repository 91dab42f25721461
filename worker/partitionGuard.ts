/**
 * Changing PARTITIONS moves customers between queues; with jobs still waiting, a customer's old
 * and new writes could run at once and out of order. So the partition count is recorded in Redis
 * and a different count is refused until the old queues are drained (ARCHITECTURE.md).
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { partitionQueueName } from './partition.ts';

const partitionCountKey = (prefix: string) => `${prefix}:ledger:partitions`;

/** The partition count the service last started with under this prefix, if any (for tools). */
export async function recordedPartitionCount(redis: Redis, prefix: string): Promise<number | undefined> {
  return Number(await redis.get(partitionCountKey(prefix))) || undefined;
}

export async function guardPartitionCount(redis: Redis, prefix: string, partitions: number): Promise<void> {
  const key = partitionCountKey(prefix);
  const recorded = Number(await redis.get(key));
  if (recorded && recorded !== partitions) {
    for (let partition = 0; partition < recorded; partition += 1) {
      const queue = new Queue(partitionQueueName(partition), { connection: redis, prefix });
      const backlog = await queue.getJobCountByTypes('wait', 'active', 'delayed', 'prioritized');
      await queue.close();
      if (backlog > 0) {
        throw new Error(
          `PARTITIONS is ${partitions} but the queues were made for ${recorded} and partition ${partition} ` +
            `still holds ${backlog} job(s). Start with PARTITIONS=${recorded} until the queues drain, then change it.`,
        );
      }
    }
  }
  await redis.set(key, String(partitions));
}
