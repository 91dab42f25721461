/**
 * Worker-side batching for usage. Each usage job is one partition's share of an intake window;
 * under load, several wait behind the running one, and a transaction per small job would cap
 * throughput. So a usage job also takes the run of usage jobs directly behind it in its queue
 * (stopping at the first job of another kind, so a customer's writes stay in accepted order)
 * and applies them in the same transaction. Nobody else can run them meanwhile: the partition
 * runs one job at a time. They are removed after the commit; if that removal is lost, they run
 * again and every event is found already applied.
 */
import type { Job, Queue } from 'bullmq';

/** Jobs looked at behind the running one. */
const FOLLOWERS_SCANNED_MAX = 50;

export async function followingUsageJobs(
  queue: Queue,
  eventsMax: number,
  alreadyHeld: number,
): Promise<Job[]> {
  const waiting = await queue.getJobs(['wait'], 0, FOLLOWERS_SCANNED_MAX - 1, true);
  const run: Job[] = [];
  let held = alreadyHeld;
  for (const job of waiting) {
    if (job.name !== 'usage.apply') break;
    const count = Array.isArray(job.data?.events) ? job.data.events.length : 0;
    if (held + count > eventsMax) break;
    run.push(job);
    held += count;
  }
  return run;
}

export async function removeFollowers(followers: Job[]): Promise<void> {
  await Promise.all(followers.map((job) => job.remove().catch(() => undefined)));
}
