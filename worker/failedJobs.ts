/**
 * Dead letters. A job that failed permanently stays in its partition's failed set (bounded by
 * `removeOnFail`, worker/queues.ts) with its reason. `listFailedJobs` reads them across
 * partitions, newest first, by a keyset (failed_at, partition, id) that stays correct while other
 * jobs fail or are re-driven. `redriveFailedJob` puts one back: a new job with the same name and
 * data on the same partition, then the failed copy is removed. Adding before removing means that a
 * crash between the two leaves a duplicate, never a loss; every processor is idempotent, so the
 * duplicate is harmless.
 */
import type { Queue } from 'bullmq';
import type { FailedJobKey, QueueStore } from './queueStore.ts';
import { jobCatalog, type JobName, type PartitionQueues } from './queues.ts';

export type { FailedJobKey } from './queueStore.ts';

export interface FailedJob {
  id: string;
  partition: number;
  name: string;
  failedReason: string;
  attemptsMade: number;
  data: unknown;
  failedAt: Date;
}

export interface FailedJobPage {
  data: FailedJob[];
  /** The key of the last job listed when more follow; null on the last page. */
  next: FailedJobKey | null;
}

/** Listing order: newest first, then by partition, then by id descending (Redis's order for equal scores). */
function compareKeys(a: FailedJobKey, b: FailedJobKey): number {
  if (a.failedAtMs !== b.failedAtMs) return b.failedAtMs - a.failedAtMs;
  if (a.partition !== b.partition) return a.partition - b.partition;
  return a.id === b.id ? 0 : a.id < b.id ? 1 : -1;
}

/**
 * The first `limit + 1` keys of one partition after `after`. Every job failed at the cursor's
 * instant is read (there are few), so ties are ordered here rather than by Redis.
 */
async function partitionKeys(store: QueueStore, queue: Queue, partition: number, limit: number, after: FailedJobKey | undefined): Promise<FailedJobKey[]> {
  const keys = await store.failedJobKeys(queue, partition, after?.failedAtMs, limit + 1);
  return keys.filter((candidate) => !after || compareKeys(candidate, after) > 0);
}

export async function listFailedJobs(
  store: QueueStore,
  queues: PartitionQueues,
  options: { partitions: readonly number[]; limit: number; after: FailedJobKey | undefined },
): Promise<FailedJobPage> {
  const perPartition = await Promise.all(
    options.partitions.map((partition) => partitionKeys(store, queues.queue(partition), partition, options.limit, options.after)),
  );
  const candidates = perPartition.flat().sort(compareKeys);
  const chosen = candidates.slice(0, options.limit);
  const jobs = await Promise.all(chosen.map((key) => queues.queue(key.partition).getJob(key.id)));
  const data: FailedJob[] = [];
  jobs.forEach((job, index) => {
    const key = chosen[index];
    // A job re-driven or trimmed since its key was read is simply no longer listed.
    if (!job || !key) return;
    data.push({
      id: key.id,
      partition: key.partition,
      name: job.name,
      failedReason: job.failedReason,
      attemptsMade: job.attemptsMade,
      data: job.data,
      failedAt: new Date(job.finishedOn ?? key.failedAtMs),
    });
  });
  return { data, next: candidates.length > options.limit ? (chosen.at(-1) ?? null) : null };
}

/** The ids of every job now in one partition's failed set (at most `removeOnFail.count`). */
export async function failedJobIds(queue: Queue): Promise<string[]> {
  return queue.getRanges(['failed'], 0, -1);
}

export type RedriveResult =
  | { status: 'redriven'; partition: number; jobId: string; name: string; newJobId: string }
  | { status: 'not_failed' | 'unknown_job_name'; partition: number; jobId: string };

export async function redriveFailedJob(queues: PartitionQueues, partition: number, jobId: string): Promise<RedriveResult> {
  const queue = queues.queue(partition);
  const job = await queue.getJob(jobId);
  if (!job || (await queue.getJobState(jobId)) !== 'failed') return { status: 'not_failed', partition, jobId };
  if (!Object.hasOwn(jobCatalog, job.name)) return { status: 'unknown_job_name', partition, jobId };
  const name = job.name as JobName;
  const added = await queue.add(name, job.data, jobCatalog[name].options);
  await queue.remove(jobId);
  return { status: 'redriven', partition, jobId, name, newJobId: added.id ?? '' };
}
