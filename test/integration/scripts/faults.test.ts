/**
 * scripts/faults.ts, reduced: on a private Redis and Postgres, the service as an api process and a
 * worker process under mixed load while its worker is killed three times (kill -9), Redis and
 * Postgres are restarted once each, and real jobs and answered HTTP requests are delivered twice.
 * The faults run one after another, the worker with a 4 s JOB_LOCK_MS, so that the waits for
 * the killed jobs' locks to lapse stay short. The audit must find every acknowledged event and write applied
 * exactly once, and the counts must show that there was something to lose.
 *
 * The webhooks fault, reduced: the receiver down for 6 s (503, then refusing connections) while
 * alerts are crossed, and the delivering worker killed three times with a delivery in flight;
 * every event must arrive, verified, unchanged, first in seq order per customer.
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

  it('delivers every webhook event through a receiver outage and kills of the delivering worker', async () => {
    const lines: string[] = [];
    const run = await runFaults([['webhooks']], {
      ...DEFAULT_FAULT_OPTIONS,
      seconds: 5,
      partitions: 4,
      jobLockMs: 4_000,
      drainTimeoutMs: 60_000,
      webhooks: {
        outageMs: 6_000,
        kills: 3,
        leadMs: 2_000,
        // Short waits: a retry within a second, a killed delivery sent again 6 s after its claim.
        retryMaxMs: 1_000,
        timeoutMs: 1_000,
      },
      shape: {
        customers: 8,
        ingestClients: 1,
        eventsPerBatch: 10,
        ledgerClients: 2,
        pauseMs: 40,
        replayHttp: false,
        alertCustomers: 2,
      },
      logDir,
      log: (line) => lines.push(line),
    });
    const output = lines.join('\n');
    const [report] = run.reports;

    expect(report?.problems, output).toEqual([]);
    expect(run.ok, output).toBe(true);
    expect(report?.injectedCount).toBe(3);
    expect(report?.audit?.writesCommitted).toBe(report?.load.writes.size);
    expect(report?.load.alerts.created).toBe(6);
    const webhooks = report?.webhooks;
    expect(webhooks?.outbox.drained).toBe(true);
    // Not asserted: that an attempt met the 503 phase. A kill during those 3 s can leave it with
    // no attempt at all (seen in CI); the events written while down, below, prove the outage.
    const audit = webhooks?.audit;
    expect(audit?.received).toBe(audit?.events);
    expect(audit?.missing).toBe(0);
    expect(audit?.outOfOrder).toBe(0);
    // The customers' chains and the account's (test events).
    expect(audit?.chains).toBe(9);
    expect(audit?.eventsWhileDown, output).toBeGreaterThan(0);
    for (const type of [
      'customer.created',
      'customer.credit_ledger_incremented',
      'customer.credit_balance_dropped',
      'customer.credit_balance_depleted',
      'customer.credit_balance_recovered',
      'resource_event.test',
    ])
      expect(audit?.eventsByType[type], type).toBeGreaterThan(0);
    // A delivery the receiver took while its sender was killed is sent again: a repeat each.
    expect(webhooks?.killsMidDelivery, output).toBeGreaterThan(0);
    expect(audit?.repeats).toBeGreaterThanOrEqual(webhooks?.killsMidDelivery ?? 1);
    expect(output).toMatch(
      /^fault webhooks: receiver down 6 s .* 3 kill -9 of the delivering worker/m,
    );
  }, 120_000);
});
