/**
 * Finds the ledgers whose alerts wait for a block to become effective (`alerts.recheck_at`, see
 * Migration20261203090000_alertRecheck) and enqueues a catch-up for each onto its customer's
 * partition, like the expiry sweep: the catch-up evaluates the alerts against the balance now and
 * sets the next recheck. A customer with traffic is evaluated by its next write anyway.
 */
import { ledgersWithAlertRechecksDue } from '../store/dueWork.ts';
import { enqueueCatchUps } from './expirySweep.ts';
import type { EnqueuedJob, SweepDeps } from './runSweeps.ts';

/** Bounded work per sweep; the next sweep continues where the backlog stands. */
const LEDGERS_PER_SWEEP_MAX = 10_000;

export async function sweepAlertRechecks(deps: SweepDeps): Promise<EnqueuedJob[]> {
  const now = deps.clock.now();
  const due = await ledgersWithAlertRechecksDue(deps.orm.em.fork(), now, LEDGERS_PER_SWEEP_MAX);
  return enqueueCatchUps(deps, due, now);
}
