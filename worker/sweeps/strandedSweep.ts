/**
 * Re-enqueues accepted requests whose job Redis no longer has (ARCHITECTURE.md "Time": requests
 * stranded by a Redis loss). The Postgres row is the durable acceptance; a request still `queued`
 * a while after it was accepted, with no job in its partition queue, is put back under its own id
 * as job id, so a job that does exist is never doubled. Applying it is idempotent anyway.
 *
 * Order does not depend on this sweep: a group applies every earlier-accepted request of its
 * customers still `queued` before its own (worker/store/functions/group_lock_and_load.sql), so a
 * stranded request is applied by its customer's next request, in its place. The sweep matters
 * only for a customer that went quiet. Its delay (STRANDED_AFTER_MS, default 10 s) is therefore
 * a cost, not a safety, setting: a request re-enqueued too early (its job not yet added: the api
 * commits the request, then enqueues; or the api's clock, which dates `created_at`, behind this
 * one's) gets a second job under the same job id, which BullMQ drops while the first exists, and
 * which otherwise finds the request decided and answers its stored outcome. Too short only costs
 * a job-state look-up per request that is merely waiting in a backlog longer than the delay.
 * Added to the sweep interval, it bounds how long a quiet customer's stranded request waits.
 *
 * Usage events accepted a while ago and still not applied get a ring (a `usage.apply` job naming
 * their customers) on their partition. Any later usage job of those customers applies them too,
 * so only a partition that went quiet after losing its jobs needs this; the job id names the last
 * event rung for, so a sweep that finds the same events again (the ring still in line) adds none.
 */
import { partitionOf } from '../jobs/partition.ts';
import { USAGE_CUSTOMERS_PER_JOB_MAX } from '../jobs/queues.ts';
import { strandedEventCustomers } from '../store/acceptedEvents.ts';
import { requestsQueuedSince } from '../store/dueWork.ts';
import type { EnqueuedJob, SweepDeps } from './runSweeps.ts';

/**
 * Longer than the api's commit-to-enqueue window (milliseconds) and the usual clock skew between
 * machines; younger requests may simply be on their way to the queue.
 */
export const STRANDED_AFTER_MS_DEFAULT = 10_000;
const REQUESTS_PER_SWEEP_MAX = 1_000;

export async function sweepStrandedRequests(deps: SweepDeps): Promise<EnqueuedJob[]> {
  const strandedAfterMs = deps.strandedAfterMs ?? STRANDED_AFTER_MS_DEFAULT;
  const acceptedBefore = new Date(deps.clock.now().getTime() - strandedAfterMs);
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
  return [...enqueued, ...(await ringStrandedEvents(deps, acceptedBefore))];
}

async function ringStrandedEvents(deps: SweepDeps, acceptedBefore: Date): Promise<EnqueuedJob[]> {
  const stranded = await strandedEventCustomers(
    deps.orm.em.fork(),
    acceptedBefore,
    USAGE_CUSTOMERS_PER_JOB_MAX,
  );
  const byPartition = new Map<number, { customerIds: string[]; throughSeq: bigint }>();
  for (const { customerId, acceptedSeqMax } of stranded) {
    const partition = partitionOf(customerId, deps.partitions);
    const ring = byPartition.get(partition) ?? { customerIds: [], throughSeq: 0n };
    byPartition.set(partition, ring);
    ring.customerIds.push(customerId);
    if (BigInt(acceptedSeqMax) > ring.throughSeq) ring.throughSeq = BigInt(acceptedSeqMax);
  }
  const enqueued: EnqueuedJob[] = [];
  for (const [partition, { customerIds, throughSeq }] of byPartition) {
    const jobId = `usage-stranded-${throughSeq}`;
    await deps.queues.add(
      partition,
      'usage.apply',
      { customer_ids: customerIds, through_seq: throughSeq.toString() },
      jobId,
    );
    enqueued.push({ partition, jobId });
  }
  return enqueued;
}
