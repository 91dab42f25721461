/**
 * Re-enqueues accepted requests whose job Redis no longer has (ARCHITECTURE.md "Time": requests
 * stranded by a Redis loss). The Postgres row is the durable acceptance; a request still `queued`
 * a while after it was accepted, with no job in its partition queue, is put back under its own id
 * as job id, so a job that does exist is never doubled. Applying it is idempotent anyway.
 */
import { partitionOf } from '../jobs/partition.ts';
import { requestsQueuedSince } from '../store/dueWork.ts';
import type { EnqueuedJob, SweepDeps } from './runSweeps.ts';

/** Older than any wait a healthy queue imposes; younger requests may simply be in line. */
const STRANDED_AFTER_MS = 60_000;
const REQUESTS_PER_SWEEP_MAX = 1_000;

export async function sweepStrandedRequests(deps: SweepDeps): Promise<EnqueuedJob[]> {
  const acceptedBefore = new Date(deps.clock.now().getTime() - STRANDED_AFTER_MS);
  const enqueued: EnqueuedJob[] = [];
  const queued = await requestsQueuedSince(
    deps.orm.em.fork(),
    acceptedBefore,
    REQUESTS_PER_SWEEP_MAX,
  );
  for (const { id, customerId } of queued) {
    const partition = partitionOf(customerId, deps.partitions);
    if ((await deps.queues.queue(partition).getJobState(id)) !== 'unknown') continue;
    await deps.queues.add(partition, 'ledger.apply', { requestId: id, customerId }, id);
    enqueued.push({ partition, jobId: id });
  }
  return enqueued;
}
