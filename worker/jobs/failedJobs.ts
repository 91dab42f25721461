/**
 * Dead letters. A job that failed permanently stays in its partition's failed set (bounded by
 * `removeOnFail`, worker/jobs/queues.ts) with its reason. `listFailedJobs` reads them across
 * partitions, newest first, by a keyset (failed_at, partition, id) that stays correct while other
 * jobs fail or are re-driven. `redriveFailedJob` puts one back: a new job with the same name and
 * data on the same partition, then the failed copy is removed. Adding before removing means that a
 * crash between the two leaves a duplicate, never a loss; every processor is idempotent, so the
 * duplicate is harmless.
 *
 * What a redrive means for order. A re-driven job goes to the back of its partition: it is
 * applied NOW, after everything accepted before the redrive, and so after any later work of its
 * customer that was applied meanwhile (a decrement then draws from the blocks as they are now,
 * not as they were when it was accepted). A billing operator should decide that knowingly, so a
 * redrive is refused (`later_work_applied`, with the count) when its customers have committed
 * work accepted after the failed job; `force` re-applies it now anyway. A job with no later work
 * takes its original place in effect (nothing of its customers happened since), and jobs that
 * only catch up state (closing days, expiries) have no customer order to keep.
 */
import type { Job, Queue } from 'bullmq';
import type { FailedJobKey, QueueStore } from './queueStore.ts';
import { jobCatalog, type JobName, type PartitionQueues } from './queues.ts';
import { acceptedRequest, laterCommittedWork } from '../store/laterWork.ts';
import type { Orm } from '../store/orm.ts';

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
async function partitionKeys(
  store: QueueStore,
  queue: Queue,
  partition: number,
  limit: number,
  after: FailedJobKey | undefined,
): Promise<FailedJobKey[]> {
  const keys = await store.failedJobKeys(queue, partition, after?.failedAtMs, limit + 1);
  return keys.filter((candidate) => !after || compareKeys(candidate, after) > 0);
}

export async function listFailedJobs(
  store: QueueStore,
  queues: PartitionQueues,
  options: { partitions: readonly number[]; limit: number; after: FailedJobKey | undefined },
): Promise<FailedJobPage> {
  const perPartition = await Promise.all(
    options.partitions.map((partition) =>
      partitionKeys(store, queues.queue(partition), partition, options.limit, options.after),
    ),
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

/** What re-driving means, said where failed jobs are shown (the dashboard, GET /v1/failed_jobs). */
export const REDRIVE_NOTICE =
  'Failed jobs are dead letters. Re-driving one (npm run redrive) applies it NOW, after everything accepted before the redrive: ' +
  'if work of its customer accepted after it has been applied since, redrive refuses unless --force. ' +
  "Retrying from this page skips that check and applies the job after the customer's later work.";

export type RedriveResult =
  | {
      status: 'redriven';
      partition: number;
      jobId: string;
      name: string;
      newJobId: string;
      laterWorkApplied: number;
      forced: boolean;
    }
  | {
      status: 'later_work_applied';
      partition: number;
      jobId: string;
      name: string;
      customerIds: string[];
      laterWorkApplied: number;
    }
  | { status: 'not_failed' | 'unknown_job_name'; partition: number; jobId: string };

export interface RedriveOptions {
  /** The ledger's database, where later work is looked up. */
  orm: Orm;
  /** Re-apply now even when later work of the job's customers has been applied since. */
  force?: boolean;
}

/** Jobs that catch state up to the clock: applying them late is what they are for. */
const CATCH_UP_JOBS: ReadonlySet<JobName> = new Set(['usage.closeDays', 'ledger.catchUp']);

/** The customers a job writes for: one, or for a usage batch, each of its events' customers. */
function jobCustomers(data: unknown): string[] {
  const record = (data ?? {}) as { customerId?: unknown; events?: unknown };
  if (typeof record.customerId === 'string') return [record.customerId];
  if (!Array.isArray(record.events)) return [];
  const ids = record.events
    .map((event) => (event as { customer_id?: unknown } | null)?.customer_id)
    .filter((id): id is string => typeof id === 'string');
  return [...new Set(ids)];
}

/**
 * When the job's work was accepted, on the service's clock (the request's or the batch's own
 * time, falling back to the enqueue time); undefined when its work is done or moot already.
 */
async function acceptedAt(orm: Orm, name: JobName, job: Job): Promise<Date | undefined> {
  const data = (job.data ?? {}) as { requestId?: unknown; accepted_at?: unknown };
  if ((name === 'ledger.apply' || name === 'balance.apply') && typeof data.requestId === 'string') {
    const request = await acceptedRequest(orm.em.fork(), data.requestId);
    // Applied or refused already: re-running it only returns the stored outcome.
    return request?.status === 'queued' ? request.createdAt : undefined;
  }
  if (typeof data.accepted_at === 'string' && Number.isFinite(Date.parse(data.accepted_at)))
    return new Date(data.accepted_at);
  return new Date(job.timestamp);
}

export async function redriveFailedJob(
  queues: PartitionQueues,
  partition: number,
  jobId: string,
  options: RedriveOptions,
): Promise<RedriveResult> {
  const queue = queues.queue(partition);
  const job = await queue.getJob(jobId);
  if (!job || (await queue.getJobState(jobId)) !== 'failed')
    return { status: 'not_failed', partition, jobId };
  if (!Object.hasOwn(jobCatalog, job.name)) return { status: 'unknown_job_name', partition, jobId };
  const name = job.name as JobName;
  let laterWorkApplied = 0;
  if (!CATCH_UP_JOBS.has(name)) {
    const customerIds = jobCustomers(job.data);
    const since = await acceptedAt(options.orm, name, job);
    laterWorkApplied = since
      ? await laterCommittedWork(options.orm.em.fork(), customerIds, since)
      : 0;
    if (laterWorkApplied > 0 && !options.force)
      return {
        status: 'later_work_applied',
        partition,
        jobId,
        name,
        customerIds,
        laterWorkApplied,
      };
  }
  const added = await queue.add(name, job.data, jobCatalog[name].options);
  await queue.remove(jobId);
  return {
    status: 'redriven',
    partition,
    jobId,
    name,
    newJobId: added.id ?? '',
    laterWorkApplied,
    forced: laterWorkApplied > 0,
  };
}
