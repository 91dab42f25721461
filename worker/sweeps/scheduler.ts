/**
 * Scheduled work, as BullMQ job schedulers on one maintenance queue: every process with the worker
 * role registers the same schedulers (BullMQ keeps one per id) and runs a worker for the queue, so
 * exactly one sweep runs per interval whatever the number of processes.
 */
import type { Queue, Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { QueueStore } from '../jobs/queueStore.ts';
import { runSweeps, type SweepDeps } from './runSweeps.ts';

const MAINTENANCE_QUEUE = '{maintenance}';
/** Expiries are applied within a minute of their instant (LEDGER_RULES.md §4); sweep twice as often. */
const SWEEP_EVERY_MS = 30_000;

export class Scheduler {
  private readonly queue: Queue;
  private readonly worker: Worker;
  /** Errors while closing are the connections ending (see PartitionWorkers), not news. */
  private closing = false;

  private constructor(queue: Queue, worker: Worker) {
    this.queue = queue;
    this.worker = worker;
  }

  static async start(
    deps: SweepDeps & { queueStore: QueueStore; queuePrefix: string; logger: Logger },
  ): Promise<Scheduler> {
    const queue = deps.queueStore.queue(MAINTENANCE_QUEUE, deps.queuePrefix);
    let scheduler: Scheduler | undefined;
    const logError = (message: string) => (error: Error) => {
      if (!scheduler?.closing && !deps.queueStore.absorbConnectionError(error))
        deps.logger.error({ err: error }, message);
    };
    queue.on('error', logError('maintenance queue error'));
    await queue.upsertJobScheduler(
      'sweeps',
      { every: SWEEP_EVERY_MS },
      {
        name: 'maintenance.sweep',
        opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
      },
    );
    const worker = deps.queueStore.worker(
      MAINTENANCE_QUEUE,
      deps.queuePrefix,
      async () => ({ enqueued: (await runSweeps(deps)).length }),
      {
        concurrency: 1,
      },
    );
    worker.on('error', logError('maintenance worker error'));
    worker.on('failed', (_job, error) =>
      deps.logger.error({ err: error }, 'scheduled sweep failed'),
    );
    scheduler = new Scheduler(queue, worker);
    return scheduler;
  }

  /** `force`: Redis is unreachable, so do not wait for the current sweep (see PartitionWorkers.close). */
  async close(options: { force?: boolean } = {}): Promise<void> {
    this.closing = true;
    await this.worker.close(options.force ?? false);
    await this.queue.close();
  }
}
