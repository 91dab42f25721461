/**
 * Every process agrees on the partition count, or does not run (ARCHITECTURE.md "Partitioning").
 *
 * The count is recorded in Postgres (worker/store/partitionLayouts.ts): the first process to start
 * under a queue prefix records its PARTITIONS; every later one must have the same, or it refuses
 * to start, saying what to do. A running process re-reads the record every HEARTBEAT_EVERY_MS
 * (`PartitionLayoutWatch`); once it differs from its own PARTITIONS it stops, so that no process
 * goes on enqueueing on a layout the others left, or listening to one, for more than a second.
 *
 * Changing the count is an operator's act, `npm run partitions -- N` (scripts/partitions.ts),
 * never a side effect of a process starting with another value (a typo on one machine must not
 * re-lay the queues under the others). It is safe at any time, with jobs waiting: order comes from
 * Postgres (`requests.accepted_seq`; a group applies every earlier queued request of its customers
 * first, worker/store/functions/group_lock_and_load.sql), not from the queue a job sits in, and a
 * group locks its customers, so a customer's jobs on an old and a new partition take turns, in
 * acceptance order. A job left on a partition nobody listens to any more is taken over by its
 * customer's next request, or by the stranded sweep (it re-enqueues on the new layout).
 *
 * A prefix that ran before the count moved to Postgres has it as a Redis key: that is adopted as
 * the record (the key is kept up to date too, for `npm run redrive`).
 */
import type { Logger } from 'pino';
import type { Orm } from '../store/orm.ts';
import { recordedPartitions, recordPartitionsOnce } from '../store/partitionLayouts.ts';
import { HEARTBEAT_EVERY_MS } from '../store/workerHeartbeats.ts';
import type { QueueStore } from './queueStore.ts';

export class PartitionCountMismatchError extends Error {
  readonly recorded: number;

  constructor(partitions: number, recorded: number, queuePrefix: string) {
    super(
      `PARTITIONS is ${partitions} but the service runs ${recorded} partitions (recorded in ` +
        `Postgres for queue prefix ${queuePrefix}). Start with PARTITIONS=${recorded}, or change ` +
        `the count for every process with \`npm run partitions -- ${partitions}\` (README: ` +
        `"Changing PARTITIONS").`,
    );
    this.name = 'PartitionCountMismatchError';
    this.recorded = recorded;
  }
}

/** At start: records the count if none is, and refuses (throws) a PARTITIONS that differs. */
export async function guardPartitionCount(
  orm: Orm,
  store: QueueStore,
  queuePrefix: string,
  partitions: number,
): Promise<void> {
  const em = orm.em.fork();
  let recorded = await recordedPartitions(em, queuePrefix);
  if (recorded === undefined) {
    const first = (await store.readPartitionCount(queuePrefix)) ?? partitions;
    recorded =
      (await recordPartitionsOnce(em, queuePrefix, first)) ??
      (await recordedPartitions(em, queuePrefix));
  }
  if (recorded !== partitions)
    throw new PartitionCountMismatchError(partitions, recorded ?? partitions, queuePrefix);
  await store.writePartitionCount(queuePrefix, partitions);
}

interface WatchDeps {
  orm: Orm;
  queuePrefix: string;
  /** This process's PARTITIONS. */
  partitions: number;
  logger: Logger;
  onChanged: (recorded: number) => void;
}

/**
 * Re-reads the recorded count every `everyMs` and calls `onChanged` once, with it, when it differs
 * from this process's PARTITIONS; then stops watching. A read that fails (the database away) is
 * tried again at the next tick: readiness reports the database, not this.
 */
export class PartitionLayoutWatch {
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private stopped = false;

  private readonly deps: WatchDeps & { everyMs: number };

  private constructor(deps: WatchDeps & { everyMs: number }) {
    this.deps = deps;
  }

  static start(deps: WatchDeps & { everyMs?: number }): PartitionLayoutWatch {
    const watch = new PartitionLayoutWatch({
      ...deps,
      everyMs: deps.everyMs ?? HEARTBEAT_EVERY_MS,
    });
    watch.next();
    return watch;
  }

  private next(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.reading = this.check().finally(() => this.next());
    }, this.deps.everyMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const { orm, queuePrefix, partitions, logger } = this.deps;
    let recorded: number | undefined;
    try {
      recorded = await recordedPartitions(orm.em.fork(), queuePrefix);
    } catch (error) {
      logger.debug({ err: error }, 'partition count not read; trying again');
      return;
    }
    if (this.stopped || recorded === undefined || recorded === partitions) return;
    this.stopped = true;
    logger.error(
      { partitions, recorded, queuePrefix },
      `the partition count was changed to ${recorded}; this process runs PARTITIONS=${partitions} ` +
        `and stops, so that it neither enqueues on nor listens to the old layout. Restart it with ` +
        `PARTITIONS=${recorded}.`,
    );
    this.deps.onChanged(recorded);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.reading;
  }
}
