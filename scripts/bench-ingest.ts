/**
 * End-to-end usage benchmark: events pushed over HTTP (`POST /v1/ingest`) by many customers, until
 * the ledger reflects every one. For each batch size it reports accepted events/s (HTTP answered),
 * applied events/s (written by the worker), p50/p99 lag from sending to application (the event's
 * `applied_at`), and the service's RSS over the run; then, at half the measured rate, the lag of
 * a steady stream. The service runs as its own process on a fresh database; traffic stays on
 * 127.0.0.1. A batch answered 503 or 429 is resent after its Retry-After, as a client would, and
 * counted. "Applied" is the event's row being written, in the transaction that moves the
 * balances: once every row is visible, every balance reflects every event. The last line is the
 * figures as JSON (`BENCH_RESULT`, for npm run bench:report).
 *   npm run bench:ingest -- --seconds 10 --customers 1000 --concurrency 64 --batches 1,100,500
 * `--alerts N` (default 0) configures N credit_balance_dropped alerts before the timed phases,
 * one per customer (customers beyond `--customers` are made for the rest, and get no usage),
 * each with thresholds 1,000, 500 and 100: far below the balance of 1,000,000 the run draws
 * down by a few credits, so none is crossed. Every usage transaction still loads, locks and
 * evaluates its customers' alerts: the figure is the cost of having alerts, not of firing them
 * (npm run bench:webhooks measures crossings and their delivery).
 */
import pg from 'pg';
import {
  BENCH_API_KEY,
  parseArgs,
  percentile,
  postJson,
  printResult,
  recreateDatabase,
  rssMiB,
  startServiceProcess,
  type RunningService,
} from './benchSupport.ts';

const batchSizesArg = process.argv.indexOf('--batches');
const batchSizes =
  batchSizesArg > 0
    ? (process.argv.splice(batchSizesArg, 2)[1] ?? '100').split(',').map(Number)
    : [1, 100, 500];
const options = parseArgs({
  seconds: 10,
  customers: 1000,
  concurrency: 16,
  partitions: 16,
  alerts: 0,
});
const databaseUrl =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/credits_bench_ingest';

/** Batches answered 503 or 429 and sent again, over the whole run. */
let retried = 0;
const MAX_RETRIES = 30;

/**
 * As a client should: a 503 or 429 (the service's "send them again with the same idempotency
 * keys") is resent, unchanged, after the Retry-After it names, so an overloaded service slows
 * the loop rather than ending the run. Any other refusal ends the run.
 */
async function post(service: RunningService, path: string, body: unknown): Promise<any> {
  const payload = JSON.stringify(body);
  for (let attempt = 0; ; attempt += 1) {
    const { status, text, headers } = await postJson(
      `${service.baseUrl}${path}`,
      BENCH_API_KEY,
      payload,
    );
    if ((status === 503 || status === 429) && attempt < MAX_RETRIES) {
      retried += 1;
      const seconds = Number(headers['retry-after']);
      await new Promise((resolve) =>
        setTimeout(resolve, 1000 * (Number.isFinite(seconds) && seconds > 0 ? seconds : 1)),
      );
      continue;
    }
    if (status >= 300) throw new Error(`${path} answered ${status}: ${text}`);
    return JSON.parse(text);
  }
}

interface RunResult {
  sent: number;
  sentAt: Map<string, number>;
  seconds: number;
}

let sequence = 0;

function batch(customers: string[], size: number): { events: unknown[]; keys: string[] } {
  const events = [];
  const keys = [];
  const timestamp = new Date().toISOString();
  for (let index = 0; index < size; index += 1) {
    const key = `e${(sequence += 1)}`;
    keys.push(key);
    events.push({
      idempotency_key: key,
      event_name: 'tokens',
      timestamp,
      properties: { tokens: 1 + (sequence % 7) },
      customer_id: customers[sequence % customers.length],
    });
  }
  return { events, keys };
}

/** Closed loop: `concurrency` clients send batches back to back for `seconds`. */
async function pushFlat(
  service: RunningService,
  customers: string[],
  size: number,
  seconds: number,
  concurrency: number,
): Promise<RunResult> {
  const sentAt = new Map<string, number>();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const { events, keys } = batch(customers, size);
        const at = Date.now();
        await post(service, '/v1/ingest', { events });
        for (const key of keys) sentAt.set(key, at);
      }
    }),
  );
  return { sent: sentAt.size, sentAt, seconds: (performance.now() - started) / 1000 };
}

/** Open loop: batches issued at a fixed event rate, whatever the answers' latency. */
async function pushSteady(
  service: RunningService,
  customers: string[],
  size: number,
  eventsPerSecond: number,
  seconds: number,
): Promise<RunResult> {
  const sentAt = new Map<string, number>();
  const intervalMs = (1000 * size) / eventsPerSecond;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let index = 0; performance.now() < started + seconds * 1000; index += 1) {
    const wait = started + index * intervalMs - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const { events, keys } = batch(customers, size);
    const at = Date.now();
    pending.push(
      post(service, '/v1/ingest', { events }).then(() =>
        keys.forEach((key) => sentAt.set(key, at)),
      ),
    );
  }
  await Promise.all(pending);
  return { sent: sentAt.size, sentAt, seconds: (performance.now() - started) / 1000 };
}

/**
 * `count` dropped alerts (thresholds 1,000, 500, 100: never reached in a run), one per customer
 * in `customers` first, then on idle customers made for them; 16 requests at a time.
 */
async function configureAlerts(
  service: RunningService,
  customers: readonly string[],
  count: number,
): Promise<void> {
  const targets = customers.slice(0, count);
  for (let index = targets.length; index < count; index += 1) {
    const idle = await post(service, '/v1/customers', {
      name: `Idle ${index}`,
      email: `idle${index}@example.com`,
    });
    targets.push(idle.id);
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < targets.length) {
        const customerId = targets[next++]!;
        await post(service, `/v1/alerts/customer_id/${customerId}`, {
          currency: 'credits',
          type: 'credit_balance_dropped',
          thresholds: [{ value: 1000 }, { value: 500 }, { value: 100 }],
        });
      }
    }),
  );
}

async function measureApplication(db: pg.Client, run: RunResult, startedAt: number) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { rows } = await db.query<{ count: string }>(
      'select count(*) from events where applied_at >= $1',
      [new Date(startedAt)],
    );
    if (Number(rows[0]?.count) >= run.sent || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const { rows } = await db.query<{ idempotency_key: string; applied_ms: string }>(
    'select idempotency_key, (extract(epoch from applied_at) * 1000)::bigint as applied_ms from events where applied_at >= $1',
    [new Date(startedAt)],
  );
  const lags: number[] = [];
  let lastApplied = startedAt;
  for (const row of rows) {
    const sent = run.sentAt.get(row.idempotency_key);
    const applied = Number(row.applied_ms);
    if (sent !== undefined) lags.push(applied - sent);
    lastApplied = Math.max(lastApplied, applied);
  }
  lags.sort((a, b) => a - b);
  return {
    applied: rows.length,
    appliedSeconds: (lastApplied - startedAt) / 1000,
    p50: percentile(lags, 50),
    p99: percentile(lags, 99),
  };
}

async function main(): Promise<void> {
  await recreateDatabase(databaseUrl);
  const service = await startServiceProcess({
    DATABASE_URL: databaseUrl,
    PARTITIONS: String(options.partitions),
    LOG_LEVEL: 'warn',
  });
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(rssMiB(service.process.pid ?? 0)), 1000);
  try {
    await post(service, '/v1/usage_prices', {
      name: 'Tokens',
      event_name: 'tokens',
      item_id: 'llm',
      unit_amount: '0.001',
      quantity_property: 'tokens',
    });
    const customers: string[] = [];
    for (let index = 0; index < options.customers!; index += 1) {
      const customer = await post(service, '/v1/customers', {
        name: `Bench ${index}`,
        email: `bench${index}@example.com`,
      });
      await post(service, `/v1/customers/${customer.id}/credits/ledger_entry`, {
        entry_type: 'increment',
        amount: 1_000_000,
      });
      customers.push(customer.id);
    }
    await configureAlerts(service, customers, options.alerts!);
    console.log(
      `machine: ${(await import('node:os')).cpus().length} cores; ${options.customers} customers, ${options.partitions} partitions, ${options.concurrency} connections, ${options.alerts} alerts`,
    );
    let bestRate = 0;
    const batches: Record<string, unknown>[] = [];
    let steady: Record<string, unknown> | null = null;
    for (const size of batchSizes) {
      const retriedBefore = retried;
      const startedAt = Date.now();
      const run = await pushFlat(service, customers, size, options.seconds!, options.concurrency!);
      const applied = await measureApplication(db, run, startedAt);
      const appliedRate = applied.applied / applied.appliedSeconds;
      if (size === 100) bestRate = appliedRate;
      batches.push({
        batch_size: size,
        accepted_events_per_second: Math.round(run.sent / run.seconds),
        applied_events_per_second: Math.round(appliedRate),
        applied: applied.applied,
        sent: run.sent,
        lag_p50_ms: applied.p50,
        lag_p99_ms: applied.p99,
        retried_batches: retried - retriedBefore,
      });
      console.log(
        `batch ${String(size).padStart(3)}: accepted ${(run.sent / run.seconds).toFixed(0)} events/s, applied ${appliedRate.toFixed(0)} events/s ` +
          `(${applied.applied}/${run.sent}), lag p50 ${applied.p50} ms p99 ${applied.p99} ms, ${retried - retriedBefore} batches retried after 503/429`,
      );
    }
    if (bestRate > 0) {
      const steadyRate = Math.round(bestRate / 2);
      const retriedBefore = retried;
      const startedAt = Date.now();
      const run = await pushSteady(service, customers, 100, steadyRate, options.seconds!);
      const applied = await measureApplication(db, run, startedAt);
      console.log(
        `steady ${steadyRate} events/s in batches of 100: applied ${applied.applied}/${run.sent}, lag p50 ${applied.p50} ms p99 ${applied.p99} ms`,
      );
      steady = {
        events_per_second: steadyRate,
        applied: applied.applied,
        sent: run.sent,
        lag_p50_ms: applied.p50,
        lag_p99_ms: applied.p99,
        retried_batches: retried - retriedBefore,
      };
    }
    console.log(
      `service RSS: min ${Math.min(...rss).toFixed(0)} MiB, max ${Math.max(...rss).toFixed(0)} MiB over ${rss.length} s`,
    );
    printResult('ingest', {
      ...options,
      batches,
      steady,
      rss_min_mib: Math.round(Math.min(...rss)),
      rss_max_mib: Math.round(Math.max(...rss)),
    });
  } finally {
    clearInterval(sampler);
    await db.end();
    await service.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
