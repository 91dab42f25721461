/**
 * How cost grows with the ledger's size: the latency of a synchronous decrement (`POST
 * .../credits/ledger_entry`, 201 after the worker committed), of a balance read (`GET
 * .../credits`) and of the newest page of entries (`GET .../credits/ledger?limit=20`) for a
 * customer with about 1,000 entries against one with about `--big-entries` (default 1,000,000).
 *   npm run bench:ledger-size -- --big-entries 1000000 --samples 2000
 *
 * Both ledgers are seeded with set-based SQL (scripts/seedLedger.ts: blocks of 100 entries, all
 * but 3 drawn down or expired) into a fresh, migrated database (BENCH_DATABASE_URL, default
 * credits_bench_size), vacuumed, and checked with scripts/verify.ts before the service starts,
 * and again after the decrements. Requests alternate between the two customers one at a time, so
 * both see the same machine noise; `--warmup` requests each come first and are not counted.
 * The ratio big/small of each p50 and p99 is reported; a p50 ratio above `--flat-ratio-max`
 * (default 2) means cost grows with history, and the script exits 3 after printing its result.
 */
import { newId } from '../worker/runtime/ids.ts';
import {
  BENCH_API_KEY,
  getJson,
  latencySummary,
  parseArgs,
  postJson,
  printResult,
  startServiceProcess,
} from './benchSupport.ts';
import { seedFreshDatabase, seedLedgers, type SeededLedger } from './seedLedger.ts';
import { verifyDatabase } from './verify.ts';

const options = parseArgs({
  'big-entries': 1_000_000,
  'small-entries': 1_000,
  samples: 2000,
  warmup: 200,
  'flat-ratio-max': 2,
  partitions: 16,
});
const databaseUrl =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/credits_bench_size';
const ENTRIES_PER_BLOCK = 100;
const LIVE_BLOCKS = 3;
const DECREMENT_BODY = JSON.stringify({
  entry_type: 'decrement',
  amount: 0.01,
  description: 'ledger-size bench',
});

type Operation = 'decrement' | 'balance_read' | 'ledger_page';

async function timed(operation: Operation, baseUrl: string, customerId: string): Promise<number> {
  const started = performance.now();
  const { status, text } =
    operation === 'decrement'
      ? await postJson(
          `${baseUrl}/v1/customers/${customerId}/credits/ledger_entry`,
          BENCH_API_KEY,
          DECREMENT_BODY,
        )
      : await getJson(
          `${baseUrl}/v1/customers/${customerId}/credits${operation === 'ledger_page' ? '/ledger?limit=20' : ''}`,
          BENCH_API_KEY,
        );
  const elapsed = performance.now() - started;
  const expected = operation === 'decrement' ? 201 : 200;
  if (status !== expected)
    throw new Error(`${operation} for ${customerId} answered ${status}: ${text.slice(0, 300)}`);
  return elapsed;
}

/** Alternates small and big, one request at a time; returns the counted latencies of each. */
async function measure(
  operation: Operation,
  baseUrl: string,
  small: string,
  big: string,
): Promise<{ small: number[]; big: number[] }> {
  const latencies = { small: [] as number[], big: [] as number[] };
  for (let index = 0; index < options.warmup! + options.samples!; index += 1) {
    const smallMs = await timed(operation, baseUrl, small);
    const bigMs = await timed(operation, baseUrl, big);
    if (index >= options.warmup!) {
      latencies.small.push(smallMs);
      latencies.big.push(bigMs);
    }
  }
  return latencies;
}

async function seed(): Promise<{ small: SeededLedger; big: SeededLedger; seedSeconds: number }> {
  const started = performance.now();
  const [small, big] = await seedFreshDatabase(databaseUrl, async (client) => {
    const now = new Date();
    const blocksFor = (entries: number) =>
      Math.max(1, Math.round((entries - LIVE_BLOCKS) / ENTRIES_PER_BLOCK));
    const [small] = await seedLedgers(client, [newId()], {
      historyBlocks: blocksFor(options['small-entries']!),
      entriesPerBlock: ENTRIES_PER_BLOCK,
      liveBlocks: LIVE_BLOCKS,
      now,
    });
    const [big] = await seedLedgers(client, [newId()], {
      historyBlocks: blocksFor(options['big-entries']!),
      entriesPerBlock: ENTRIES_PER_BLOCK,
      liveBlocks: LIVE_BLOCKS,
      now,
    });
    return [small, big];
  });
  return { small: small!, big: big!, seedSeconds: (performance.now() - started) / 1000 };
}

async function verified(when: string): Promise<{ ledgers: number; entries: number }> {
  const result = await verifyDatabase(databaseUrl);
  if (!result.ok)
    throw new Error(
      `the database fails verify ${when}: ${result.violations.slice(0, 3).join('; ')}`,
    );
  console.log(`verify ${when}: ${result.ledgers} ledgers, ${result.entries} entries: ok`);
  return { ledgers: result.ledgers, entries: result.entries };
}

const ratio = (big: number, small: number) => Math.round((big / small) * 100) / 100;

async function main(): Promise<number> {
  const { small, big, seedSeconds } = await seed();
  console.log(
    `seeded ${small.entries} and ${big.entries} entries (${small.blocks} and ${big.blocks} blocks) in ${seedSeconds.toFixed(1)} s`,
  );
  const beforeCounts = await verified('after seeding');
  const service = await startServiceProcess({
    DATABASE_URL: databaseUrl,
    PARTITIONS: String(options.partitions),
  });
  const operations: Record<string, unknown> = {};
  let flat = true;
  try {
    for (const operation of ['decrement', 'balance_read', 'ledger_page'] as const) {
      const latencies = await measure(operation, service.baseUrl, small.customerId, big.customerId);
      const smallSummary = latencySummary(latencies.small);
      const bigSummary = latencySummary(latencies.big);
      const ratios = {
        p50_ratio: ratio(bigSummary.p50_ms, smallSummary.p50_ms),
        p99_ratio: ratio(bigSummary.p99_ms, smallSummary.p99_ms),
      };
      if (ratios.p50_ratio > options['flat-ratio-max']!) flat = false;
      operations[operation] = { small: smallSummary, big: bigSummary, ...ratios };
      console.log(
        `${operation.padEnd(12)} ${small.entries} entries: p50 ${smallSummary.p50_ms} ms p99 ${smallSummary.p99_ms} ms | ` +
          `${big.entries} entries: p50 ${bigSummary.p50_ms} ms p99 ${bigSummary.p99_ms} ms | ratio p50 ${ratios.p50_ratio} p99 ${ratios.p99_ratio}`,
      );
    }
  } finally {
    await service.stop();
  }
  const afterCounts = await verified('after the decrements');
  printResult('ledger-size', {
    small_entries: small.entries,
    big_entries: big.entries,
    seed_seconds: Math.round(seedSeconds * 10) / 10,
    samples: options.samples,
    verified_before: beforeCounts,
    verified_after: afterCounts,
    operations,
    flat_ratio_max: options['flat-ratio-max'],
    flat,
  });
  if (!flat)
    console.log(`cost grows with the ledger: a p50 ratio exceeds ${options['flat-ratio-max']}`);
  return flat ? 0 : 3;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
