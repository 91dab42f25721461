/**
 * The scheduled sweeps (ARCHITECTURE.md "Time"): due expiries, closed usage days, and requests
 * stranded by a Redis loss. Each finds work that has come due and enqueues a job per customer
 * onto its partition, so scheduled writes are serialized with everything else. The scheduler runs
 * them every interval; the test clock runs them after moving time.
 */
import type { Clock } from './clock.ts';
import { sweepClosedDays } from './dayCloseSweep.ts';
import { sweepDueExpiries } from './expirySweep.ts';
import { sweepStrandedRequests } from './strandedSweep.ts';
import type { PartitionQueues } from './queues.ts';
import type { Orm } from './store/orm.ts';

export interface SweepDeps {
  orm: Orm;
  queues: PartitionQueues;
  clock: Clock;
  partitions: number;
}

export interface EnqueuedJob {
  partition: number;
  jobId: string;
}

export async function runSweeps(deps: SweepDeps): Promise<EnqueuedJob[]> {
  return [
    ...(await sweepDueExpiries(deps)),
    ...(await sweepClosedDays(deps)),
    ...(await sweepStrandedRequests(deps)),
  ];
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
