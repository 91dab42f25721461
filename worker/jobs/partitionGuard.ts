/**
 * Changing PARTITIONS moves customers between queues; with jobs still waiting, a customer's old
 * and new writes could run at once and out of order. So the partition count is recorded with the queues
 * and a different count is refused until the old queues are drained (ARCHITECTURE.md).
 */
import { partitionQueueName } from './partition.ts';
import type { QueueStore } from './queueStore.ts';

export async function guardPartitionCount(
  store: QueueStore,
  prefix: string,
  partitions: number,
): Promise<void> {
  const recorded = await store.readPartitionCount(prefix);
  if (recorded && recorded !== partitions) {
    for (let partition = 0; partition < recorded; partition += 1) {
      const queue = store.queue(partitionQueueName(partition), prefix);
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
  await store.writePartitionCount(prefix, partitions);
}
