/**
 * Worker-side grouping for requests (group commit, worker/processors/applyRequests.ts). A running
 * request job (`ledger.apply`, or `balance.apply` queued by an older version) also takes the run of
 * request jobs directly behind it in its queue, up to LEDGER_REQUESTS_PER_GROUP_MAX with itself,
 * stopping at the first job of another name (usage, day close) so that a customer's writes of
 * every kind stay in acceptance order. Nobody else can run
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
    if (job.name !== 'ledger.apply' && job.name !== 'balance.apply') break;
    run.push(job);
  }
  return run;
}
