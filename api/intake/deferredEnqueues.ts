/**
 * Writes accepted while the queue was unreachable. A request (of any kind) is recorded in
 * Postgres before its enqueue, so when the enqueue fails the request is still accepted (`202`,
 * status `queued`) and its job waits here, in this process, to be enqueued once Redis answers
 * again — under the request's id as job id, so a late first enqueue is never doubled.
 *
 * Order: while a partition has jobs waiting here, every later write of that partition queues
 * behind them (and ingest on it answers 503: its events are not durable), so a customer's writes
 * accepted by this process still apply in acceptance order. If this process dies first, the
 * stranded-request sweep (worker/sweeps/strandedSweep.ts) enqueues them from Postgres a minute later.
 */
import type { Logger } from 'pino';
import type { JobPayload, PartitionQueues } from '../../worker/jobs/queues.ts';
import { enqueueWithin } from './queueUnavailable.ts';

/** How often to try again while Redis is away: each try fails at once (no offline queue). */
const RETRY_EVERY_MS = 250;

interface Deferred {
  payload: JobPayload<'ledger.apply'>;
  jobId: string;
}

export class DeferredEnqueues {
  private readonly queues: PartitionQueues;
  private readonly logger: Logger | undefined;
  private readonly pending = new Map<number, Deferred[]>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(queues: PartitionQueues, logger?: Logger) {
    this.queues = queues;
    this.logger = logger;
  }

  /** True while `partition` has writes waiting here: a later write must queue behind them. */
  has(partition: number): boolean {
    return (this.pending.get(partition)?.length ?? 0) > 0;
  }

  get size(): number {
    let size = 0;
    for (const list of this.pending.values()) size += list.length;
    return size;
  }

  defer(partition: number, payload: JobPayload<'ledger.apply'>, jobId: string): void {
    const list = this.pending.get(partition) ?? [];
    this.pending.set(partition, list);
    if (list.length === 0 && this.size === 0)
      this.logger?.warn(
        { partition },
        'queue unavailable: accepted writes wait in this process until Redis is back',
      );
    list.push({ payload, jobId });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed || this.pending.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, RETRY_EVERY_MS);
    // Postgres holds every one of them: waiting here must not keep a stopping process alive.
    this.timer.unref();
  }

  /** Enqueues what waits, partition by partition in order, until the queue refuses one. */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => {
      this.flushing = undefined;
      this.schedule();
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    let enqueued = 0;
    for (const [partition, list] of this.pending) {
      while (list.length > 0) {
        const head = list[0]!;
        try {
          await enqueueWithin(
            this.queues.add(partition, 'ledger.apply', head.payload, head.jobId),
            `enqueueing ${head.jobId}`,
          );
        } catch {
          return; // still away; the next try comes from schedule()
        }
        list.shift();
        enqueued += 1;
      }
      this.pending.delete(partition);
    }
    if (enqueued > 0)
      this.logger?.info(
        { enqueued },
        'writes accepted while the queue was unavailable are enqueued',
      );
  }

  /** One last try (bounded); what is left is enqueued from Postgres by the stranded-request sweep. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size > 0) await this.flush();
    if (this.size > 0)
      this.logger?.warn(
        { left: this.size },
        'writes left unenqueued at shutdown; the stranded-request sweep enqueues them',
      );
  }
}
