/**
 * Benchmark of synchronous ledger writes (`POST .../credits/ledger_entry`, answered 201 after the
 * worker commits). Two phases against a service started as its own process:
 *   1. closed loop: `--concurrency` clients write as fast as they can for `--seconds` → max writes/s
 *      (each client for customers of its own: with `--customers` equal to `--concurrency`, one each);
 *   2. open loop: writes issued at a fixed `--rate` per second for `--seconds` → p50/p99 at that rate
 *      (a write unanswered after OPEN_LOOP_TIMEOUT_MS fails, with that as its latency).
 * Writes alternate decrements and increments over `--customers` customers.
 *   npm run bench:ledger -- --seconds 10 --concurrency 128 --rate 200 --customers 200
 * `--alerts N` (default 0) configures N credit_balance_dropped alerts before the timed phases, one
 * per customer (customers beyond `--customers` are made for the rest and get no writes), each
 * with thresholds 1,000, 500 and 100: far below the balance of 1,000,000 that the writes move by
 * 1.5 either way, so none is crossed. Every write still loads, locks and evaluates its customer's
 * alert: the figure is the cost of having alerts, not of firing them.
 * Each run starts from an empty database (BENCH_DATABASE_URL, default credits_bench), so that
 * runs are comparable. The last line is the figures as JSON (`BENCH_RESULT`, for npm run bench:report).
 */
import {
  BENCH_API_KEY,
  OPEN_LOOP_TIMEOUT_MS,
  parseArgs,
  percentile,
  postJson,
  printResult,
  recreateDatabase,
  startServiceProcess,
} from './benchSupport.ts';

const options = parseArgs({
  seconds: 10,
  concurrency: 128,
  rate: 200,
  customers: 200,
  partitions: 16,
  alerts: 0,
});
const databaseUrl =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/credits_bench';

async function post(
  baseUrl: string,
  path: string,
  body: unknown,
  timeoutMs?: number,
): Promise<{ status: number; json: any }> {
  const { status, text } = await postJson(
    `${baseUrl}${path}`,
    BENCH_API_KEY,
    JSON.stringify(body),
    {},
    timeoutMs,
  );
  return { status, json: JSON.parse(text) };
}

/**
 * `count` dropped alerts (thresholds 1,000, 500, 100: never reached in a run), one per customer
 * in `customers` first, then on idle customers made for them; 16 requests at a time.
 */
async function configureAlerts(
  baseUrl: string,
  customers: readonly string[],
  count: number,
): Promise<void> {
  const targets = customers.slice(0, count);
  for (let index = targets.length; index < count; index += 1) {
    const { json } = await post(baseUrl, '/v1/customers', {
      name: `Idle ${index}`,
      email: `idle${index}@example.com`,
    });
    targets.push(json.id);
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < targets.length) {
        const customerId = targets[next++]!;
        const { status, json } = await post(baseUrl, `/v1/alerts/customer_id/${customerId}`, {
          currency: 'credits',
          type: 'credit_balance_dropped',
          thresholds: [{ value: 1000 }, { value: 500 }, { value: 100 }],
        });
        if (status !== 201 && status !== 202)
          throw new Error(`alert for ${customerId} answered ${status}: ${JSON.stringify(json)}`);
      }
    }),
  );
}

interface Sample {
  latencyMs: number;
  ok: boolean;
}

/** One write; a reset connection or (with `timeoutMs`) no answer in time counts as failed. */
async function write(
  baseUrl: string,
  customerId: string,
  sequence: number,
  timeoutMs?: number,
): Promise<Sample> {
  const body =
    sequence % 2 === 0
      ? { entry_type: 'decrement', amount: 1.5 }
      : { entry_type: 'increment', amount: 1.5 };
  const started = performance.now();
  try {
    const { status } = await post(
      baseUrl,
      `/v1/customers/${customerId}/credits/ledger_entry`,
      body,
      timeoutMs,
    );
    return { latencyMs: performance.now() - started, ok: status === 201 };
  } catch {
    return { latencyMs: performance.now() - started, ok: false };
  }
}

interface Figures {
  writes: number;
  writes_per_second: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  failed: number;
}

function report(name: string, samples: Sample[], seconds: number): Figures {
  const latencies = samples.map((sample) => sample.latencyMs).sort((a, b) => a - b);
  const failed = samples.filter((sample) => !sample.ok).length;
  console.log(
    `${name}: ${samples.length} writes in ${seconds.toFixed(1)} s = ${(samples.length / seconds).toFixed(0)} writes/s, ` +
      `p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, ` +
      `max ${percentile(latencies, 100).toFixed(1)} ms, failed ${failed}`,
  );
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    writes: samples.length,
    writes_per_second: Math.round(samples.length / seconds),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    max_ms: round(percentile(latencies, 100)),
    failed,
  };
}

async function closedLoop(baseUrl: string, customers: string[]): Promise<Figures> {
  const samples: Sample[] = [];
  const deadline = performance.now() + options.seconds! * 1000;
  const started = performance.now();
  const clients = options.concurrency!;
  // Client i writes for customers i, i + clients, …: no two clients ever share a customer while
  // there are at least as many customers as clients (`--customers 64 --concurrency 64`: one
  // customer each), so the figure is the service's, not a row lock's between two clients.
  const own = (client: number) =>
    customers.filter((_, index) => index % clients === client % customers.length);
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const mine = own(client);
      for (let sequence = 0; performance.now() < deadline; sequence += 1) {
        samples.push(await write(baseUrl, mine[sequence % mine.length]!, sequence));
      }
    }),
  );
  return report(
    `closed loop, ${options.concurrency} concurrent`,
    samples,
    (performance.now() - started) / 1000,
  );
}

async function openLoop(baseUrl: string, customers: string[]): Promise<Figures> {
  const total = Math.round(options.rate! * options.seconds!);
  const intervalMs = 1000 / options.rate!;
  const started = performance.now();
  const pending: Promise<Sample>[] = [];
  for (let index = 0; index < total; index += 1) {
    const due = started + index * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(write(baseUrl, customers[index % customers.length]!, index, OPEN_LOOP_TIMEOUT_MS));
  }
  const samples = await Promise.all(pending);
  return report(
    `open loop at ${options.rate} writes/s`,
    samples,
    (performance.now() - started) / 1000,
  );
}

async function main(): Promise<void> {
  await recreateDatabase(databaseUrl);
  const service = await startServiceProcess({
    DATABASE_URL: databaseUrl,
    PARTITIONS: String(options.partitions),
  });
  try {
    const customers: string[] = [];
    for (let index = 0; index < options.customers!; index += 1) {
      const { json } = await post(service.baseUrl, '/v1/customers', {
        name: `Bench ${index}`,
        email: `bench${index}@example.com`,
      });
      customers.push(json.id);
      await post(service.baseUrl, `/v1/customers/${json.id}/credits/ledger_entry`, {
        entry_type: 'increment',
        amount: 1_000_000,
      });
    }
    await configureAlerts(service.baseUrl, customers, options.alerts!);
    console.log(
      `machine: ${(await import('node:os')).cpus().length} cores; ${options.customers} customers, ${options.partitions} partitions, ${options.alerts} alerts`,
    );
    const closed = await closedLoop(service.baseUrl, customers);
    const open = await openLoop(service.baseUrl, customers);
    printResult('ledger-writes', {
      ...options,
      closed_loop: closed,
      open_loop: { rate: options.rate, ...open },
    });
  } finally {
    await service.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
