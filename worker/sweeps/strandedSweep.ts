/**
 * Re-enqueues accepted requests whose job Redis no longer has (ARCHITECTURE.md "Time": requests
 * stranded by a Redis loss). The Postgres row is the durable acceptance; a request still `queued`
 * a while after it was accepted, with no job in its partition queue, is put back under its own id
 * as job id, so a job that does exist is never doubled. Applying it is idempotent anyway.
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
