/**
 * scripts/faults.ts's cluster faults, reduced (scripts/faults/clusterFaults.ts): on a Redis Cluster
 * of their own (three masters, three replicas; not the run's shared one, whose masters the other
 * files rely on), a private Postgres, an api process and three worker processes under mixed load.
 *
 * - `cluster`: the busiest master and one worker process are SIGKILLed; the replica takes over,
 *   the two other workers take the dead one's partitions, the master rejoins as a replica.
 * - `cluster-lag`: the busiest master's replica is stopped, a backlog of acknowledged writes is
 *   made on the master alone, the master is killed and the stale replica promoted by TAKEOVER.
 *
 * The audit must find every acknowledged event and write applied exactly once and in acceptance
 * order, and the lag fault must really have lost jobs in Redis (else it proves nothing), every one
 * of which must be committed under its key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { DEFAULT_FAULT_OPTIONS, runFaults } from '../../scripts/faults.ts';
import {
  describeRequires,
  POSTGRES_SERVER_BINARIES,
  REDIS_SERVER_BINARY,
} from '../support/requiresBinary.ts';

const logDir = mkdtempSync(join(tmpdir(), 'credits-cluster-faults-test-'));
console.log(`cluster faults test logs: ${logDir}`);
afterAll(() => {
  if (!process.env.KEEP_FAULT_LOGS) rmSync(logDir, { recursive: true, force: true });
});

describeRequires(
  [REDIS_SERVER_BINARY, POSTGRES_SERVER_BINARIES],
  'npm run faults (cluster)',
  () => {
    it('applies every acknowledged write and event once, in order, through master and worker kills and a lossy failover', async () => {
      const lines: string[] = [];
      const run = await runFaults([['cluster', 'cluster-lag']], {
        ...DEFAULT_FAULT_OPTIONS,
        seconds: 8,
        partitions: 4,
        // A short lock: a killed worker's job, and a job a rolled-back master still shows active,
        // are taken over within seconds.
        jobLockMs: 4_000,
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
      const byFault = new Map(run.reports.map((report) => [report.fault, report]));
      expect([...byFault.keys()].sort()).toEqual(['cluster', 'cluster-lag']);
      for (const report of run.reports) {
        expect(report.problems, `${report.fault}:\n${output}`).toEqual([]);
        expect(report.load.ingest.events, report.fault).toBeGreaterThan(0);
        expect(report.audit?.eventsApplied, report.fault).toBe(report.load.ingest.events);
        expect(report.load.ledger.accepted, report.fault).toBeGreaterThan(0);
        expect(report.audit?.writesCommitted, report.fault).toBe(report.load.writes.size);
        expect(report.audit?.ordered.outOfOrder, report.fault).toBe(0);
        expect(report.audit?.ordered.requests, report.fault).toBe(report.load.writes.size);
        expect(report.cluster?.workers, report.fault).toBe(3);
        expect(report.cluster?.rejoinedAsReplica, report.fault).toBe(true);
        expect(report.cluster?.promotedPort, report.fault).not.toBe(report.cluster?.masterPort);
        expect(report.cluster?.recoverSeconds, report.fault).toBeDefined();
      }
      expect(byFault.get('cluster')?.injectedCount).toBe(2);
      const lag = byFault.get('cluster-lag')?.cluster;
      // Redis really lost acknowledged work: the promoted replica lacks those requests' jobs…
      expect(lag?.acceptedWhileReplicaStopped?.requests, output).toBeGreaterThan(0);
      expect(lag?.jobsOnMasterAtKill, output).toBeGreaterThan(0);
      expect(lag?.jobsLostByRedis, output).toBeGreaterThan(0);
      // …and the ledger did not: each of them is committed, once, under its acknowledged key.
      expect(lag?.lostCommitted).toBe(lag?.jobsLostByRedis);
      expect(run.ok).toBe(true);
      expect(output).toMatch(/^fault cluster-lag: replica \d+ stopped/m);
    }, 150_000);
  },
);
