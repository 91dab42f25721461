/**
 * The service's Prometheus metrics, served as text at `GET /metrics` (no auth: bind it to a
 * private network or scrape through one). Every service gets its own registry, so that several in
 * one process (tests) never share counts. What is measured, and where:
 *
 * - queue depth per partition (waiting, active, delayed, failed) and the age of the oldest waiting
 *   job, read from Redis when scraped: one `getJobCounts` and one oldest-job lookup per partition;
 * - job run time by job name, and what usage and ledger jobs did, from the worker's
 *   `onJobFinished` hook (worker/main.ts), which knows nothing of Prometheus;
 * - usage events accepted and rejected at intake (api/routes/ingest.ts) and writes refused by
 *   backpressure;
 * - HTTP latency by route, from an `onResponse` hook;
 * - takeover: the worker processes seen alive (their heartbeats) and, per partition, the time since
 *   it last made progress: 0 while its queue is empty, else the time since its last applying
 *   transaction (partition_fences.progressed_at) or since this process last saw it empty, whichever
 *   is shorter. A partition whose worker died or hangs shows it climbing, read from Postgres when
 *   scraped;
 * - webhooks: attempts by outcome and the lag from an event's write to its receiver's 2xx, from
 *   the delivery loop's observer (worker/delivery/deliveryLoop.ts); pending and failed deliveries
 *   and the age of the oldest pending event, read from Postgres when scraped;
 * - Node's default process metrics (`collectDefaultMetrics`).
 *
 * Names follow Prometheus' conventions: a `credits_` prefix, base units in the name (`_seconds`),
 * `_total` on counters.
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LedgerOutcome } from '../worker/jobs/requestOutcome.ts';
import type { PartitionQueues } from '../worker/jobs/queues.ts';
import { withTimeout } from './withTimeout.ts';
import type { QueueStore } from '../worker/jobs/queueStore.ts';
import type { Orm } from '../worker/store/orm.ts';
import { partitionProgressAges } from '../worker/store/partitionFences.ts';
import { liveWorkers, WORKER_SEEN_WITHIN_MS } from '../worker/store/workerHeartbeats.ts';
import { deliveryBacklog } from '../worker/store/webhookDeliveries.ts';

/** A scrape answers even when Redis hangs; a partition not read in time is left out of it. */
const QUEUE_READ_TIMEOUT_MS = 1_000;
/** From a cached read (sub-millisecond) to a write that waited the whole SYNC_WAIT_MS and more. */
const HTTP_SECONDS_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
/** A ledger job is milliseconds; a usage job of thousands of events up to seconds. */
const JOB_SECONDS_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;
/** The bound is 1 s from commit to the receiver's 200; retries take minutes to hours. */
const WEBHOOK_LAG_SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30, 300, 3600];

export type EventOutcome =
  'accepted' | 'rejected' | 'duplicate' | 'applied' | 'unpriced' | 'invalid';
export type ThrottledIntake = 'ledger_entry' | 'ingest';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function count(result: Record<string, unknown>, key: string): number {
  const value = result[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly queues: PartitionQueues;
  private readonly store: QueueStore;
  private readonly queueJobs: Gauge<'partition' | 'state'>;
  private readonly oldestWaitingAge: Gauge<'partition'>;
  private readonly queueReadFailures: Counter;
  private readonly jobDuration: Histogram<'job_name'>;
  private readonly jobErrors: Counter<'job_name'>;
  private readonly events: Counter<'outcome'>;
  private readonly entriesWritten: Counter<'entry_type' | 'entry_status'>;
  private readonly ledgerRequests: Counter<'outcome'>;
  private readonly throttled: Counter<'intake'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  private readonly lastProgress: Gauge<'partition'>;
  private readonly workersLive: Gauge;
  private readonly webhookAttempts: Counter<'outcome'>;
  private readonly webhookLag: Histogram;
  private readonly webhookDeliveries: Gauge<'status'>;
  private readonly webhookOldestPending: Gauge;
  private readonly orm: Orm;
  /** When this process last saw each partition with nothing waiting and nothing running (Date.now()). */
  private readonly seenIdleAtMs = new Map<number, number>();

  constructor(queues: PartitionQueues, store: QueueStore, orm: Orm) {
    this.queues = queues;
    this.store = store;
    this.orm = orm;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.queueJobs = new Gauge({
      name: 'credits_queue_jobs',
      help: 'Jobs in a partition queue by state (waiting, active, delayed, failed), read when scraped.',
      labelNames: ['partition', 'state'],
      registers,
    });
    this.oldestWaitingAge = new Gauge({
      name: 'credits_queue_oldest_waiting_age_seconds',
      help: 'Age of the oldest waiting job of a partition (0 when none waits), read when scraped.',
      labelNames: ['partition'],
      registers,
    });
    this.queueReadFailures = new Counter({
      name: 'credits_queue_read_failures_total',
      help: 'Partitions whose queue state could not be read for a scrape (Redis down or slow).',
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'credits_job_duration_seconds',
      help: 'Run time of partition jobs by job name, from the processor call to its result.',
      labelNames: ['job_name'],
      buckets: JOB_SECONDS_BUCKETS,
      registers,
    });
    this.jobErrors = new Counter({
      name: 'credits_job_errors_total',
      help: 'Partition jobs whose processor threw (failed outside the recorded outcomes).',
      labelNames: ['job_name'],
      registers,
    });
    this.events = new Counter({
      name: 'credits_usage_events_total',
      help: 'Usage events by outcome: accepted, duplicate or rejected at intake; applied, unpriced or invalid (quantity) by the worker.',
      labelNames: ['outcome'],
      registers,
    });
    this.entriesWritten = new Counter({
      name: 'credits_ledger_entries_written_total',
      help: "Ledger entries written, by entry type and status, as reported by the jobs' results.",
      labelNames: ['entry_type', 'entry_status'],
      registers,
    });
    this.ledgerRequests = new Counter({
      name: 'credits_ledger_requests_total',
      help: 'Requests (every kind) finished by the worker: committed, or the kind of error they were refused with.',
      labelNames: ['outcome'],
      registers,
    });
    this.throttled = new Counter({
      name: 'credits_intake_throttled_total',
      help: 'Writes answered 429 because their partition backlog had reached BACKLOG_MAX.',
      labelNames: ['intake'],
      registers,
    });
    this.lastProgress = new Gauge({
      name: 'credits_partition_last_progress_seconds',
      help: 'Seconds since a partition last made progress: 0 while its queue is empty, else since its last applying transaction or since it was last seen empty. Climbing: its worker is dead, paused or stuck.',
      labelNames: ['partition'],
      registers,
    });
    this.workersLive = new Gauge({
      name: 'credits_workers_live',
      help: `Worker processes whose heartbeat was seen in the last ${WORKER_SEEN_WITHIN_MS / 1000} s.`,
      registers,
    });
    this.webhookAttempts = new Counter({
      name: 'credits_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome: delivered (sent), retrying, failed (retry window over).',
      labelNames: ['outcome'],
      registers,
    });
    this.webhookLag = new Histogram({
      name: 'credits_webhook_delivery_lag_seconds',
      help: "Seconds from a webhook event's write (its transaction's commit) to its receiver's 2xx.",
      buckets: WEBHOOK_LAG_SECONDS_BUCKETS,
      registers,
    });
    this.webhookDeliveries = new Gauge({
      name: 'credits_webhook_deliveries',
      help: 'Webhook deliveries pending and failed, read when scraped.',
      labelNames: ['status'],
      registers,
    });
    this.webhookOldestPending = new Gauge({
      name: 'credits_webhook_oldest_pending_age_seconds',
      help: 'Age of the oldest event still waiting to be delivered (0 when none), read when scraped.',
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'credits_http_request_duration_seconds',
      help: 'HTTP request latency by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_SECONDS_BUCKETS,
      registers,
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  countEvents(outcome: EventOutcome, events: number): void {
    if (events > 0) this.events.inc({ outcome }, events);
  }

  countThrottled(intake: ThrottledIntake): void {
    this.throttled.inc({ intake });
  }

  /** The delivery loop's observer (worker/delivery/deliveryLoop.ts). */
  observeWebhookAttempt(
    outcome: 'delivered' | 'retrying' | 'failed',
    lagSeconds: number | null,
  ): void {
    this.webhookAttempts.inc({ outcome });
    if (lagSeconds !== null) this.webhookLag.observe(Math.max(0, lagSeconds));
  }

  /** Times every request by its route pattern (`/v1/customers/:id`), never its raw URL. */
  registerHttpTiming(app: FastifyInstance): void {
    // A callback hook: no promise and microtask per request for what is a synchronous count.
    // One child per method, route and status, bound once: observing through it skips hashing a
    // label object on every response. The set is finite (Node parses known methods only, routes
    // are patterns, statuses a few), so the map is too.
    const timers = new Map<string, { observe(seconds: number): void }>();
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const key = `${request.method} ${reply.statusCode} ${route}`;
      let timer = timers.get(key);
      if (!timer) {
        timer = this.httpDuration.labels({
          method: request.method,
          route,
          status_code: String(reply.statusCode),
        });
        timers.set(key, timer);
      }
      timer.observe(reply.elapsedTime / 1000);
      done();
    });
  }

  /** The worker's `onJobFinished` hook: run time, and what the job's result says it did. */
  observeJob(name: string, seconds: number, result: unknown): void {
    try {
      this.jobDuration.observe({ job_name: name }, seconds);
      if (result === undefined) {
        this.jobErrors.inc({ job_name: name });
        return;
      }
      if (!isRecord(result)) return;
      this.countWritten(result.written);
      if (name === 'usage.apply') {
        this.countEvents('applied', count(result, 'applied'));
        this.countEvents('duplicate', count(result, 'duplicates'));
        this.countEvents('unpriced', count(result, 'unpriced'));
        this.countEvents('invalid', count(result, 'invalid'));
      } else if (name === 'ledger.apply') {
        this.observeLedgerOutcome(result as unknown as LedgerOutcome);
      }
    } catch {
      // Metrics never fail a job.
    }
  }

  /** Every job result carries `written`: entries by "entry_type/entry_status" (worker/writtenCounts.ts). */
  private countWritten(written: unknown): void {
    if (!isRecord(written)) return;
    for (const [key, value] of Object.entries(written)) {
      const [entryType = 'unknown', entryStatus = 'unknown'] = key.split('/');
      if (typeof value === 'number' && value > 0)
        this.entriesWritten.inc({ entry_type: entryType, entry_status: entryStatus }, value);
    }
  }

  private observeLedgerOutcome(outcome: LedgerOutcome): void {
    if (outcome.status === 'committed') {
      this.ledgerRequests.inc({ outcome: 'committed' });
    } else if (outcome.status === 'failed') {
      this.ledgerRequests.inc({ outcome: outcome.error.kind });
    }
  }

  /** Reads the queues, then renders every metric as Prometheus text. */
  async scrape(): Promise<string> {
    const [progressAges, , ...idle] = await Promise.all([
      this.readTakeover(),
      this.readWebhookBacklog(),
      ...this.queues.queues.map((_, partition) => this.readPartition(partition)),
    ]);
    const nowMs = Date.now();
    for (const [partition, isIdle] of idle.entries()) {
      const labels = { partition: String(partition) };
      if (isIdle) {
        this.seenIdleAtMs.set(partition, nowMs);
        this.lastProgress.set(labels, 0);
        continue;
      }
      const seenIdleAtMs = this.seenIdleAtMs.get(partition);
      const known = [
        progressAges?.get(partition),
        seenIdleAtMs === undefined ? undefined : (nowMs - seenIdleAtMs) / 1000,
      ].filter((age): age is number => age !== undefined);
      // Unknown (the queue or Postgres unreadable, and never seen empty here): left out, not guessed.
      if (isIdle === false && known.length > 0) this.lastProgress.set(labels, Math.min(...known));
      else this.lastProgress.remove(labels);
    }
    return this.registry.metrics();
  }

  private async readWebhookBacklog(): Promise<void> {
    try {
      const backlog = await withTimeout(
        deliveryBacklog(this.orm.em.fork()),
        QUEUE_READ_TIMEOUT_MS,
        'reading webhook deliveries',
      );
      this.webhookDeliveries.set({ status: 'pending' }, backlog.pending);
      this.webhookDeliveries.set({ status: 'failed' }, backlog.failed);
      this.webhookOldestPending.set(backlog.oldestPendingSeconds);
    } catch {
      this.webhookDeliveries.reset();
      this.webhookOldestPending.reset();
    }
  }

  /** The live worker count; answers each partition's progress age (undefined when unreadable). */
  private async readTakeover(): Promise<Map<number, number> | undefined> {
    try {
      const em = this.orm.em.fork();
      const [ages, live] = await withTimeout(
        Promise.all([partitionProgressAges(em), liveWorkers(em, WORKER_SEEN_WITHIN_MS)]),
        QUEUE_READ_TIMEOUT_MS,
        'reading worker liveness',
      );
      this.workersLive.set(live.length);
      return ages;
    } catch {
      this.workersLive.reset();
      return undefined;
    }
  }

  /** Reads a partition's queue gauges; answers whether it is empty (undefined when unreadable). */
  private async readPartition(partition: number): Promise<boolean | undefined> {
    const queue = this.queues.queue(partition);
    const labels = { partition: String(partition) };
    try {
      const [counts, oldestAgeSeconds] = await withTimeout(
        Promise.all([queue.getJobCounts(...QUEUE_STATES), this.oldestWaitingAgeSeconds(partition)]),
        QUEUE_READ_TIMEOUT_MS,
        `reading partition ${partition}`,
      );
      for (const state of QUEUE_STATES)
        this.queueJobs.set({ ...labels, state }, counts[state] ?? 0);
      this.oldestWaitingAge.set(labels, oldestAgeSeconds);
      return (counts.waiting ?? 0) + (counts.active ?? 0) === 0;
    } catch {
      // Stale numbers would look healthy: leave the partition out of this scrape instead.
      for (const state of QUEUE_STATES) this.queueJobs.remove({ ...labels, state });
      this.oldestWaitingAge.remove(labels);
      this.queueReadFailures.inc();
      return undefined;
    }
  }

  /** BullMQ pushes new jobs at the head of the wait list, so the oldest is at its tail. */
  private async oldestWaitingAgeSeconds(partition: number): Promise<number> {
    const queue = this.queues.queue(partition);
    const [oldestId] = await queue.getRanges(['wait'], 0, 0, true);
    if (!oldestId) return 0;
    const addedAtMs = await this.store.enqueuedAtMs(queue, oldestId);
    // Job timestamps are the real time of enqueueing, so the age is measured on the real clock.
    return addedAtMs === undefined ? 0 : Math.max(0, (Date.now() - addedAtMs) / 1000);
  }
}
