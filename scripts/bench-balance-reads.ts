/**
 * Balance reads (`GET /v1/customers/{id}/credits`, and the `external_customer_id/{id}` form):
 * for each concurrency level, `--seconds` of a closed loop (each client reads again as soon as
 * its answer arrives, over `--customers` customers at random) → max reads/s, p50/p99. With
 * `--rate N`, then `--seconds` of an open loop (reads issued at N per second whatever the answers'
 * latency, by id) → p50/p99 at that rate.
 *   npm run bench:reads -- --seconds 10 --customers 1000 --levels 1,8,32,128
 *   npm run bench:reads -- --levels 64 --forms id --rate 2000   # issue 13's figures
 *
 * The customers are seeded with set-based SQL (scripts/seedLedger.ts) into a fresh, migrated
 * database (BENCH_DATABASE_URL, default credits_bench_reads) before the service starts: each has
 * `--history-blocks` drawn-down or expired blocks of `--entries-per-block` entries and
 * `--live-blocks` live ones, so a read finds a realistic number of live blocks among many
 * depleted ones. Every answer is checked: 200 and `--live-blocks` blocks.
 *
 * Each run also says the CPU time one read took of the service process, of the Postgres backends
 * and of this load generator (scripts/processCpu.ts): on a shared machine the rates move with
 * whatever else runs, the CPU per read much less, so compare changes by it.
 */
import { parseArgs as parseNodeArgs } from 'node:util';
import { newId } from '../worker/runtime/ids.ts';
import {
  BENCH_API_KEY,
  OPEN_LOOP_TIMEOUT_MS,
  getJson,
  latencySummary,
  printResult,
  startServiceProcess,
} from './benchSupport.ts';
import { startCpuMeter, type CpuPerOperation } from './processCpu.ts';
import { seedFreshDatabase, seedLedgers, type SeededLedger } from './seedLedger.ts';

const { values: args } = parseNodeArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    customers: { type: 'string', default: '1000' },
    levels: { type: 'string', default: '1,8,32,128' },
    forms: { type: 'string', default: 'id,external' },
    'history-blocks': { type: 'string', default: '20' },
    'entries-per-block': { type: 'string', default: '10' },
    'live-blocks': { type: 'string', default: '4' },
    partitions: { type: 'string', default: '16' },
    rate: { type: 'string', default: '0' },
  },
});
const seconds = Number(args.seconds);
const levels = args.levels.split(',').map(Number);
const forms = args.forms.split(',') as Form[];
const rate = Number(args.rate);
const shape = {
  historyBlocks: Number(args['history-blocks']),
  entriesPerBlock: Number(args['entries-per-block']),
  liveBlocks: Number(args['live-blocks']),
};
const databaseUrl =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/credits_bench_reads';

type Form = 'id' | 'external';
const WARMUP_SECONDS = 2;

if (
  !(seconds > 0) ||
  levels.some((level) => !Number.isInteger(level) || level < 1) ||
  !(rate >= 0) ||
  forms.some((form) => form !== 'id' && form !== 'external')
) {
  throw new Error(
    'usage: --seconds N --levels 1,8,32 --forms id,external --rate N (positive numbers, known forms; rate 0: no open loop)',
  );
}

function readPath(customer: SeededLedger, form: Form): string {
  return form === 'id'
    ? `/v1/customers/${customer.customerId}/credits`
    : `/v1/customers/external_customer_id/${customer.externalCustomerId}/credits`;
}

async function closedLoop(
  service: { baseUrl: string; pid: number },
  customers: readonly SeededLedger[],
  form: Form,
  concurrency: number,
  runSeconds = seconds,
) {
  const baseUrl = service.baseUrl;
  const latencies: number[] = [];
  let failed = 0;
  const meter = await startCpuMeter(databaseUrl, service.pid);
  const started = performance.now();
  const deadline = started + runSeconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const customer = customers[Math.floor(Math.random() * customers.length)]!;
        const sent = performance.now();
        const { status, text } = await getJson(
          `${baseUrl}${readPath(customer, form)}`,
          BENCH_API_KEY,
        );
        latencies.push(performance.now() - sent);
        if (
          status !== 200 ||
          (JSON.parse(text) as { data: unknown[] }).data.length !== shape.liveBlocks
        )
          failed += 1;
      }
    }),
  );
  const elapsedSeconds = (performance.now() - started) / 1000;
  return {
    form,
    concurrency,
    reads_per_second: Math.round(latencies.length / elapsedSeconds),
    failed,
    ...latencySummary(latencies),
    cpu_us_per_read: await meter.perOperation(latencies.length),
  };
}

/**
 * Open loop: reads by id issued at `readsPerSecond` for `seconds`, whatever their latency; a read
 * unanswered after OPEN_LOOP_TIMEOUT_MS fails, with that as its latency.
 */
async function openLoop(
  service: { baseUrl: string; pid: number },
  customers: readonly SeededLedger[],
  readsPerSecond: number,
) {
  const baseUrl = service.baseUrl;
  const latencies: number[] = [];
  let failed = 0;
  const meter = await startCpuMeter(databaseUrl, service.pid);
  const total = Math.round(readsPerSecond * seconds);
  const intervalMs = 1000 / readsPerSecond;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let index = 0; index < total; index += 1) {
    const wait = started + index * intervalMs - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const customer = customers[Math.floor(Math.random() * customers.length)]!;
    const sent = performance.now();
    pending.push(
      getJson(`${baseUrl}${readPath(customer, 'id')}`, BENCH_API_KEY, OPEN_LOOP_TIMEOUT_MS).then(
        ({ status, text }) => {
          latencies.push(performance.now() - sent);
          if (
            status !== 200 ||
            (JSON.parse(text) as { data: unknown[] }).data.length !== shape.liveBlocks
          )
            failed += 1;
        },
        // Reset, or unanswered in time: failed, its latency the time it was given.
        () => {
          latencies.push(performance.now() - sent);
          failed += 1;
        },
      ),
    );
  }
  await Promise.all(pending);
  const elapsedSeconds = (performance.now() - started) / 1000;
  return {
    rate: readsPerSecond,
    reads_per_second: Math.round(latencies.length / elapsedSeconds),
    failed,
    ...latencySummary(latencies),
    cpu_us_per_read: await meter.perOperation(latencies.length),
  };
}

function cpuLine(cpu: CpuPerOperation): string {
  const us = (value: number | null) => (value === null ? '?' : `${value}`);
  return `CPU per read: service ${us(cpu.service_us)} µs, Postgres ${us(cpu.postgres_us)} µs, load generator ${cpu.load_generator_us} µs`;
}

function seed(): Promise<SeededLedger[]> {
  return seedFreshDatabase(databaseUrl, (client) => {
    const ids = Array.from({ length: Number(args.customers) }, () => newId());
    return seedLedgers(client, ids, { ...shape, now: new Date() });
  });
}

async function main(): Promise<number> {
  const customers = await seed();
  console.log(
    `machine: ${(await import('node:os')).cpus().length} cores; ${customers.length} customers, each ${customers[0]?.entries} entries ` +
      `in ${customers[0]?.blocks} blocks (${shape.liveBlocks} live)`,
  );
  const service = await startServiceProcess({
    DATABASE_URL: databaseUrl,
    PARTITIONS: args.partitions,
  });
  const target = { baseUrl: service.baseUrl, pid: service.process.pid! };
  const runs: Awaited<ReturnType<typeof closedLoop>>[] = [];
  let open: Awaited<ReturnType<typeof openLoop>> | null = null;
  try {
    // Warms the customer cache and the connection pool, as a running service would have.
    await closedLoop(target, customers, 'id', Math.max(...levels), WARMUP_SECONDS);
    for (const form of forms) {
      for (const concurrency of levels) {
        const run = await closedLoop(target, customers, form, concurrency);
        runs.push(run);
        console.log(
          `${form.padEnd(8)} ${String(concurrency).padStart(3)} concurrent: ${run.reads_per_second} reads/s, ` +
            `p50 ${run.p50_ms} ms, p99 ${run.p99_ms} ms, max ${run.max_ms} ms, failed ${run.failed}; ` +
            cpuLine(run.cpu_us_per_read),
        );
      }
    }
    if (rate > 0) {
      open = await openLoop(target, customers, rate);
      console.log(
        `open loop at ${rate} reads/s: ${open.reads_per_second} reads/s, p50 ${open.p50_ms} ms, ` +
          `p99 ${open.p99_ms} ms, max ${open.max_ms} ms, failed ${open.failed}; ` +
          cpuLine(open.cpu_us_per_read),
      );
    }
  } finally {
    await service.stop();
  }
  const failed = runs.reduce((sum, run) => sum + run.failed, 0) + (open?.failed ?? 0);
  const best = (form: Form) =>
    runs
      .filter((run) => run.form === form)
      .reduce((top, run) => Math.max(top, run.reads_per_second), 0);
  printResult('balance-reads', {
    seconds,
    customers: customers.length,
    entries_per_customer: customers[0]?.entries,
    blocks_per_customer: customers[0]?.blocks,
    live_blocks_per_customer: shape.liveBlocks,
    max_reads_per_second: best('id'),
    max_reads_per_second_external_id: forms.includes('external') ? best('external') : null,
    runs,
    open_loop: open,
    failed,
  });
  // A wrong or failed answer in a closed loop is a fault (1); refusals, resets and time-outs of an
  // open loop above what the service sustains are its measurement: a bound exceeded (3).
  const closedFailed = runs.reduce((sum, run) => sum + run.failed, 0);
  return closedFailed > 0 ? 1 : failed > 0 ? 3 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
