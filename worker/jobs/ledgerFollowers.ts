/**
 * Worker-side grouping for ledger requests (group commit, worker/processors/applyLedgerGroup.ts).
 * A running `ledger.apply` job also takes the run of `ledger.apply` jobs directly behind it in its
 * queue, up to LEDGER_REQUESTS_PER_GROUP_MAX with itself, stopping at the first job of another
 * kind so that a customer's writes of every kind stay in acceptance order. Nobody else can run
 * them meanwhile: the partition runs one job at a time. They are removed after the commit
 * (usageFollowers.ts's removeFollowers); if that removal is lost, they run again and find their
 * requests no longer `queued`, so they answer the stored outcome. An unreadable queue (a Redis
 * blip) gives no followers: the job runs alone.
 */
import type { Job, Queue } from 'bullmq';
import { waitingJobs } from './usageFollowers.ts';

/** Requests one group applies at most, the running job's included. */
export const LEDGER_REQUESTS_PER_GROUP_MAX = 256;

export async function followingLedgerJobs(
  queue: Queue,
  requestsMax: number = LEDGER_REQUESTS_PER_GROUP_MAX,
): Promise<Job[]> {
  const waiting = await waitingJobs(queue, requestsMax - 1);
  const run: Job[] = [];
  for (const job of waiting) {
    if (job.name !== 'ledger.apply') break;
    run.push(job);
  }
  return run;
}
