/**
 * Finds the ledgers with blocks whose expiry has passed while they still hold credit, and
 * enqueues a catch-up job for each onto its customer's partition (ARCHITECTURE.md "Time":
 * scheduled writes are serialized with everything else). Customers with traffic are caught up by
 * their next command anyway; this is for the idle ones.
 */
import { partitionOf } from '../jobs/partition.ts';
import { ledgersWithDueExpiries } from '../store/dueWork.ts';
import type { EnqueuedJob, SweepDeps } from './runSweeps.ts';

/** Bounded work per sweep; the next sweep continues where the backlog stands. */
const LEDGERS_PER_SWEEP_MAX = 10_000;

export async function sweepDueExpiries(deps: SweepDeps): Promise<EnqueuedJob[]> {
  const now = deps.clock.now();
  const due = await ledgersWithDueExpiries(deps.orm.em.fork(), now, LEDGERS_PER_SWEEP_MAX);
  return enqueueCatchUps(deps, due, now);
}

/**
 * One `ledger.catchUp` job per ledger onto its customer's partition. One job per ledger and
 * instant: a sweep repeated before the job ran, or another sweep asking for the same ledger at the
 * same instant (alertRecheckSweep.ts), adds nothing.
 */
export async function enqueueCatchUps(
  deps: SweepDeps,
  ledgers: readonly { customerId: string; currency: string }[],
  now: Date,
): Promise<EnqueuedJob[]> {
  const enqueued: EnqueuedJob[] = [];
  for (const { customerId, currency } of ledgers) {
    const partition = partitionOf(customerId, deps.partitions);
    const jobId = `catchup-${customerId}-${Buffer.from(currency).toString('base64url')}-${now.getTime()}`;
    await deps.queues.add(partition, 'ledger.catchUp', { customerId, currency }, jobId);
    enqueued.push({ partition, jobId });
  }
  return enqueued;
}
