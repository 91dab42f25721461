/**
 * scripts/faults.ts, reduced: on a private Redis and Postgres, the service as an api process and a
 * worker process under mixed load while its worker is killed three times (kill -9), Redis and
 * Postgres are restarted once each, and real jobs and answered HTTP requests are delivered twice.
 * The faults run one after another, the worker with a 4 s JOB_LOCK_MS, so that the waits for
 * the killed jobs' locks to lapse stay short. The audit must find every acknowledged event and write applied
 * exactly once, and the counts must show that there was something to lose.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { DEFAULT_FAULT_OPTIONS, runFaults } from '../../../scripts/faults.ts';
import {
  describeRequires,
  POSTGRES_SERVER_BINARIES,
  REDIS_SERVER_BINARY,
} from '../../support/requiresBinary.ts';

const logDir = mkdtempSync(join(tmpdir(), 'credits-faults-test-'));
afterAll(() => rmSync(logDir, { recursive: true, force: true }));

describeRequires([REDIS_SERVER_BINARY, POSTGRES_SERVER_BINARIES], 'npm run faults', () => {
  it('applies every acknowledged event and write exactly once through kills, restarts and duplicates', async () => {
    const lines: string[] = [];
    const run = await runFaults([['kill', 'redis', 'postgres', 'duplicates']], {
      ...DEFAULT_FAULT_OPTIONS,
      seconds: 6,
      kills: 3,
      partitions: 4,
      // A short lock, so that each killed job is taken over within seconds rather than a minute.
      jobLockMs: 4_000,
      outageMs: 1_500,
      drainTimeoutMs: 60_000,
      shape: {
        customers: 8,
        ingestClients: 1,
        eventsPerBatch: 10,
        ledgerClients: 2,
        pauseMs: 40,
        replayHttp: false,
      },
      logDir,
      log: (line) => lines.push(line),
    });
    const output = lines.join('\n');

    expect(run.reports.map((report) => report.fault).sort()).toEqual([
      'duplicates',
      'kill',
      'postgres',
      'redis',
    ]);
    for (const report of run.reports) {
      expect(report.problems, `${report.fault}:\n${output}`).toEqual([]);
      expect(report.injectedCount, report.fault).toBeGreaterThan(0);
      expect(report.load.ingest.events, report.fault).toBeGreaterThan(0);
      expect(report.audit?.eventsApplied, report.fault).toBe(report.load.ingest.events);
      expect(report.load.ledger.accepted, report.fault).toBeGreaterThan(0);
      expect(report.load.ledger.created, report.fault).toBeGreaterThan(0);
      expect(report.audit?.writesCommitted, report.fault).toBe(report.load.writes.size);
      expect(report.audit?.verified.entries, report.fault).toBeGreaterThan(0);
    }
    const byFault = new Map(run.reports.map((report) => [report.fault, report]));
    expect(byFault.get('kill')?.injectedCount).toBe(3);
    const duplicates = byFault.get('duplicates');
    expect(
      Object.values(duplicates?.copies?.added ?? {}).reduce((sum, count) => sum + count, 0),
    ).toBeGreaterThan(0);
    expect(
      (duplicates?.load.ingest.replays ?? 0) + (duplicates?.load.ledger.replays ?? 0),
    ).toBeGreaterThan(0);
    expect(run.ok).toBe(true);
    expect(output).toMatch(/^fault kill: 3 kill -9 of the worker/m);
  }, 150_000);
});
