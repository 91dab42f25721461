/**
 * Finds customers with pending usage entries whose day has closed, and enqueues a close job for
 * each onto its partition (LEDGER_RULES.md §5), so closing is serialized with the usage it ends.
 */
import { partitionOf } from '../jobs/partition.ts';
import { customersWithClosedDays } from '../store/dueWork.ts';
import type { EnqueuedJob, SweepDeps } from './runSweeps.ts';

const CUSTOMERS_PER_SWEEP_MAX = 10_000;

export async function sweepClosedDays(deps: SweepDeps): Promise<EnqueuedJob[]> {
  const now = deps.clock.now();
  const due = await customersWithClosedDays(deps.orm.em.fork(), now, CUSTOMERS_PER_SWEEP_MAX);
  const enqueued: EnqueuedJob[] = [];
  for (const customerId of due) {
    const partition = partitionOf(customerId, deps.partitions);
    const jobId = `close-${customerId}-${now.getTime()}`;
    await deps.queues.add(partition, 'usage.closeDays', { customerId }, jobId);
    enqueued.push({ partition, jobId });
  }
  return enqueued;
}
