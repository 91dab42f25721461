/**
 * scripts/ceilingComparison.ts: bench:report's issue-13 table from the benchmarks' `BENCH_RESULT`
 * figures: each service figure beside its ceiling as a ratio, and whether its target is met; a
 * benchmark that printed nothing leaves its cells empty rather than failing the report.
 */
import { describe, expect, it } from 'vitest';
import { ceilingFigures, ceilingRows } from '../../../scripts/ceilingComparison.ts';

const results = {
  'ceiling-ingest': { bench: 'ceiling-ingest', events_per_second: 40_000 },
  ingest: {
    concurrency: 64,
    batches: [
      { batch_size: 1, applied_events_per_second: 300 },
      { batch_size: 100, applied_events_per_second: 10_000 },
    ],
    steady: { events_per_second: 5_000, lag_p99_ms: 800 },
  },
  'ceiling-writes': { tx_per_second: 4_000 },
  'ledger-writes': {
    concurrency: 64,
    closed_loop: { writes_per_second: 2_500, p99_ms: 40 },
    open_loop: { rate: 500, p99_ms: 60 },
  },
  'ceiling-reads': { selects_per_second: 20_000 },
  'balance-reads': {
    runs: [
      { form: 'id', concurrency: 1, reads_per_second: 500, p50_ms: 1.9 },
      { form: 'id', concurrency: 64, reads_per_second: 1_000, p50_ms: 60 },
      { form: 'id', concurrency: 128, reads_per_second: 1_100, p50_ms: 110 },
      { form: 'external', concurrency: 64, reads_per_second: 9_000, p50_ms: 7 },
    ],
    open_loop: { rate: 2_000, p99_ms: 9 },
  },
};

describe('ceilingFigures', () => {
  it('divides each service figure by its own ceiling, taking batches of 100 and 64 readers by id', () => {
    const figures = ceilingFigures(results);
    expect(figures.ingest).toMatchObject({ events_per_second: 10_000, ratio: 0.25 });
    expect(figures.writes).toMatchObject({ writes_per_second: 2_500, ratio: 0.625 });
    expect(figures.reads).toMatchObject({ reads_per_second: 1_000, clients: 64, ratio: 0.05 });
  });

  it('leaves the figures of a benchmark that printed no result null', () => {
    const figures = ceilingFigures({ ...results, 'ceiling-writes': undefined, ingest: undefined });
    expect(figures.writes).toMatchObject({ writes_per_second: 2_500, ratio: null });
    expect(figures.ingest).toMatchObject({ events_per_second: null, ratio: null });
  });
});

describe('ceilingRows', () => {
  it('says per target whether it is met, and a dash where the figure is missing', () => {
    const rows = ceilingRows(ceilingFigures({ ...results, 'ceiling-reads': undefined }));
    expect(rows.map((row) => row[5])).toEqual(['no', 'yes', 'yes', 'no', 'no', 'yes']);
    expect(rows[0]![3]).toBe('0.25×');
    expect(rows[4]![3]).toBe('–');
  });

  it('does not judge a latency target from an open loop run at another rate', () => {
    const rows = ceilingRows(
      ceilingFigures({
        ...results,
        'ledger-writes': { ...results['ledger-writes'], open_loop: { rate: 100, p99_ms: 5 } },
      }),
    );
    expect(rows[3]![0]).toContain('measured at 100/s, not 500/s');
    expect(rows[3]![5]).toBe('–');
  });
});
