/**
 * Worker-side batching for usage. Each usage job is one partition's share of an intake window;
 * under load, several wait behind the running one, and a transaction per small job would cap
 * throughput. So a usage job also takes the run of usage jobs directly behind it in its queue
 * (stopping at the first job of another kind, so a customer's writes stay in accepted order)
 * and applies them in the same transaction. Nobody else can run them meanwhile: the partition
 * runs one job at a time. They are removed after the commit; if that removal is lost, they run
 * again and every event is found already applied. An unreadable queue gives no followers.
 */
import type { Job, Queue } from 'bullmq';

/** Jobs looked at behind the running one. */
const FOLLOWERS_SCANNED_MAX = 50;

export async function followingUsageJobs(
  queue: Queue,
  eventsMax: number,
  alreadyHeld: number,
): Promise<Job[]> {
  const waiting = await waitingJobs(queue, FOLLOWERS_SCANNED_MAX);
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

/**
 * The first `count` jobs waiting in the queue, oldest first. Grouping is an optimisation: when the
 * queue cannot be read (a Redis blip), none, so that the running job goes on alone; failing it
 * would lose its events or leave its request queued behind a failed job.
 */
export async function waitingJobs(queue: Queue, count: number): Promise<Job[]> {
  if (count <= 0) return [];
  try {
    return await queue.getJobs(['wait'], 0, count - 1, true);
  } catch {
    return [];
  }
}

export async function removeFollowers(followers: Job[]): Promise<void> {
  await Promise.all(followers.map((job) => job.remove().catch(() => undefined)));
}
