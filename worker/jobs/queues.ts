/**
 * The job catalog (trigger.dev style): each job name maps to a zod payload schema and its options,
 * and both producers and processors are typed from it. Payloads are `unknown` on arrival and
 * parsed again: they may have been written by older code (graphile-worker's advice).
 *
 * Jobs run with `attempts: 1`: a BullMQ retry would put the job at the back of its partition and
 * reorder a customer's writes. Transient failures are retried inside the processor instead.
 */
import type { JobsOptions, Queue } from 'bullmq';
import { z } from 'zod';
import { partitionQueueName } from './partition.ts';
import type { QueueStore } from './queueStore.ts';

/** Bounded history in Redis: outcomes live in Postgres, Redis keeps only enough to debug. */
const COMPLETED_JOBS_KEPT = 1_000;
/** What the usage jobs of older versions carried at most: one partition's share of a window. */
export const USAGE_EVENTS_PER_JOB_MAX = 1_000;
/** A usage job names the customers of one partition that one coalescing window accepted events for. */
export const USAGE_CUSTOMERS_PER_JOB_MAX = 10_000;
const FAILED_JOBS_KEPT = 10_000;

const partitionJobOptions = {
  attempts: 1,
  removeOnComplete: { count: COMPLETED_JOBS_KEPT },
  removeOnFail: { count: FAILED_JOBS_KEPT },
} satisfies JobsOptions;

export const jobCatalog = {
  /**
   * Apply one accepted request of any kind (its kind and payload live in `requests`; the name
   * predates the kinds). `httpRequestId` is the id of the HTTP request that made it (Fastify's
   * `reqId`), so that the job's log lines can be found from the request's; jobs enqueued by older
   * code or by sweeps have none.
   */
  'ledger.apply': {
    payload: z.object({
      requestId: z.string().min(1),
      customerId: z.string().min(1),
      httpRequestId: z.string().optional(),
    }),
    options: partitionJobOptions,
  },
  /**
   * Apply the usage events accepted for customers of one partition. The events are in Postgres
   * (status `accepted`, worker/store/acceptedEvents.ts); the job only rings: apply the accepted
   * events of `customer_ids` whose place in line (`accepted_seq`, decimal text) is at most
   * `through_seq`, so that usage never overtakes a write of the partition queued after it.
   *
   * Older versions carried the events themselves (`events` with properties as exact JSON text,
   * and `accepted_at`); such jobs still queued after an upgrade are applied as they promised.
   */
  'usage.apply': {
    payload: z.union([
      z.object({
        customer_ids: z.array(z.string().min(1)).min(1).max(USAGE_CUSTOMERS_PER_JOB_MAX),
        through_seq: z.string().regex(/^\d{1,19}$/),
      }),
      z.object({
        events: z
          .array(
            z.object({
              idempotency_key: z.string().min(1),
              customer_id: z.string().min(1),
              external_customer_id: z.string().nullable(),
              event_name: z.string().min(1),
              timestamp: z.iso.datetime({ offset: true }),
              properties_json: z.string(),
            }),
          )
          .min(1)
          .max(USAGE_EVENTS_PER_JOB_MAX),
        accepted_at: z.iso.datetime({ offset: true }),
      }),
    ]),
    options: partitionJobOptions,
  },
  /** Commit the pending usage entries of one customer whose days have closed. */
  'usage.closeDays': {
    payload: z.object({ customerId: z.string().min(1) }),
    options: partitionJobOptions,
  },
  /**
   * Queued by versions before the one request model (an event deprecation, with no request row):
   * recorded as a request on arrival and applied like one (worker/processors/legacyRequests.ts).
   */
  'usage.deprecate': {
    payload: z.object({ eventId: z.string().min(1), customerId: z.string().min(1) }),
    options: partitionJobOptions,
  },
  /** As 'usage.deprecate', for an invoice's mark_paid or void queued by an older version. */
  'invoice.change': {
    payload: z.object({
      invoiceId: z.string().min(1),
      customerId: z.string().min(1),
      action: z.discriminatedUnion('type', [
        z.object({
          type: z.literal('mark_paid'),
          payment_received_date: z.iso.date(),
          external_id: z.string().nullable(),
          notes: z.string().nullable(),
        }),
        z.object({ type: z.literal('void') }),
      ]),
    }),
    options: partitionJobOptions,
  },
  /** Write the credit_block_expiry entries that have come due on one ledger. */
  'ledger.catchUp': {
    payload: z.object({ customerId: z.string().min(1), currency: z.string().min(1) }),
    options: partitionJobOptions,
  },
  /** 'ledger.apply' under the name older versions gave balance requests; same payload, same shell. */
  'balance.apply': {
    payload: z.object({
      requestId: z.string().min(1),
      customerId: z.string().min(1),
      httpRequestId: z.string().optional(),
    }),
    options: partitionJobOptions,
  },
} as const;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]['payload']>;

/** One BullMQ queue per partition, each limited to one active job across all workers. */
export class PartitionQueues {
  readonly queues: Queue[];

  private constructor(queues: Queue[]) {
    this.queues = queues;
  }

  static async open(
    store: QueueStore,
    partitions: number,
    prefix: string,
  ): Promise<PartitionQueues> {
    const queues = Array.from({ length: partitions }, (_, partition) => {
      const queue = store.queue(partitionQueueName(partition), prefix);
      queue.on('error', () => {
        // Connection errors surface through readiness and the requests that meet them.
      });
      return queue;
    });
    await Promise.all(queues.map((queue) => queue.setGlobalConcurrency(1)));
    return new PartitionQueues(queues);
  }

  /**
   * Sets the one-active-job limit again on every queue that no longer has it, and answers those
   * partitions. The limit lives in each queue's `meta` key, written at start only: a Redis that
   * lost keys (a failover to a lagging replica, a restart without its AOF) would let two workers
   * run one partition at once. The partition fence keeps that from applying anything twice or
   * out of order, but the two would take the partition from each other at every job.
   */
  async restoreGlobalConcurrency(): Promise<number[]> {
    const limits = await Promise.all(this.queues.map((queue) => queue.getGlobalConcurrency()));
    const lost = limits.flatMap((limit, partition) => (limit === 1 ? [] : [partition]));
    await Promise.all(lost.map((partition) => this.queue(partition).setGlobalConcurrency(1)));
    return lost;
  }

  queue(partition: number): Queue {
    const queue = this.queues[partition];
    if (!queue) throw new RangeError(`no partition ${partition}`);
    return queue;
  }

  async add<N extends JobName>(
    partition: number,
    name: N,
    payload: JobPayload<N>,
    jobId?: string,
  ): Promise<void> {
    await this.queue(partition).add(name, payload, {
      ...jobCatalog[name].options,
      ...(jobId && { jobId }),
    });
  }

  /** Several jobs for one partition in one round trip, in order. */
  async addBulk<N extends JobName>(
    partition: number,
    name: N,
    payloads: JobPayload<N>[],
  ): Promise<void> {
    await this.queue(partition).addBulk(
      payloads.map((data) => ({ name, data, opts: jobCatalog[name].options })),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((queue) => queue.close()));
  }
}
