/**
 * `npm run redrive -- --job <id> [--partition N] [--force]` or `npm run redrive -- --all-failed [--partition N] [--force]`:
 * puts failed jobs (dead letters, `GET /v1/failed_jobs`) back on their partition, with the same
 * name and data under a new job id, and removes the failed copies (worker/jobs/failedJobs.ts). Safe to
 * repeat: every processor is idempotent. A job id names one job per partition, so an id found
 * failed on several partitions needs `--partition`.
 *
 * A re-driven job is applied now, after everything accepted before it was re-driven. When work of
 * its customer accepted after the failed job has been applied meanwhile, that would reorder the
 * customer's ledger, so the job is left failed (`later_work_applied`) unless `--force` says to
 * re-apply it now anyway (worker/jobs/failedJobs.ts says why).
 *
 * Reads QUEUE_STORE, REDIS_URL, DATABASE_URL and QUEUE_PREFIX like the service (and PARTITIONS
 * when the service has not recorded its count); prints one JSON line per job and exits 1 when
 * any chosen job was not re-driven.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../worker/runtime/config.ts';
import {
  failedJobIds,
  redriveFailedJob,
  type RedriveOptions,
  type RedriveResult,
} from '../worker/jobs/failedJobs.ts';
import { openQueueStore } from '../worker/jobs/openQueueStore.ts';
import { PartitionQueues } from '../worker/jobs/queues.ts';
import { openOrm } from '../worker/store/orm.ts';

export type RedriveSelection =
  { jobId: string; partition?: number } | { allFailed: true; partition?: number };

const USAGE =
  'usage: npm run redrive -- --job <id> [--partition N] [--force] | --all-failed [--partition N] [--force]';

function partitionsOf(queues: PartitionQueues, partition: number | undefined): number[] {
  if (partition === undefined) return queues.queues.map((_, index) => index);
  queues.queue(partition);
  return [partition];
}

/**
 * Re-drives the selected failed jobs. With `allFailed`, the ids are read first, so that a job
 * that fails again while this runs is not re-driven a second time.
 */
export async function redrive(
  queues: PartitionQueues,
  selection: RedriveSelection,
  options: RedriveOptions,
): Promise<RedriveResult[]> {
  const partitions = partitionsOf(queues, selection.partition);
  if ('allFailed' in selection) {
    const results: RedriveResult[] = [];
    for (const partition of partitions) {
      for (const jobId of await failedJobIds(queues.queue(partition))) {
        results.push(await redriveFailedJob(queues, partition, jobId, options));
      }
    }
    return results;
  }
  const states = await Promise.all(
    partitions.map((partition) => queues.queue(partition).getJobState(selection.jobId)),
  );
  const failedOn = partitions.filter((_, index) => states[index] === 'failed');
  if (failedOn.length > 1) {
    throw new Error(
      `job ${selection.jobId} failed on partitions ${failedOn.join(', ')}; choose one with --partition.`,
    );
  }
  const [partition] = failedOn;
  if (partition === undefined)
    return [{ status: 'not_failed', partition: selection.partition ?? -1, jobId: selection.jobId }];
  return [await redriveFailedJob(queues, partition, selection.jobId, options)];
}

function selectionFromArgs(args: string[]): RedriveSelection & { force: boolean } {
  const { values } = parseArgs({
    args,
    options: {
      job: { type: 'string' },
      partition: { type: 'string' },
      'all-failed': { type: 'boolean' },
      force: { type: 'boolean' },
    },
    strict: true,
  });
  const force = values.force ?? false;
  const partition = values.partition === undefined ? undefined : Number(values.partition);
  if (partition !== undefined && !Number.isInteger(partition))
    throw new Error(`--partition must be an integer\n${USAGE}`);
  if (values['all-failed'] && values.job === undefined)
    return { allFailed: true, partition, force };
  if (values.job !== undefined && !values['all-failed'])
    return { jobId: values.job, partition, force };
  throw new Error(USAGE);
}

async function main(): Promise<void> {
  const selection = selectionFromArgs(process.argv.slice(2));
  const config = loadConfig();
  const store = await openQueueStore(config);
  // The queues the service made, whatever PARTITIONS this shell has.
  const partitions = (await store.readPartitionCount(config.queuePrefix)) ?? config.partitions;
  const queues = await PartitionQueues.open(store, partitions, config.queuePrefix);
  const orm = await openOrm(config.databaseUrl, { migrate: false, poolSize: 2 });
  try {
    const results = await redrive(queues, selection, { orm, force: selection.force });
    for (const result of results) console.log(JSON.stringify(result));
    const redriven = results.filter((result) => result.status === 'redriven').length;
    console.error(`${redriven} of ${results.length} job(s) re-driven`);
    const refused = results.filter((result) => result.status === 'later_work_applied').length;
    if (refused > 0) {
      console.error(
        `${refused} job(s) left failed: work of their customers accepted after them has been applied since, so re-driving\n` +
          `  would apply them after it (out of order). Check those customers' ledgers; --force re-applies them now anyway.`,
      );
    }
    if (redriven < results.length) process.exitCode = 1;
  } finally {
    await queues.close();
    await store.close();
    await orm.close();
  }
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
