/**
 * Issue 13's figures from one bench:report run: each service figure as an absolute, beside its
 * target and as a ratio of the raw Postgres ceiling measured in the same run (ingest / ingest
 * ceiling, writes / writes ceiling, reads / reads ceiling). Pure: it reads the `BENCH_RESULT`
 * figures of the benchmarks (keyed by bench name) and answers rows and a JSON summary; a figure
 * whose benchmark failed is null and its row says so.
 */

/** The `BENCH_RESULT` figures of each benchmark that printed one, keyed by bench name. */
export type BenchResults = Record<string, Record<string, any> | undefined>;

export interface CeilingFigures {
  ingest: {
    events_per_second: number | null;
    clients: number | null;
    ceiling_events_per_second: number | null;
    ratio: number | null;
    steady_events_per_second: number | null;
    steady_lag_p99_ms: number | null;
  };
  writes: {
    writes_per_second: number | null;
    p99_ms: number | null;
    clients: number | null;
    ceiling_tx_per_second: number | null;
    ratio: number | null;
    open_loop_rate: number | null;
    open_loop_p99_ms: number | null;
    /** Requests of the open loop refused, reset or unanswered in time. */
    open_loop_failed: number | null;
  };
  reads: {
    reads_per_second: number | null;
    p50_ms: number | null;
    clients: number | null;
    ceiling_selects_per_second: number | null;
    ratio: number | null;
    open_loop_rate: number | null;
    open_loop_p99_ms: number | null;
    /** Requests of the open loop refused, reset or unanswered in time. */
    open_loop_failed: number | null;
  };
}

/** Issue 13's targets, as stated there. */
export const TARGETS = {
  ingestRatio: 0.5,
  steadyLagP99Ms: 1000,
  writesPerSecond: 2000,
  writesP99MsAt500: 50,
  readsPerSecond: 5000,
  readsP99MsAt2000: 10,
} as const;

const num = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null;

const ratioOf = (figure: number | null, ceiling: number | null): number | null =>
  figure === null || ceiling === null || ceiling <= 0
    ? null
    : Math.round((figure / ceiling) * 1000) / 1000;

/** Picks the figures out of the benchmarks' results. */
export function ceilingFigures(results: BenchResults, clients = 64): CeilingFigures {
  const ingest = results.ingest;
  const batch100 = (ingest?.batches as any[] | undefined)?.find((b) => b.batch_size === 100);
  const ingestRate = num(batch100?.applied_events_per_second);
  const ceilingIngest = num(results['ceiling-ingest']?.events_per_second);

  const writes = results['ledger-writes'];
  const writesRate = num(writes?.closed_loop?.writes_per_second);
  const ceilingWrites = num(results['ceiling-writes']?.tx_per_second);

  const reads = results['balance-reads'];
  const idRuns = ((reads?.runs as any[] | undefined) ?? []).filter((run) => run.form === 'id');
  // The run at the client count; the best one when the run had no such level.
  const readRun =
    idRuns.find((run) => run.concurrency === clients) ??
    [...idRuns].sort((a, b) => b.reads_per_second - a.reads_per_second)[0];
  const readsRate = num(readRun?.reads_per_second);
  const ceilingReads = num(results['ceiling-reads']?.selects_per_second);

  return {
    ingest: {
      events_per_second: ingestRate,
      clients: num(ingest?.concurrency),
      ceiling_events_per_second: ceilingIngest,
      ratio: ratioOf(ingestRate, ceilingIngest),
      steady_events_per_second: num(ingest?.steady?.events_per_second),
      steady_lag_p99_ms: num(ingest?.steady?.lag_p99_ms),
    },
    writes: {
      writes_per_second: writesRate,
      p99_ms: num(writes?.closed_loop?.p99_ms),
      clients: num(writes?.concurrency),
      ceiling_tx_per_second: ceilingWrites,
      ratio: ratioOf(writesRate, ceilingWrites),
      open_loop_rate: num(writes?.open_loop?.rate),
      open_loop_p99_ms: num(writes?.open_loop?.p99_ms),
      open_loop_failed: num(writes?.open_loop?.failed),
    },
    reads: {
      reads_per_second: readsRate,
      p50_ms: num(readRun?.p50_ms),
      clients: num(readRun?.concurrency),
      ceiling_selects_per_second: ceilingReads,
      ratio: ratioOf(readsRate, ceilingReads),
      open_loop_rate: num(reads?.open_loop?.rate),
      open_loop_p99_ms: num(reads?.open_loop?.p99_ms),
      open_loop_failed: num(reads?.open_loop?.failed),
    },
  };
}

const fmt = (value: number | null, digits = 0): string =>
  value === null ? '–' : value.toLocaleString('en-US', { maximumFractionDigits: digits });
const ratioText = (value: number | null): string => (value === null ? '–' : `${value.toFixed(2)}×`);
const failedText = (failed: number | null): string =>
  failed ? ` (${fmt(failed)} failed or unanswered in 10 s)` : '';
const met = (ok: boolean | null): string => (ok === null ? '–' : ok ? 'yes' : 'no');

/**
 * Rows of the report's table: what, this service, Postgres ceiling (same run), ratio, target,
 * met. A figure measured at an open-loop rate other than the target's says so in its row.
 */
export function ceilingRows(f: CeilingFigures): string[][] {
  const atRate = (rate: number | null, wanted: number) =>
    rate === null
      ? ''
      : rate === wanted
        ? ''
        : ` (measured at ${fmt(rate)}/s, not ${fmt(wanted)}/s)`;
  return [
    [
      `end-to-end ingest (HTTP accepted → balances reflect it, 100-event batches, ${fmt(f.ingest.clients)} clients)`,
      `${fmt(f.ingest.events_per_second)} events/s`,
      `${fmt(f.ingest.ceiling_events_per_second)} events/s (1 client, unnest batches of 1,000)`,
      ratioText(f.ingest.ratio),
      `≥ ${TARGETS.ingestRatio}× ceiling`,
      met(f.ingest.ratio === null ? null : f.ingest.ratio >= TARGETS.ingestRatio),
    ],
    [
      `p99 event → balance at half the measured maximum (${fmt(f.ingest.steady_events_per_second)} events/s)`,
      `${fmt(f.ingest.steady_lag_p99_ms)} ms`,
      '',
      '',
      `≤ ${fmt(TARGETS.steadyLagP99Ms)} ms`,
      met(
        f.ingest.steady_lag_p99_ms === null
          ? null
          : f.ingest.steady_lag_p99_ms <= TARGETS.steadyLagP99Ms,
      ),
    ],
    [
      `sync ledger writes, ${fmt(f.writes.clients)} clients (one customer each)`,
      `${fmt(f.writes.writes_per_second)} writes/s, p99 ${fmt(f.writes.p99_ms, 1)} ms`,
      `${fmt(f.writes.ceiling_tx_per_second)} tx/s (single-row insert transactions)`,
      ratioText(f.writes.ratio),
      `≥ ${fmt(TARGETS.writesPerSecond)}/s`,
      met(
        f.writes.writes_per_second === null
          ? null
          : f.writes.writes_per_second >= TARGETS.writesPerSecond,
      ),
    ],
    [
      `sync ledger writes, p99 at 500/s open loop${atRate(f.writes.open_loop_rate, 500)}`,
      `${fmt(f.writes.open_loop_p99_ms, 1)} ms${failedText(f.writes.open_loop_failed)}`,
      '',
      '',
      `≤ ${TARGETS.writesP99MsAt500} ms`,
      met(
        f.writes.open_loop_p99_ms === null || f.writes.open_loop_rate !== 500
          ? null
          : f.writes.open_loop_p99_ms <= TARGETS.writesP99MsAt500,
      ),
    ],
    [
      `balance reads (GET …/credits), ${fmt(f.reads.clients)} clients`,
      `${fmt(f.reads.reads_per_second)} reads/s, p50 ${fmt(f.reads.p50_ms, 1)} ms`,
      `${fmt(f.reads.ceiling_selects_per_second)} selects/s (point selects by primary key)`,
      ratioText(f.reads.ratio),
      `≥ ${fmt(TARGETS.readsPerSecond)}/s`,
      met(
        f.reads.reads_per_second === null
          ? null
          : f.reads.reads_per_second >= TARGETS.readsPerSecond,
      ),
    ],
    [
      `balance reads, p99 at 2,000/s open loop${atRate(f.reads.open_loop_rate, 2000)}`,
      `${fmt(f.reads.open_loop_p99_ms, 1)} ms${failedText(f.reads.open_loop_failed)}`,
      '',
      '',
      `≤ ${TARGETS.readsP99MsAt2000} ms`,
      met(
        f.reads.open_loop_p99_ms === null || f.reads.open_loop_rate !== 2000
          ? null
          : f.reads.open_loop_p99_ms <= TARGETS.readsP99MsAt2000,
      ),
    ],
  ];
}
