/**
 * Rings each partition's worker for the usage events accepted in Postgres (ARCHITECTURE.md step
 * 5): the events of many concurrent ingest requests for one partition become one `usage.apply`
 * job, naming their customers and the last place in line they took (`through_seq`). The job
 * carries no event: losing it loses nothing (a later job of the partition, or the stranded sweep,
 * applies the events), but the answer waits for it so that a write the client sends after the
 * answer is queued behind the usage it already saw acknowledged. A window is flushed when it
 * names too many customers or when its first ring has waited FLUSH_AFTER_MS.
 *
 * When Redis cannot take the job within ENQUEUE_TIMEOUT_MS the caller gets a 503 with
 * Retry-After: the events stay accepted in Postgres, and a retry with the same idempotency keys
 * finds them there and rings again (it never counts an event twice).
 */
import type { PartitionQueues } from '../../worker/jobs/queues.ts';
import { USAGE_CUSTOMERS_PER_JOB_MAX } from '../../worker/jobs/queues.ts';
import type { DeferredEnqueues } from './deferredEnqueues.ts';
import { enqueueWithin, isQueueUnavailable, queueUnavailable } from './queueUnavailable.ts';

/**
 * Long enough that a busy partition gets few jobs (each costs a transaction and its queue round
 * trips whatever it applies), short because every ingest answer waits for its window. The old
 * 50 ms was sized for jobs that carried the events. One `npm run bench:ingest` run each (64
 * clients, batches of 100, 200 customers) on the shared 2-core machine, load average 6-9: 9,618
 * events/s applied at 20 ms, 4,394 at 50 ms; the machine's noise is large, but not in 50's favour.
 */
const FLUSH_AFTER_MS = 20;

interface Ring {
  customerIds: Set<string>;
  throughSeq: bigint;
  waiters: { resolve: () => void; reject: (error: unknown) => void }[];
  timer: NodeJS.Timeout;
}

export class UsageCoalescer {
  private readonly queues: PartitionQueues;
  private readonly rings = new Map<number, Ring>();
  private readonly flushing = new Set<Promise<void>>();
  private readonly deferred: DeferredEnqueues | undefined;

  /** `deferred`: a partition with ledger writes waiting for the queue takes no usage until they are in. */
  constructor(queues: PartitionQueues, deferred?: DeferredEnqueues) {
    this.queues = queues;
    this.deferred = deferred;
  }

  /**
   * Throws the 503 `ring` would for any of these partitions, known before anything is written:
   * one with ledger writes still waiting in this process for Redis.
   */
  assertRingable(partitions: Iterable<number>): void {
    for (const partition of partitions)
      if (this.deferred?.has(partition))
        throw queueUnavailable(
          'writes accepted before these events are still waiting for it, and usage applies after them.',
        );
  }

  /**
   * Resolves once a job that applies the accepted events of `customerIds` up to `throughSeq` is
   * in Redis; throws a 503 `ApiError` when Redis cannot take it now.
   */
  async ring(partition: number, customerIds: Iterable<string>, throughSeq: string): Promise<void> {
    this.assertRingable([partition]);
    const ring = this.ringFor(partition);
    for (const customerId of customerIds) ring.customerIds.add(customerId);
    const seq = BigInt(throughSeq);
    if (seq > ring.throughSeq) ring.throughSeq = seq;
    const rung = new Promise<void>((resolve, reject) => ring.waiters.push({ resolve, reject }));
    if (ring.customerIds.size >= USAGE_CUSTOMERS_PER_JOB_MAX) this.flush(partition);
    try {
      await enqueueWithin(rung, 'enqueueing usage events');
    } catch (error) {
      if (isQueueUnavailable(error))
        throw queueUnavailable(
          'these events are recorded but may not be applied soon: send them again with the same idempotency keys.',
        );
      throw error;
    }
  }

  private ringFor(partition: number): Ring {
    const existing = this.rings.get(partition);
    if (existing) return existing;
    const ring: Ring = {
      customerIds: new Set(),
      throughSeq: 0n,
      waiters: [],
      timer: setTimeout(() => this.flush(partition), FLUSH_AFTER_MS),
    };
    this.rings.set(partition, ring);
    return ring;
  }

  private flush(partition: number): void {
    const ring = this.rings.get(partition);
    if (!ring) return;
    this.rings.delete(partition);
    clearTimeout(ring.timer);
    const added = this.queues
      .add(partition, 'usage.apply', {
        customer_ids: [...ring.customerIds],
        through_seq: ring.throughSeq.toString(),
      })
      .then(
        () => ring.waiters.forEach((waiter) => waiter.resolve()),
        (error: unknown) => ring.waiters.forEach((waiter) => waiter.reject(error)),
      );
    this.flushing.add(added);
    void added.finally(() => this.flushing.delete(added));
  }

  /** Flushes what is waiting and waits for it: nothing accepted is left unrung at shutdown. */
  async close(): Promise<void> {
    for (const partition of [...this.rings.keys()]) this.flush(partition);
    await Promise.allSettled([...this.flushing]);
  }
}
