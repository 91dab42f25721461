/**
 * The scheduled sweeps (ARCHITECTURE.md "Time"): due expiries, closed usage days, and requests
 * stranded by a Redis loss. Each finds work that has come due and enqueues a job per customer
 * onto its partition, so scheduled writes are serialized with everything else. Then retention
 * deletes old Idempotency-Keys and finished requests (no ledger write, so no job). The scheduler
 * runs them every interval; the test clock runs them after moving time.
 */
import type { Clock } from '../runtime/clock.ts';
import { sweepClosedDays } from './dayCloseSweep.ts';
import { sweepDueExpiries } from './expirySweep.ts';
import { sweepAlertRechecks } from './alertRecheckSweep.ts';
import { sweepStrandedRequests } from './strandedSweep.ts';
import type { PartitionQueues } from '../jobs/queues.ts';
import { sweepRetention, type Retention } from './retentionSweep.ts';
import type { Orm } from '../store/orm.ts';

export interface SweepDeps {
  orm: Orm;
  queues: PartitionQueues;
  clock: Clock;
  partitions: number;
  /** IDEMPOTENCY_KEY_RETENTION and REQUEST_RETENTION. */
  retention: Retention;
  /** STRANDED_AFTER_MS (strandedSweep.ts); its default when not given. */
  strandedAfterMs?: number;
}

export interface EnqueuedJob {
  partition: number;
  jobId: string;
}

export async function runSweeps(deps: SweepDeps): Promise<EnqueuedJob[]> {
  const jobs = [
    ...(await sweepDueExpiries(deps)),
    ...(await sweepAlertRechecks(deps)),
    ...(await sweepClosedDays(deps)),
    ...(await sweepStrandedRequests(deps)),
  ];
  // Last: the ledger's due work is enqueued before a long first run of deletes.
  await sweepRetention(deps);
  return jobs;
}

/** Waits until the given jobs have finished (the test clock answers after them). */
export async function waitForJobs(
  queues: PartitionQueues,
  jobs: EnqueuedJob[],
  timeoutMs: number,
): Promise<boolean> {
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
