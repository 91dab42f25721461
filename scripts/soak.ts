/**
 * Soak: usage at a steady rate for a long time, with a trickle of ledger writes, watching for
 * what only time shows: memory that keeps growing, a backlog that keeps growing, lag that drifts.
 *   npm run soak -- --minutes 10 --rate 2800
 *
 * The service runs as two processes, ROLE=worker and ROLE=api (scripts/benchSupport.ts), on a
 * fresh database (SOAK_DATABASE_URL, default credits_soak) and their own queue prefix. The load:
 * `--rate` events/s through `POST /v1/ingest` in batches of `--batch` (an open loop: batches are
 * sent on schedule whatever the answers' latency), over `--customers` customers; plus `--writes`
 * synchronous decrements/s and as many `Prefer: respond-async` ones. Every `--sample-seconds`
 * (default 5) it records each process's VmRSS, the queue depth (waiting + delayed jobs over all
 * partitions, from BullMQ's job counts) and the lag of the events applied since the last sample
 * (from sending to the event's `applied_at`, as scripts/bench-ingest.ts measures it).
 *
 * At the end it waits for every event and write to be applied, then prints each process's RSS
 * slope (least squares over the samples after `--warmup-seconds`, default 60) in MiB/min, the
 * maximum queue depth, p99 lag overall and per sample, and a BENCH_RESULT line. It exits 3 when
 * a slope exceeds `--rss-slope-max` (2 MiB/min), the depth was still growing at the end, p99 lag
 * reached `--lag-p99-max-ms` (1000), or some event or write was lost or refused; 1 on an error.
 * The default rate is half the maximum ingest measured on the 2-core development machine (about
 * 5,600 events/s in batches of 100, BENCHMARKS.md); `npm run bench:report -- --with-soak` passes
 * half of what it has just measured instead.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { partitionQueueName } from '../worker/jobs/partition.ts';
import {
  BENCH_API_KEY,
  parseArgs,
  percentile,
  postJson,
  printResult,
  recreateDatabase,
  rssMiB,
  startServiceProcess,
} from './benchSupport.ts';

export interface SoakOptions {
  baseUrl: string;
  apiKey: string;
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  partitions: number;
  /** The processes whose RSS is sampled, by name (e.g. api, worker). */
  processes: { name: string; pid: number }[];
  seconds: number;
  eventsPerSecond: number;
  batchSize: number;
  customers: number;
  /** Synchronous decrements per second, and as many async ones. */
  writesPerSecond: number;
  sampleSeconds: number;
  warmupSeconds: number;
  /** How long to wait after the load for the last events and writes to be applied. */
  drainSeconds: number;
  rssSlopeMaxMiBPerMinute: number;
  lagP99MaxMs: number;
  /** Jobs waiting at the end of the load below which a rising depth is not called unbounded. */
  depthGrowingFloor: number;
  log?: (line: string) => void;
}

export const SOAK_DEFAULTS = {
  eventsPerSecond: 2_800,
  batchSize: 100,
  customers: 1000,
  writesPerSecond: 5,
  sampleSeconds: 5,
  warmupSeconds: 60,
  drainSeconds: 60,
  rssSlopeMaxMiBPerMinute: 2,
  lagP99MaxMs: 1000,
  depthGrowingFloor: 1000,
} as const;

export interface SoakSample {
  t_seconds: number;
  rss_mib: Record<string, number>;
  queue_depth: number;
  events_applied: number;
  lag_p50_ms: number | null;
  lag_p99_ms: number | null;
}

export interface SoakResult {
  seconds: number;
  events_per_second: number;
  events_sent: number;
  events_applied: number;
  events_missing: number;
  ingest_refused: number;
  sync_writes: { sent: number; committed: number; other: number; p50_ms: number; p99_ms: number };
  async_writes: { sent: number; accepted: number; other: number; still_queued: number };
  rss_slope_mib_per_minute: Record<string, number>;
  rss_max_mib: Record<string, number>;
  queue_depth_max: number;
  queue_depth_end: number;
  queue_depth_growing: boolean;
  lag_p50_ms: number;
  lag_p99_ms: number;
  lag_max_ms: number;
  samples: SoakSample[];
  failures: string[];
  ok: boolean;
}

/** Lags are kept as a histogram of 1 ms buckets (the last one open-ended): exact enough, bounded memory. */
const LAG_BUCKETS = 120_000;
/** A slope over fewer samples says nothing. */
const SETTLED_SAMPLES_MIN = 3;
/** Event keys sort in sending order (fixed width), so the newly applied ones are one index range. */
const SEQUENCE_DIGITS = 10;

class LagHistogram {
  private readonly counts = new Uint32Array(LAG_BUCKETS);
  total = 0;
  max = 0;

  add(lagMs: number): void {
    const bucket = Math.min(LAG_BUCKETS - 1, Math.max(0, Math.round(lagMs)));
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.total += 1;
    this.max = Math.max(this.max, lagMs);
  }

  percentile(p: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let bucket = 0; bucket < LAG_BUCKETS; bucket += 1) {
      seen += this.counts[bucket] ?? 0;
      if (seen >= rank) return bucket;
    }
    return LAG_BUCKETS - 1;
  }
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  if (points.length < 2) return 0;
  const meanX = points.reduce((sum, point) => sum + point.x, 0) / points.length;
  const meanY = points.reduce((sum, point) => sum + point.y, 0) / points.length;
  let numerator = 0;
  let denominator = 0;
  for (const point of points) {
    numerator += (point.x - meanX) * (point.y - meanY);
    denominator += (point.x - meanX) ** 2;
  }
  return denominator === 0 ? 0 : numerator / denominator;
}

async function postOk(options: SoakOptions, path: string, body: unknown): Promise<any> {
  const { status, text } = await postJson(
    `${options.baseUrl}${path}`,
    options.apiKey,
    JSON.stringify(body),
  );
  if (status >= 300) throw new Error(`${path} answered ${status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** A usage price for the `tokens` event and customers with 1,000,000 credits each. */
async function prepare(options: SoakOptions): Promise<string[]> {
  await postOk(options, '/v1/usage_prices', {
    name: 'Soak tokens',
    event_name: 'tokens',
    item_id: 'soak',
    unit_amount: '0.001',
    quantity_property: 'tokens',
  });
  const customers: string[] = [];
  const CREATE_CONCURRENCY = 8;
  for (let start = 0; start < options.customers; start += CREATE_CONCURRENCY) {
    const created = await Promise.all(
      Array.from(
        { length: Math.min(CREATE_CONCURRENCY, options.customers - start) },
        async (_, offset) => {
          const customer = await postOk(options, '/v1/customers', {
            name: `Soak ${start + offset}`,
            email: `soak${start + offset}@example.com`,
          });
          await postOk(options, `/v1/customers/${customer.id}/credits/ledger_entry`, {
            entry_type: 'increment',
            amount: 1_000_000,
          });
          return customer.id as string;
        },
      ),
    );
    customers.push(...created);
  }
  return customers;
}

/** Sums waiting + delayed jobs over every partition queue. */
class DepthGauge {
  private readonly connection: Redis;
  private readonly queues: Queue[];

  constructor(options: SoakOptions) {
    this.connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    this.connection.on('error', () => undefined);
    this.queues = Array.from(
      { length: options.partitions },
      (_, partition) =>
        new Queue(partitionQueueName(partition), {
          connection: this.connection,
          prefix: options.queuePrefix,
        }),
    );
  }

  async depth(): Promise<number> {
    const counts = await Promise.all(
      this.queues.map((queue) => queue.getJobCounts('waiting', 'delayed')),
    );
    return counts.reduce((sum, count) => sum + (count.waiting ?? 0) + (count.delayed ?? 0), 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.map((queue) => queue.close()));
    this.connection.disconnect();
  }
}

/**
 * The events sent and not yet seen applied. Each check reads the key range from the oldest
 * outstanding key to the newest sent one through the primary key, so it costs what was applied
 * since the last check, not what the table holds.
 */
class Outstanding {
  private readonly sentAt = new Map<string, number>();
  private readonly prefix: string;
  private next = 0;
  private oldest = 0;
  sent = 0;
  applied = 0;

  constructor(runId: string) {
    this.prefix = `soak${runId}e`;
  }

  key(sequence: number): string {
    return `${this.prefix}${String(sequence).padStart(SEQUENCE_DIGITS, '0')}`;
  }

  take(count: number): string[] {
    return Array.from({ length: count }, () => this.key(this.next++));
  }

  markSent(keys: readonly string[], at: number): void {
    for (const key of keys) this.sentAt.set(key, at);
    this.sent += keys.length;
  }

  /** The keys of a refused batch never reach the database: not outstanding. */
  forget(keys: readonly string[]): void {
    for (const key of keys) this.sentAt.delete(key);
  }

  get size(): number {
    return this.sentAt.size;
  }

  /** Matches the newly applied events and returns their lags. */
  async collect(db: pg.Client): Promise<number[]> {
    while (this.oldest < this.next && !this.sentAt.has(this.key(this.oldest))) this.oldest += 1;
    if (this.oldest >= this.next) return [];
    const { rows } = await db.query<{ idempotency_key: string; applied_ms: number }>(
      `select idempotency_key, extract(epoch from applied_at) * 1000 as applied_ms
         from events where idempotency_key >= $1 and idempotency_key < $2 and applied_at is not null`,
      [this.key(this.oldest), this.key(this.next)],
    );
    const lags: number[] = [];
    for (const row of rows) {
      const sent = this.sentAt.get(row.idempotency_key);
      if (sent === undefined) continue;
      this.sentAt.delete(row.idempotency_key);
      lags.push(Number(row.applied_ms) - sent);
    }
    this.applied += lags.length;
    return lags;
  }
}

interface WriteTally {
  syncSent: number;
  syncCommitted: number;
  syncOther: number;
  syncLatencies: number[];
  asyncSent: number;
  asyncAccepted: number;
  asyncOther: number;
}

/** Sends the load until `until` (performance.now()): ingest batches and the ledger-write trickle. */
async function drive(
  options: SoakOptions,
  customers: string[],
  outstanding: Outstanding,
  tally: WriteTally,
  until: number,
): Promise<{ refused: number }> {
  const intervalMs = (1000 * options.batchSize) / options.eventsPerSecond;
  const writeIntervalMs = 1000 / Math.max(options.writesPerSecond, Number.MIN_VALUE);
  const inFlight = new Set<Promise<void>>();
  const track = (promise: Promise<void>) => {
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise));
  };
  let refused = 0;
  let eventSequence = 0;
  const started = performance.now();
  let nextWriteAt = started;
  for (let batchIndex = 0; ; batchIndex += 1) {
    const due = started + batchIndex * intervalMs;
    if (due >= until) break;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const keys = outstanding.take(options.batchSize);
    const timestamp = new Date().toISOString();
    const events = keys.map((key) => {
      eventSequence += 1;
      return {
        idempotency_key: key,
        event_name: 'tokens',
        timestamp,
        properties: { tokens: 1 + (eventSequence % 7) },
        customer_id: customers[eventSequence % customers.length],
      };
    });
    const sentAt = Date.now();
    outstanding.markSent(keys, sentAt);
    track(
      postJson(`${options.baseUrl}/v1/ingest`, options.apiKey, JSON.stringify({ events })).then(
        ({ status }) => {
          if (status !== 200) {
            refused += keys.length;
            outstanding.forget(keys);
          }
        },
        () => {
          refused += keys.length;
          outstanding.forget(keys);
        },
      ),
    );
    while (options.writesPerSecond > 0 && nextWriteAt <= performance.now()) {
      nextWriteAt += writeIntervalMs;
      track(ledgerWrites(options, customers, tally));
    }
  }
  await Promise.all(inFlight);
  return { refused };
}

/** One synchronous and one asynchronous decrement for random customers. */
async function ledgerWrites(
  options: SoakOptions,
  customers: string[],
  tally: WriteTally,
): Promise<void> {
  const pick = () => customers[Math.floor(Math.random() * customers.length)]!;
  const body = JSON.stringify({ entry_type: 'decrement', amount: 0.5, description: 'soak' });
  const syncStarted = performance.now();
  tally.syncSent += 1;
  tally.asyncSent += 1;
  const [sync, async] = await Promise.all([
    postJson(
      `${options.baseUrl}/v1/customers/${pick()}/credits/ledger_entry`,
      options.apiKey,
      body,
    ).catch(() => ({ status: 0 })),
    postJson(
      `${options.baseUrl}/v1/customers/${pick()}/credits/ledger_entry`,
      options.apiKey,
      body,
      { prefer: 'respond-async' },
    ).catch(() => ({ status: 0 })),
  ]);
  if (sync.status === 201) {
    tally.syncCommitted += 1;
    tally.syncLatencies.push(performance.now() - syncStarted);
  } else {
    tally.syncOther += 1;
  }
  if (async.status === 202) tally.asyncAccepted += 1;
  else tally.asyncOther += 1;
}

/** Runs the soak against a service that is already up; see the module comment. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const customers = await prepare(options);
  const db = new pg.Client({
    connectionString: options.databaseUrl,
    application_name: 'credits-soak',
  });
  await db.connect();
  const gauge = new DepthGauge(options);
  const outstanding = new Outstanding(randomBytes(4).toString('hex'));
  const tally: WriteTally = {
    syncSent: 0,
    syncCommitted: 0,
    syncOther: 0,
    syncLatencies: [],
    asyncSent: 0,
    asyncAccepted: 0,
    asyncOther: 0,
  };
  const lags = new LagHistogram();
  const samples: SoakSample[] = [];
  const started = performance.now();
  let sampling = Promise.resolve();
  const takeSample = async () => {
    const windowLags = (await outstanding.collect(db)).sort((a, b) => a - b);
    for (const lag of windowLags) lags.add(lag);
    const rss: Record<string, number> = {};
    for (const { name, pid } of options.processes) rss[name] = Math.round(rssMiB(pid) * 10) / 10;
    const sample: SoakSample = {
      t_seconds: Math.round((performance.now() - started) / 100) / 10,
      rss_mib: rss,
      queue_depth: await gauge.depth(),
      events_applied: windowLags.length,
      lag_p50_ms: windowLags.length ? Math.round(percentile(windowLags, 50)) : null,
      lag_p99_ms: windowLags.length ? Math.round(percentile(windowLags, 99)) : null,
    };
    samples.push(sample);
    const rssText = Object.entries(rss)
      .map(([name, mib]) => `${name} ${mib.toFixed(0)} MiB`)
      .join(', ');
    log(
      `t=${sample.t_seconds.toFixed(0).padStart(4)} s  RSS ${rssText}  depth ${sample.queue_depth}  applied ${sample.events_applied}` +
        `  lag p50 ${sample.lag_p50_ms ?? '-'} ms p99 ${sample.lag_p99_ms ?? '-'} ms`,
    );
  };
  const timer = setInterval(() => {
    sampling = sampling
      .then(takeSample)
      .catch((error: unknown) => log(`sample failed: ${String(error)}`));
  }, options.sampleSeconds * 1000);
  let refused = 0;
  let loadSampleCount = 0;
  try {
    ({ refused } = await drive(
      options,
      customers,
      outstanding,
      tally,
      started + options.seconds * 1000,
    ));
    const loadEndSample = samples.length;
    const drainDeadline = performance.now() + options.drainSeconds * 1000;
    while (outstanding.size > 0 && performance.now() < drainDeadline)
      await new Promise((resolve) => setTimeout(resolve, 250));
    clearInterval(timer);
    await sampling;
    await takeSample();
    loadSampleCount = loadEndSample;
  } finally {
    clearInterval(timer);
    await gauge.close();
  }
  const { rows } = await db.query<{ queued: number }>(
    `select count(*)::int as queued from requests where status = 'queued'`,
  );
  await db.end();
  return summarise(options, {
    samples,
    loadSamples: loadSampleCount,
    lags,
    outstanding,
    refused,
    tally,
    stillQueued: rows[0]?.queued ?? 0,
  });
}

function summarise(
  options: SoakOptions,
  run: {
    samples: SoakSample[];
    loadSamples: number;
    lags: LagHistogram;
    outstanding: Outstanding;
    refused: number;
    tally: WriteTally;
    stillQueued: number;
  },
): SoakResult {
  const { samples, lags, outstanding, tally } = run;
  const loadSamples = samples.slice(0, run.loadSamples);
  const settled = loadSamples.filter((sample) => sample.t_seconds >= options.warmupSeconds);
  const rssSlope: Record<string, number> = {};
  const rssMax: Record<string, number> = {};
  for (const { name } of options.processes) {
    const points = settled.map((sample) => ({
      x: sample.t_seconds / 60,
      y: sample.rss_mib[name] ?? Number.NaN,
    }));
    rssSlope[name] = Math.round(slope(points) * 100) / 100;
    rssMax[name] = Math.max(...samples.map((sample) => sample.rss_mib[name] ?? 0));
  }
  // Growing: still rising over the second half of the load, and above the floor at its end.
  const lastHalf = loadSamples.slice(Math.floor(loadSamples.length / 2));
  const depthEnd = loadSamples.at(-1)?.queue_depth ?? 0;
  const depthGrowing =
    slope(lastHalf.map((sample) => ({ x: sample.t_seconds, y: sample.queue_depth }))) > 0 &&
    depthEnd > options.depthGrowingFloor;
  const syncLatencies = [...tally.syncLatencies].sort((a, b) => a - b);
  const lagP99 = lags.percentile(99);
  const failures: string[] = [];
  if (settled.length < SETTLED_SAMPLES_MIN) {
    failures.push(
      `only ${settled.length} samples after the ${options.warmupSeconds} s warm-up: too few to judge RSS growth`,
    );
  }
  for (const [name, value] of Object.entries(rssSlope)) {
    if (value > options.rssSlopeMaxMiBPerMinute)
      failures.push(`${name} RSS grows ${value} MiB/min (> ${options.rssSlopeMaxMiBPerMinute})`);
  }
  if (depthGrowing)
    failures.push(`queue depth still growing at the end of the load (${depthEnd} jobs)`);
  if (!(lagP99 < options.lagP99MaxMs))
    failures.push(`lag p99 ${lagP99} ms (≥ ${options.lagP99MaxMs} ms)`);
  if (outstanding.size > 0)
    failures.push(
      `${outstanding.size} events accepted but not applied after ${options.drainSeconds} s`,
    );
  if (run.refused > 0) failures.push(`${run.refused} events refused or failed at ingest`);
  if (tally.syncOther + tally.asyncOther > 0)
    failures.push(`${tally.syncOther + tally.asyncOther} ledger writes not answered 201/202`);
  if (run.stillQueued > 0) failures.push(`${run.stillQueued} ledger requests still queued`);
  return {
    seconds: options.seconds,
    events_per_second: options.eventsPerSecond,
    events_sent: outstanding.sent,
    events_applied: outstanding.applied,
    events_missing: outstanding.size,
    ingest_refused: run.refused,
    sync_writes: {
      sent: tally.syncSent,
      committed: tally.syncCommitted,
      other: tally.syncOther,
      p50_ms: Math.round(percentile(syncLatencies, 50) * 10) / 10,
      p99_ms: Math.round(percentile(syncLatencies, 99) * 10) / 10,
    },
    async_writes: {
      sent: tally.asyncSent,
      accepted: tally.asyncAccepted,
      other: tally.asyncOther,
      still_queued: run.stillQueued,
    },
    rss_slope_mib_per_minute: rssSlope,
    rss_max_mib: rssMax,
    queue_depth_max: Math.max(0, ...samples.map((sample) => sample.queue_depth)),
    queue_depth_end: depthEnd,
    queue_depth_growing: depthGrowing,
    lag_p50_ms: lags.percentile(50),
    lag_p99_ms: lagP99,
    lag_max_ms: Math.round(lags.max),
    samples,
    failures,
    ok: failures.length === 0,
  };
}

async function main(): Promise<number> {
  const args = parseArgs({
    minutes: 10,
    rate: SOAK_DEFAULTS.eventsPerSecond,
    batch: SOAK_DEFAULTS.batchSize,
    customers: SOAK_DEFAULTS.customers,
    writes: SOAK_DEFAULTS.writesPerSecond,
    'sample-seconds': SOAK_DEFAULTS.sampleSeconds,
    'warmup-seconds': SOAK_DEFAULTS.warmupSeconds,
    'drain-seconds': SOAK_DEFAULTS.drainSeconds,
    'rss-slope-max': SOAK_DEFAULTS.rssSlopeMaxMiBPerMinute,
    'lag-p99-max-ms': SOAK_DEFAULTS.lagP99MaxMs,
    partitions: 16,
  });
  const databaseUrl =
    process.env.SOAK_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/credits_soak';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const queuePrefix = `soak-${randomBytes(4).toString('hex')}`;
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: queuePrefix,
    PARTITIONS: String(args.partitions),
  };
  await recreateDatabase(databaseUrl);
  // The worker first: it migrates the fresh database, so the api finds it up to date.
  const worker = await startServiceProcess({ ...env, ROLE: 'worker' });
  let api;
  try {
    api = await startServiceProcess({ ...env, ROLE: 'api' });
    console.log(
      `soak: ${args.minutes} min at ${args.rate} events/s (batches of ${args.batch}) over ${args.customers} customers, ` +
        `${args.writes} sync + ${args.writes} async ledger writes/s; api pid ${api.process.pid}, worker pid ${worker.process.pid}`,
    );
    const result = await runSoak({
      baseUrl: api.baseUrl,
      apiKey: BENCH_API_KEY,
      databaseUrl,
      redisUrl,
      queuePrefix,
      partitions: args.partitions!,
      processes: [
        { name: 'api', pid: api.process.pid ?? 0 },
        { name: 'worker', pid: worker.process.pid ?? 0 },
      ],
      seconds: args.minutes! * 60,
      eventsPerSecond: args.rate!,
      batchSize: args.batch!,
      customers: args.customers!,
      writesPerSecond: args.writes!,
      sampleSeconds: args['sample-seconds']!,
      warmupSeconds: args['warmup-seconds']!,
      drainSeconds: args['drain-seconds']!,
      rssSlopeMaxMiBPerMinute: args['rss-slope-max']!,
      lagP99MaxMs: args['lag-p99-max-ms']!,
      depthGrowingFloor: SOAK_DEFAULTS.depthGrowingFloor,
    });
    printSummary(result);
    printResult('soak', { ...result, minutes: args.minutes });
    return result.ok ? 0 : 3;
  } finally {
    await api?.stop();
    await worker.stop();
  }
}

function printSummary(result: SoakResult): void {
  const slopes = Object.entries(result.rss_slope_mib_per_minute).map(
    ([name, value]) => `${name} ${value} MiB/min (max ${result.rss_max_mib[name]?.toFixed(0)} MiB)`,
  );
  console.log(`RSS slope after warm-up: ${slopes.join(', ')}`);
  console.log(
    `queue depth: max ${result.queue_depth_max} jobs, ${result.queue_depth_end} at the end of the load${result.queue_depth_growing ? ', still growing' : ''}`,
  );
  console.log(
    `events: ${result.events_applied}/${result.events_sent} applied, ${result.ingest_refused} refused; lag p50 ${result.lag_p50_ms} ms, p99 ${result.lag_p99_ms} ms, max ${result.lag_max_ms} ms`,
  );
  console.log(
    `lag p99 per sample (ms): ${result.samples.map((sample) => sample.lag_p99_ms ?? '-').join(' ')}`,
  );
  console.log(
    `ledger writes: sync ${result.sync_writes.committed}/${result.sync_writes.sent} committed (p50 ${result.sync_writes.p50_ms} ms, p99 ${result.sync_writes.p99_ms} ms), ` +
      `async ${result.async_writes.accepted}/${result.async_writes.sent} accepted, ${result.async_writes.still_queued} still queued`,
  );
  console.log(result.ok ? 'soak: ok' : `soak: FAILED: ${result.failures.join('; ')}`);
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
