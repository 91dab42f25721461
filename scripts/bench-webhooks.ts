/**
 * Balance alerts and signed webhooks, end to end (issue 14, "Proof": p99 from the committing
 * transaction to the receiver's 200 ≤ 1 s at half the maximum ingest rate). The service runs as
 * its own process on a fresh database with WEBHOOK_URL pointing at a node:http receiver in this
 * process (127.0.0.1, answers 200 at once). Phases:
 *   1. setup: `--customers` customers, each with 1,000 credits and three alerts — a
 *      credit_balance_dropped one (a placeholder threshold far below zero for now), a
 *      credit_balance_depleted and a credit_balance_recovered one;
 *   2. max: `--max-seconds` of closed-loop ingest (`--concurrency` clients, batches of 100, as
 *      npm run bench:ingest measures it) with the alerts configured but none crossed → the
 *      maximum applied rate R of this run;
 *   3. arming: each balance is brought down by a decrement to just under `top`, where `top` is
 *      90% of what a customer will use in the steady phase (customer i of N a further i/N of a
 *      threshold spacing lower, so that crossings spread over the phase), and the dropped alert
 *      gets `--thresholds` (3) thresholds evenly spaced between 0 and `top` (nothing fires: a
 *      threshold's state is set from the balance now); then every event so far is waited for at
 *      the receiver. Each customer crosses its thresholds and 0 once (more after an increment):
 *      with 1,000 customers and about 120 events each, some 3% of usage events cross;
 *   4. steady: `--seconds` of open-loop ingest at R/2 events/s (round robin over the customers,
 *      so every balance falls at the same pace through every threshold, then to zero), plus
 *      `--increments` ledger increments per second (round robin, of top/2 each), each telling
 *      `customer.credit_ledger_incremented` and, for a depleted customer, recovered, and
 *      re-arming the thresholds it lifts the balance above.
 * For every event created in the steady phase it reports the receive time minus the body's
 * `created_at` (the writing transaction's clock just before its commit, so the figure is an
 * upper bound of commit → 200) and minus `written_at` (the database's clock at the insert):
 * count, p50/p95/p99/max, events delivered per second, duplicates (one id twice), per-customer
 * order violations (a `ledger_sequence_number` lower than one that customer already received),
 * how many events the database holds that never arrived, and the signatures of every steady
 * delivery checked with the official SDK's `unwrap`. Exits 3 when the p99 is over 1 s (the
 * figures still printed), as the report reads it.
 *   npm run bench:webhooks -- --seconds 30 --customers 1000 --concurrency 64 --max-seconds 8
 * The last line is the figures as JSON (`BENCH_RESULT`, for npm run bench:report).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import Orb from 'orb-billing';
import pg from 'pg';
import {
  BENCH_API_KEY,
  getJson,
  parseArgs,
  percentile,
  postJson,
  sendJson,
  printResult,
  recreateDatabase,
  startServiceProcess,
  type RunningService,
} from './benchSupport.ts';

const options = parseArgs({
  seconds: 30,
  'max-seconds': 8,
  customers: 1000,
  concurrency: 64,
  partitions: 16,
  thresholds: 3,
  increments: 5,
});
const databaseUrl =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/credits_bench_webhooks';
const SECRET = `whsec_${randomBytes(24).toString('base64url')}`;
const P99_TARGET_MS = 1000;
/** Each usage event costs `tokens` × UNIT_AMOUNT credits, tokens 1..7 in turn: 4 on average. */
const UNIT_AMOUNT = 0.001;
const MEAN_TOKENS = 4;
const BATCH = 100;
const MAX_RETRIES = 30;

interface Delivery {
  id: string;
  type: string;
  customerId: string | null;
  sequenceNumber: number | null;
  createdAtMs: number;
  receivedAtMs: number;
  body: string;
  headers: Record<string, string>;
}

/** Every POST the service makes, in arrival order, answered 200 as soon as its body is in. */
class Receiver {
  readonly deliveries: Delivery[] = [];
  readonly ids = new Set<string>();
  url = '';
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      response.writeHead(200).end('ok');
      const receivedAtMs = Date.now();
      const body = Buffer.concat(chunks).toString('utf8');
      const event = JSON.parse(body) as {
        id: string;
        type: string;
        created_at: string;
        customer?: { id: string };
        properties?: { ledger_sequence_number?: number };
      };
      this.deliveries.push({
        id: event.id,
        type: event.type,
        customerId: event.customer?.id ?? null,
        sequenceNumber: event.properties?.ledger_sequence_number ?? null,
        createdAtMs: Date.parse(event.created_at),
        receivedAtMs,
        body,
        headers: Object.fromEntries(
          Object.entries(request.headers).map(([key, value]) => [key, String(value)]),
        ),
      });
      this.ids.add(event.id);
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let retried = 0;

/** As bench-ingest: 503 and 429 are sent again after their Retry-After; other refusals throw. */
async function call(
  service: RunningService,
  method: 'POST' | 'PUT',
  path: string,
  body: unknown,
): Promise<any> {
  const payload = JSON.stringify(body);
  for (let attempt = 0; ; attempt += 1) {
    const { status, text, headers } =
      method === 'POST'
        ? await postJson(`${service.baseUrl}${path}`, BENCH_API_KEY, payload)
        : await sendJson('PUT', `${service.baseUrl}${path}`, BENCH_API_KEY, payload);
    if ((status === 503 || status === 429) && attempt < MAX_RETRIES) {
      retried += 1;
      const seconds = Number(headers['retry-after']);
      await sleep(1000 * (Number.isFinite(seconds) && seconds > 0 ? seconds : 1));
      continue;
    }
    if (status >= 300) throw new Error(`${method} ${path} answered ${status}: ${text}`);
    return JSON.parse(text);
  }
}

async function get(service: RunningService, path: string): Promise<any> {
  const { status, text } = await getJson(`${service.baseUrl}${path}`, BENCH_API_KEY);
  if (status !== 200) throw new Error(`GET ${path} answered ${status}: ${text}`);
  return JSON.parse(text);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` over `items`, `width` at a time. */
async function inParallel<T>(
  items: readonly T[],
  width: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

let sequence = 0;

function usageBatch(customers: readonly string[]): unknown[] {
  const timestamp = new Date().toISOString();
  return Array.from({ length: BATCH }, () => {
    sequence += 1;
    return {
      idempotency_key: `e${sequence}`,
      event_name: 'tokens',
      timestamp,
      properties: { tokens: 1 + (sequence % 7) },
      customer_id: customers[sequence % customers.length],
    };
  });
}

/** Closed loop, as bench-ingest's: the number of events sent. */
async function pushFlat(
  service: RunningService,
  customers: readonly string[],
  seconds: number,
): Promise<number> {
  let sent = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: options.concurrency! }, async () => {
      while (performance.now() < deadline) {
        await call(service, 'POST', '/v1/ingest', { events: usageBatch(customers) });
        sent += BATCH;
      }
    }),
  );
  return sent;
}

/**
 * Open loop: batches of 100 at `eventsPerSecond`, and `incrementsPerSecond` ledger increments of
 * `incrementAmount` (round robin), whatever the answers' latency. Counts what was sent.
 */
async function pushSteady(
  service: RunningService,
  customers: readonly string[],
  eventsPerSecond: number,
  seconds: number,
  incrementsPerSecond: number,
  incrementAmount: string,
): Promise<{ events: number; increments: number }> {
  const pending: Promise<unknown>[] = [];
  const started = performance.now();
  const end = started + seconds * 1000;
  const batchInterval = (1000 * BATCH) / eventsPerSecond;
  const incrementInterval = incrementsPerSecond > 0 ? 1000 / incrementsPerSecond : Infinity;
  let batches = 0;
  let increments = 0;
  for (;;) {
    const nextBatch = started + batches * batchInterval;
    const nextIncrement = started + (increments + 0.5) * incrementInterval;
    const due = Math.min(nextBatch, nextIncrement);
    if (due >= end) break;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    if (nextBatch <= nextIncrement) {
      pending.push(call(service, 'POST', '/v1/ingest', { events: usageBatch(customers) }));
      batches += 1;
    } else {
      const customerId = customers[increments % customers.length];
      pending.push(
        call(service, 'POST', `/v1/customers/${customerId}/credits/ledger_entry`, {
          entry_type: 'increment',
          amount: Number(incrementAmount),
        }),
      );
      increments += 1;
    }
  }
  await Promise.all(pending);
  return { events: batches * BATCH, increments };
}

async function waitForApplied(db: pg.Client, expected: number): Promise<number> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const { rows } = await db.query<{ count: string }>(
      'select count(*) from events where applied_at is not null',
    );
    const applied = Number(rows[0]?.count);
    if (applied >= expected || Date.now() > deadline) return applied;
    await sleep(100);
  }
}

/** Until every event in the outbox has arrived at least once (or `timeoutMs`): how many have. */
async function waitForDeliveries(
  db: pg.Client,
  receiver: Receiver,
  timeoutMs: number,
): Promise<{ written: number; received: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query<{ count: string }>('select count(*) from webhook_events');
    const written = Number(rows[0]?.count);
    if (receiver.ids.size >= written || Date.now() > deadline)
      return { written, received: receiver.ids.size };
    await sleep(200);
  }
}

const round1 = (value: number) => Math.round(value * 10) / 10;

function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50_ms: round1(percentile(sorted, 50)),
    p95_ms: round1(percentile(sorted, 95)),
    p99_ms: round1(percentile(sorted, 99)),
    max_ms: round1(percentile(sorted, 100)),
  };
}

async function main(): Promise<number> {
  const receiver = new Receiver();
  await receiver.start();
  await recreateDatabase(databaseUrl);
  const service = await startServiceProcess({
    DATABASE_URL: databaseUrl,
    PARTITIONS: String(options.partitions),
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
  });
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    // 1. Setup.
    await call(service, 'POST', '/v1/usage_prices', {
      name: 'Tokens',
      event_name: 'tokens',
      item_id: 'llm',
      unit_amount: String(UNIT_AMOUNT),
      quantity_property: 'tokens',
    });
    const customers: string[] = [];
    const droppedAlert = new Map<string, string>();
    const indexes = Array.from({ length: options.customers! }, (_, index) => index);
    await inParallel(indexes, 16, async (index) => {
      const customer = await call(service, 'POST', '/v1/customers', {
        name: `Bench ${index}`,
        email: `bench${index}@example.com`,
      });
      customers[index] = customer.id;
      await call(service, 'POST', `/v1/customers/${customer.id}/credits/ledger_entry`, {
        entry_type: 'increment',
        amount: 1000,
      });
      const dropped = await call(service, 'POST', `/v1/alerts/customer_id/${customer.id}`, {
        currency: 'credits',
        type: 'credit_balance_dropped',
        thresholds: [{ value: -1_000_000 }],
      });
      if (dropped.type === 'credit_balance_dropped') droppedAlert.set(customer.id, dropped.id);
      for (const type of ['credit_balance_depleted', 'credit_balance_recovered'])
        await call(service, 'POST', `/v1/alerts/customer_id/${customer.id}`, {
          currency: 'credits',
          type,
        });
    });
    // An alert answered 202 (its request still queued) is found by listing.
    for (const customerId of customers.filter((id) => !droppedAlert.has(id))) {
      const listed = await get(service, `/v1/alerts?customer_id=${customerId}`);
      const alert = (listed.data as any[]).find((a) => a.type === 'credit_balance_dropped');
      if (!alert) throw new Error(`no dropped alert for ${customerId}`);
      droppedAlert.set(customerId, alert.id);
    }
    console.log(
      `machine: ${os.cpus().length} cores, load ${os
        .loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}; ` +
        `${options.customers} customers with 3 alerts each, ${options.partitions} partitions`,
    );

    // 2. Max.
    const maxStarted = Date.now();
    const maxSent = await pushFlat(service, customers, options['max-seconds']!);
    const appliedBefore = await waitForApplied(db, maxSent);
    const { rows: span } = await db.query<{ last_ms: string }>(
      'select (extract(epoch from max(applied_at)) * 1000)::bigint as last_ms from events',
    );
    const maxRate = appliedBefore / ((Number(span[0]?.last_ms) - maxStarted) / 1000);
    const steadyRate = Math.round(maxRate / 2);
    console.log(
      `max: ${appliedBefore}/${maxSent} events applied at ${maxRate.toFixed(0)} events/s → steady at ${steadyRate} events/s`,
    );

    // 3. Arming.
    const perCustomer =
      (steadyRate * options.seconds! * UNIT_AMOUNT * MEAN_TOKENS) / customers.length;
    const top = Math.max(0.01, Math.floor(perCustomer * 0.9 * 100) / 100);
    const thresholds = Array.from({ length: options.thresholds! }, (_, index) => ({
      value: ((top * (index + 1)) / (options.thresholds! + 1)).toFixed(4),
    }));
    const incrementAmount = (Math.ceil((top / 2) * 100) / 100).toFixed(2);
    // Staggered starts (customer i sits i/N of a threshold spacing lower), so that crossings come
    // spread over the phase rather than all customers crossing one threshold at once.
    const spacing = top / (options.thresholds! + 1);
    await inParallel(
      customers.map((customerId, index) => ({ customerId, index })),
      16,
      async ({ customerId, index }) => {
        const credits = await get(service, `/v1/customers/${customerId}/credits`);
        const balance = (credits.data as { balance: number }[]).reduce(
          (sum, block) => sum + block.balance,
          0,
        );
        const start = top - (spacing * index) / customers.length;
        await call(service, 'POST', `/v1/customers/${customerId}/credits/ledger_entry`, {
          entry_type: 'decrement',
          amount: Number((balance - start).toFixed(6)),
        });
        await call(service, 'PUT', `/v1/alerts/${droppedAlert.get(customerId)}`, { thresholds });
      },
    );
    const drained = await waitForDeliveries(db, receiver, 120_000);
    console.log(
      `armed: balance ${top} credits each (a customer uses about ${perCustomer.toFixed(2)} in the steady phase), ` +
        `dropped thresholds ${thresholds.map((t) => t.value).join(', ')}; increments of ${incrementAmount}; ` +
        `before the steady phase ${drained.received}/${drained.written} events delivered`,
    );

    // 4. Steady.
    const firstSteady = receiver.deliveries.length;
    const steadyStarted = Date.now();
    const sentSteady = await pushSteady(
      service,
      customers,
      steadyRate,
      options.seconds!,
      options.increments!,
      incrementAmount,
    );
    const steadySeconds = (Date.now() - steadyStarted) / 1000;
    const applied = await waitForApplied(db, maxSent + sentSteady.events);
    const delivered = await waitForDeliveries(db, receiver, 180_000);

    const { rows: written } = await db.query<{
      id: string;
      type: string;
      written_ms: string;
      created_ms: string;
    }>(
      `select id, type, (extract(epoch from written_at) * 1000)::float8 as written_ms,
              (extract(epoch from created_at) * 1000)::float8 as created_ms
         from webhook_events where created_at >= $1`,
      [new Date(steadyStarted)],
    );
    const writtenAt = new Map(written.map((row) => [row.id, Number(row.written_ms)]));
    const byType: Record<string, number> = {};
    for (const row of written) byType[row.type] = (byType[row.type] ?? 0) + 1;

    const steady = receiver.deliveries
      .slice(firstSteady)
      .filter((delivery) => delivery.createdAtMs >= steadyStarted);
    const seen = new Set<string>();
    const firstArrivals: Delivery[] = [];
    let duplicates = 0;
    for (const delivery of steady) {
      if (seen.has(delivery.id)) duplicates += 1;
      else {
        seen.add(delivery.id);
        firstArrivals.push(delivery);
      }
    }
    const lastSequence = new Map<string, number>();
    let orderViolations = 0;
    for (const delivery of firstArrivals) {
      if (delivery.customerId === null || delivery.sequenceNumber === null) continue;
      const last = lastSequence.get(delivery.customerId) ?? -Infinity;
      if (delivery.sequenceNumber < last) orderViolations += 1;
      else lastSequence.set(delivery.customerId, delivery.sequenceNumber);
    }
    const missing = written.filter((row) => !seen.has(row.id)).length;
    const fromCreated = summary(firstArrivals.map((d) => d.receivedAtMs - d.createdAtMs));
    const fromWritten = summary(
      firstArrivals
        .filter((d) => writtenAt.has(d.id))
        .map((d) => d.receivedAtMs - writtenAt.get(d.id)!),
    );
    const createdToWritten = summary(
      written.map((row) => Number(row.written_ms) - Number(row.created_ms)),
    );
    const sdk = new Orb({ apiKey: 'unused' });
    let verified = 0;
    let badSignatures = 0;
    for (const delivery of steady) {
      try {
        sdk.webhooks.unwrap(delivery.body, delivery.headers, SECRET);
        verified += 1;
      } catch {
        badSignatures += 1;
      }
    }
    const receiveSpan =
      firstArrivals.length > 1
        ? (Math.max(...firstArrivals.map((d) => d.receivedAtMs)) - steadyStarted) / 1000
        : Number.NaN;
    const crossings =
      (byType['customer.credit_balance_dropped'] ?? 0) +
      (byType['customer.credit_balance_depleted'] ?? 0) +
      (byType['customer.credit_balance_recovered'] ?? 0);

    console.log(
      `steady ${steadySeconds.toFixed(1)} s at ${steadyRate} events/s + ${options.increments} increments/s: ` +
        `${sentSteady.events} usage events, ${sentSteady.increments} increments; ${applied} events applied in all`,
    );
    console.log(
      `webhook events written in the steady phase: ${written.length} (${Object.entries(byType)
        .map(([type, count]) => `${type} ${count}`)
        .join(
          ', ',
        )}); alert crossings per usage event ${((100 * crossings) / sentSteady.events).toFixed(2)}%`,
    );
    console.log(
      `delivered ${firstArrivals.length} (${(firstArrivals.length / receiveSpan).toFixed(0)}/s over ${receiveSpan.toFixed(1)} s), missing ${missing}, duplicates ${duplicates}, order violations ${orderViolations}, ` +
        `signatures ${verified} verified by the SDK, ${badSignatures} refused`,
    );
    console.log(
      `created_at → 200: p50 ${fromCreated.p50_ms} ms, p95 ${fromCreated.p95_ms} ms, p99 ${fromCreated.p99_ms} ms, max ${fromCreated.max_ms} ms (target p99 ≤ ${P99_TARGET_MS} ms)`,
    );
    console.log(
      `written_at → 200: p50 ${fromWritten.p50_ms} ms, p99 ${fromWritten.p99_ms} ms; created_at → written_at p99 ${createdToWritten.p99_ms} ms`,
    );
    const met = fromCreated.p99_ms <= P99_TARGET_MS && missing === 0 && badSignatures === 0;
    printResult('webhooks', {
      ...options,
      max_events_per_second: Math.round(maxRate),
      steady_events_per_second: steadyRate,
      steady_seconds: round1(steadySeconds),
      usage_events_sent: sentSteady.events,
      increments_sent: sentSteady.increments,
      balance_top: top,
      threshold_values: thresholds.map((t) => t.value),
      webhook_events: written.length,
      webhook_events_by_type: byType,
      crossings_per_usage_event: Math.round((10_000 * crossings) / sentSteady.events) / 10_000,
      delivered: firstArrivals.length,
      delivered_per_second: Math.round(firstArrivals.length / receiveSpan),
      missing,
      duplicates,
      order_violations: orderViolations,
      signatures_verified: verified,
      signatures_refused: badSignatures,
      created_to_200: fromCreated,
      written_to_200: fromWritten,
      created_to_written: createdToWritten,
      retried_requests: retried,
      delivered_before_steady: drained,
      delivered_after: delivered,
      p99_target_ms: P99_TARGET_MS,
      met,
    });
    return met ? 0 : 3;
  } finally {
    await db.end();
    await service.stop();
    await receiver.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
