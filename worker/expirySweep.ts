/**
 * Finds the ledgers with blocks whose expiry has passed while they still hold credit, and
 * enqueues a catch-up job for each onto its customer's partition (ARCHITECTURE.md "Time":
 * scheduled writes are serialized with everything else). Customers with traffic are caught up by
 * their next command anyway; this is for the idle ones.
 */
import type { Clock } from './clock.ts';
import { partitionOf } from './partition.ts';
import type { PartitionQueues } from './queues.ts';
import type { Orm } from './store/orm.ts';

/** Bounded work per sweep; the next sweep continues where the backlog stands. */
const LEDGERS_PER_SWEEP_MAX = 10_000;

export interface SweepDeps {
  orm: Orm;
  queues: PartitionQueues;
  clock: Clock;
  partitions: number;
}

export interface EnqueuedCatchUp {
  partition: number;
  jobId: string;
}

export async function sweepDueExpiries(deps: SweepDeps): Promise<EnqueuedCatchUp[]> {
  const now = deps.clock.now();
  const due = await deps.orm.em.fork().execute<{ customer_id: string; currency: string }[]>(
    `select distinct customer_id, currency from credit_blocks
      where expiry_date <= ? and balance > 0 and voided_at is null
      limit ?`,
    [now, LEDGERS_PER_SWEEP_MAX],
  );
  const enqueued: EnqueuedCatchUp[] = [];
  for (const { customer_id: customerId, currency } of due) {
    const partition = partitionOf(customerId, deps.partitions);
    // One job per ledger and instant: a sweep repeated before the job ran adds nothing.
    const jobId = `catchup-${customerId}-${Buffer.from(currency).toString('base64url')}-${now.getTime()}`;
    await deps.queues.add(partition, 'ledger.catchUp', { customerId, currency }, jobId);
    enqueued.push({ partition, jobId });
  }
  return enqueued;
}

/** Waits until the given jobs have finished (used by the test clock, which answers after them). */
export async function waitForJobs(queues: PartitionQueues, jobs: EnqueuedCatchUp[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (const { partition, jobId } of jobs) {
    for (;;) {
      const state = await queues.queue(partition).getJobState(jobId);
      if (state === 'completed' || state === 'failed' || state === 'unknown') break;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  return true;
}
