/**
 * scripts/ceiling-postgres.ts, reduced: each kind of raw Postgres ceiling runs for a fraction of a
 * second on a few clients against the suite's Postgres, prints its figures on a `BENCH_RESULT`
 * line as bench:report reads them, and drops the scratch database it made.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseResult } from '../../../scripts/benchSupport.ts';
import { databaseUrl } from '../../support/databases.ts';

const SCRIPT = fileURLToPath(new URL('../../../scripts/ceiling-postgres.ts', import.meta.url));

async function runCeiling(kind: string): Promise<{ output: string; scratch: string }> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [SCRIPT, '--kind', kind, '--seconds', '0.5', '--warmup-seconds', '0', '--clients', '4'].concat([
      '--rows',
      '1000',
      '--batch',
      '100',
    ]),
    { env: { ...process.env, BENCH_DATABASE_URL: databaseUrl('postgres') }, timeout: 60_000 },
  );
  const scratch = /scratch database (\S+)/.exec(stdout)?.[1];
  if (!scratch) throw new Error(`no scratch database named in:\n${stdout}`);
  return { output: stdout, scratch };
}

async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl('postgres') });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    return rowCount === 1;
  } finally {
    await client.end();
  }
}

describe('npm run bench:ceiling (reduced)', () => {
  it('ingest: one client, unnest batches → events/s', async () => {
    const { output, scratch } = await runCeiling('ingest');
    const result = parseResult(output);
    expect(result).toMatchObject({ bench: 'ceiling-ingest', clients: 1, batch_size: 100 });
    expect(result?.events_per_second).toBeGreaterThan(0);
    expect((result?.events as number) % 100).toBe(0);
    expect(await databaseExists(scratch)).toBe(false);
  });

  it('writes: single-row transactions from every client → tx/s, p50, p99', async () => {
    const { output, scratch } = await runCeiling('writes');
    const result = parseResult(output);
    expect(result).toMatchObject({ bench: 'ceiling-writes', clients: 4 });
    expect(result?.tx_per_second).toBeGreaterThan(0);
    expect(result?.p99_ms).toBeGreaterThanOrEqual(result?.p50_ms as number);
    expect(await databaseExists(scratch)).toBe(false);
  });

  it('reads: point selects by primary key → selects/s, p50, p99', async () => {
    const { output, scratch } = await runCeiling('reads');
    const result = parseResult(output);
    expect(result).toMatchObject({ bench: 'ceiling-reads', clients: 4, rows: 1000 });
    expect(result?.selects_per_second).toBeGreaterThan(0);
    expect(result?.p99_ms).toBeGreaterThanOrEqual(result?.p50_ms as number);
    expect(await databaseExists(scratch)).toBe(false);
  });
});
