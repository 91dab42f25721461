/**
 * Backpressure (ARCHITECTURE.md "Delivery, idempotency, failure"): once a partition holds
 * BACKLOG_MAX waiting jobs, intake refuses new writes for it with `429` and `Retry-After` instead
 * of growing Redis without limit. The check must cost next to nothing per request, so each
 * partition's waiting count is read from Redis at most once per BACKLOG_READ_PERIOD_MS and the
 * reading is shared by every request in that period. A reading that fails or times out admits
 * the write: the enqueue that follows is what reports a Redis outage (503).
 */
import type { PartitionQueues } from '../../worker/jobs/queues.ts';
import { ApiError } from '../errors.ts';
import type { ServiceMetrics, ThrottledIntake } from '../metrics.ts';
import { withTimeout } from '../withTimeout.ts';

/** How stale a waiting count may be; a burst can overshoot the bound by this much intake. */
const BACKLOG_READ_PERIOD_MS = 250;
const BACKLOG_READ_TIMEOUT_MS = 1_000;
/** Long enough for a full partition to drain a little, short against a client's patience. */
export const BACKLOG_RETRY_AFTER_SECONDS = 1;

interface Reading {
  waiting: number;
  readAtMs: number;
}

export class BacklogGate {
  private readonly queues: PartitionQueues;
  private readonly backlogMax: number;
  private readonly metrics: ServiceMetrics | undefined;
  private readonly readings = new Map<number, Reading>();
  private readonly inFlight = new Map<number, Promise<number>>();

  constructor(queues: PartitionQueues, backlogMax: number, metrics?: ServiceMetrics) {
    this.queues = queues;
    this.backlogMax = backlogMax;
    this.metrics = metrics;
  }

  /**
   * Throws a 429 `ApiError` when any of the partitions has reached BACKLOG_MAX waiting jobs: a
   * request is taken whole or not at all.
   */
  async admit(intake: ThrottledIntake, partitions: Iterable<number>): Promise<void> {
    const readings = await Promise.all(
      [...new Set(partitions)].map(async (partition) => ({
        partition,
        waiting: await this.waiting(partition),
      })),
    );
    const full = readings.find(({ waiting }) => waiting >= this.backlogMax);
    if (!full) return;
    this.metrics?.countThrottled(intake);
    throw ApiError.tooManyRequests(
      `The service is behind: partition ${full.partition} has ${full.waiting} jobs waiting (the bound is ${this.backlogMax}); nothing was written. Retry after ${BACKLOG_RETRY_AFTER_SECONDS} s.`,
      BACKLOG_RETRY_AFTER_SECONDS,
    );
  }

  private waiting(partition: number): Promise<number> {
    const cached = this.readings.get(partition);
    if (cached && performance.now() - cached.readAtMs < BACKLOG_READ_PERIOD_MS)
      return Promise.resolve(cached.waiting);
    const pending = this.inFlight.get(partition);
    if (pending) return pending;
    const read = withTimeout(
      this.queues.queue(partition).getWaitingCount(),
      BACKLOG_READ_TIMEOUT_MS,
      'reading the backlog',
    )
      .catch(() => cached?.waiting ?? 0)
      .then((waiting) => {
        this.readings.set(partition, { waiting, readAtMs: performance.now() });
        return waiting;
      })
      .finally(() => this.inFlight.delete(partition));
    this.inFlight.set(partition, read);
    return read;
  }
}
