/**
 * `npm run partitions` prints the partition count the service runs with (recorded in Postgres for
 * QUEUE_PREFIX); `npm run partitions -- N` changes it to N. Every running process, api or worker,
 * reads the record every second; one whose PARTITIONS differs stops (exit 1, for its supervisor
 * to restart it) and a process refuses to start with a PARTITIONS other than the recorded one
 * (worker/jobs/partitionGuard.ts). So: set PARTITIONS=N in every process's configuration, run
 * this, and let them restart. Jobs waiting on the old layout lose nothing and keep their order:
 * acceptance order is Postgres's (`requests.accepted_seq`), whichever queue a job waits in.
 *
 * Reads DATABASE_URL and QUEUE_PREFIX like the service.
 */
import { loadConfig } from '../worker/runtime/config.ts';
import { openOrm } from '../worker/store/orm.ts';
import { changeRecordedPartitions, recordedPartitions } from '../worker/store/partitionLayouts.ts';

const USAGE = 'usage: npm run partitions [-- N]   (N from 1 to 1024)';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.length > 1) throw new Error(USAGE);
  const wanted = args[0] === undefined ? undefined : Number(args[0]);
  if (wanted !== undefined && !(Number.isInteger(wanted) && wanted >= 1 && wanted <= 1024))
    throw new Error(USAGE);
  const config = loadConfig();
  const orm = await openOrm(config.databaseUrl, { poolSize: 1 });
  try {
    const em = orm.em.fork();
    const prefix = config.queuePrefix;
    if (wanted === undefined) {
      const recorded = await recordedPartitions(em, prefix);
      console.log(
        recorded === undefined
          ? `no partition count recorded for queue prefix ${prefix}: the first process to start records its PARTITIONS`
          : `${recorded} partitions (queue prefix ${prefix})`,
      );
      return;
    }
    const before = await changeRecordedPartitions(em, prefix, wanted);
    console.log(
      before === wanted
        ? `already ${wanted} partitions (queue prefix ${prefix})`
        : `partitions: ${before ?? 'none recorded'} → ${wanted} (queue prefix ${prefix}). Processes ` +
            `running another PARTITIONS stop within a second; start them with PARTITIONS=${wanted}.`,
    );
  } finally {
    await orm.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
