/**
 * Scheduled work, as BullMQ job schedulers on one maintenance queue: every process with the worker
 * role registers the same schedulers (BullMQ keeps one per id) and runs a worker for the queue, so
 * exactly one sweep runs per interval whatever the number of processes.
 *
 * The schedule itself lives in Redis, which may lose it (a failover to a lagging replica, a restart
 * without AOF): the scheduler's hash, or only its next delayed job. Nothing would then sweep again
 * until a process restarted, and a quiet customer's stranded request would wait forever. So every
 * process looks at the schedule once per interval and re-creates it when its next run is gone.
 */
import type { Queue, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { QueueStore } from '../jobs/queueStore.ts';
import { runSweeps, type SweepDeps } from './runSweeps.ts';

const MAINTENANCE_QUEUE = '{maintenance}';
const SCHEDULER_ID = 'sweeps';
/** Expiries are applied within a minute of their instant (LEDGER_RULES.md §4); sweep twice as often. */
export const SWEEP_EVERY_MS_DEFAULT = 30_000;
/**
 * The states of a scheduled run that will still produce the next one: waiting for its time or
 * its turn, or running (BullMQ adds the next run as the worker takes this one). A run that
 * finished with the scheduler still pointing at it means the next one was never added (that
 * step failed, e.g. on a Redis blip), and `unknown` means Redis lost it.
 */
const SCHEDULE_ALIVE = new Set(['delayed', 'waiting', 'prioritized', 'active', 'waiting-children']);

type SchedulerDeps = SweepDeps & {
  queueStore: QueueStore;
  queuePrefix: string;
  logger: Logger;
  /** SWEEP_EVERY_MS: the sweep interval, and how often the schedule is checked. */
  sweepEveryMs?: number;
};

/**
 * Creates the schedule, or re-creates it. Safe to call while it exists, from any number of
 * processes at once (BullMQ 6.7.0, addJobScheduler-11.lua, one atomic script): a pending next run
 * is replaced by one at the same instant; a running one is left alone and the next slot added,
 * which the running job's own "add the next run" step then sees as not its own and skips. So a
 * call never yields two runs for one interval; with no schedule at all, the first run is now.
 */
async function upsertSchedule(queue: Queue, everyMs: number): Promise<void> {
  await queue.upsertJobScheduler(
    SCHEDULER_ID,
    { every: everyMs },
    {
      name: 'maintenance.sweep',
      opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
    },
  );
}

/** The state of the run the schedule says is next, or `missing` when there is no schedule. */
async function nextRunState(queue: Queue): Promise<string> {
  const scheduler = await queue.getJobScheduler(SCHEDULER_ID);
  if (!scheduler || scheduler.next === undefined || scheduler.next === null) return 'missing';
  // BullMQ names a scheduler's run after the scheduler and its instant (getSchedulerNextJobId).
  return queue.getJobState(`repeat:${SCHEDULER_ID}:${scheduler.next}`);
}

export class Scheduler {
  private readonly queue: Queue;
  private readonly worker: Worker;
  private readonly everyMs: number;
  private readonly logger: Logger;
  private readonly absorbConnectionError: (error: Error) => boolean;
  private checkTimer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  /** Errors while closing are the connections ending (see PartitionWorkers), not news. */
  private closing = false;

  private constructor(queue: Queue, worker: Worker, deps: SchedulerDeps, everyMs: number) {
    this.queue = queue;
    this.worker = worker;
    this.everyMs = everyMs;
    this.logger = deps.logger;
    this.absorbConnectionError = (error) => deps.queueStore.absorbConnectionError(error);
  }

  static async start(deps: SchedulerDeps): Promise<Scheduler> {
    const everyMs = deps.sweepEveryMs ?? SWEEP_EVERY_MS_DEFAULT;
    const queue = deps.queueStore.queue(MAINTENANCE_QUEUE, deps.queuePrefix);
    let scheduler: Scheduler | undefined;
    const logError = (message: string) => (error: Error) => {
      if (!scheduler?.closing && !deps.queueStore.absorbConnectionError(error))
        deps.logger.error({ err: error }, message);
    };
    queue.on('error', logError('maintenance queue error'));
    await upsertSchedule(queue, everyMs);
    const worker = deps.queueStore.worker(
      MAINTENANCE_QUEUE,
      deps.queuePrefix,
      async () => {
        const restored = await deps.queues.restoreGlobalConcurrency();
        if (restored.length > 0)
          deps.logger.warn(
            { partitions: restored },
            'partition queues had lost their one-job limit (keys lost?); set it again',
          );
        return { enqueued: (await runSweeps(deps)).length };
      },
      {
        concurrency: 1,
      },
    );
    worker.on('error', logError('maintenance worker error'));
    worker.on('failed', (_job, error) =>
      deps.logger.error({ err: error }, 'scheduled sweep failed'),
    );
    scheduler = new Scheduler(queue, worker, deps, everyMs);
    scheduler.scheduleCheck();
    return scheduler;
  }

  /** One look per interval: two reads when the schedule is whole, which is almost always. */
  private scheduleCheck(): void {
    if (this.closing) return;
    this.checkTimer = setTimeout(() => {
      this.checking = this.checkSchedule().finally(() => {
        this.checking = undefined;
        this.scheduleCheck();
      });
    }, this.everyMs);
  }

  private async checkSchedule(): Promise<void> {
    try {
      const state = await nextRunState(this.queue);
      if (SCHEDULE_ALIVE.has(state) || this.closing) return;
      await upsertSchedule(this.queue, this.everyMs);
      this.logger.warn(
        { scheduler: SCHEDULER_ID, nextRun: state },
        'sweep schedule had no next run in the queue store (keys lost?); re-created it',
      );
    } catch (error) {
      // Redis away: the store logs that once; the next look tries again.
      if (!this.closing && !this.absorbConnectionError(error as Error))
        this.logger.error({ err: error }, 'checking the sweep schedule failed');
    }
  }

  /** `force`: Redis is unreachable, so do not wait for the current sweep (see PartitionWorkers.close). */
  async close(options: { force?: boolean } = {}): Promise<void> {
    this.closing = true;
    clearTimeout(this.checkTimer);
    // A look in flight ends before the queue closes under it (it gives up at once if forced).
    if (!options.force) await this.checking;
    await this.worker.close(options.force ?? false);
    await this.queue.close();
  }
}
