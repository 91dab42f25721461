/**
 * `npm run faults`: the service under steady mixed load (usage batches, sync and async ledger
 * writes, all with idempotency keys) while things go wrong, then an audit that everything it
 * acknowledged was applied exactly once (scripts/faults/ledgerAudit.ts):
 *
 * - `kill`: `kill -9` the worker process at random moments (`--kills`, default 20), restarting it;
 * - `redis`: restart Redis (AOF on) mid-load; `postgres`: restart Postgres mid-load; the api and
 *   worker stay up and must recover by themselves, and the load retries what failed meanwhile;
 * - `duplicates`: real jobs delivered twice (a copy under another job id), and answered HTTP
 *   requests sent again with the same Idempotency-Key and event keys;
 * - `webhooks`: WEBHOOK_URL points at a receiver in this process, and a few customers get balance
 *   alerts that the load crosses; the receiver is down (503, then refusing connections) for
 *   `--webhook-outage` seconds (default 120) and the worker is `kill -9`ed `--webhook-kills` times
 *   while a delivery is in flight; once the outbox is delivered, every event must have arrived,
 *   verified with the SDK's `unwrap`, the same body each time, first in `seq` order per customer
 *   (scripts/faults/webhookAudit.ts). The worker runs with WEBHOOK_RETRY_MAX_MS
 *   `--webhook-retry-max-ms` (default 10000; the service's own default is an hour).
 * - `cluster`: the service on a local Redis Cluster (3 masters + 3 replicas) with three worker
 *   processes; the master serving the most partitions is SIGKILLed (its replica takes over), then
 *   one worker process, for good; the master is restarted on its AOF and rejoins as a replica;
 * - `cluster-lag`: a failover that loses the master's last writes: its replica stopped (SIGSTOP)
 *   under the load, a backlog of acknowledged writes made on the master alone, the master
 *   SIGKILLed, the replica promoted with CLUSTER FAILOVER TAKEOVER, the old master restarted
 *   without its AOF. It reports how many jobs Redis lost, and fails unless it lost some and the
 *   ledger none (scripts/faults/clusterFaults.ts).
 *
 * Every audit also checks acceptance order: per customer, ledger entries follow
 * `requests.accepted_seq`.
 *
 * It runs a private Redis and a private PostgreSQL cluster on free ports (never the machine's own,
 * which it restarts nothing of) and removes them at the end; the service runs as one `ROLE=api`
 * and one `ROLE=worker` process. Prints counts per fault; exits 1 on any loss, duplication,
 * invariant violation, stuck partition, failed job, wrong status or process death.
 *   npm run faults -- --fault all --kills 20 --seconds 40
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { closeHttpAgent } from './faults/http.ts';
import { PrivateServices } from './faults/privateServices.ts';
import {
  FAULTS,
  formatReport,
  runFault,
  type FaultName,
  type FaultOptions,
  type FaultReport,
} from './faults/runFault.ts';

export interface FaultsRun {
  reports: FaultReport[];
  ok: boolean;
}

export const DEFAULT_FAULT_OPTIONS: Omit<FaultOptions, 'log' | 'logDir'> = {
  seconds: 30,
  kills: 20,
  partitions: 8,
  // The service's default (JOB_LOCK_MS): a killed worker's job is taken over about 5 s later.
  jobLockMs: 4_000,
  outageMs: 3_000,
  drainTimeoutMs: 120_000,
  webhooks: {
    outageMs: 120_000,
    kills: 4,
    leadMs: 10_000,
    // Bounded, so that the outbox drains within seconds of the receiver's return, not a minute.
    retryMaxMs: 10_000,
    timeoutMs: 10_000,
  },
  shape: {
    customers: 24,
    ingestClients: 2,
    eventsPerBatch: 20,
    ledgerClients: 3,
    pauseMs: 20,
    replayHttp: false,
    alertCustomers: 3,
  },
};

/**
 * Runs the faults on one pair of private servers, always removing them. Each group runs its
 * faults one after another; groups run side by side (each fault has its own database and queue
 * prefix, and a Redis or Postgres restart then hits every fault running at the time).
 */
export async function runFaults(
  groups: readonly (readonly FaultName[])[],
  options: FaultOptions,
): Promise<FaultsRun> {
  const services = await PrivateServices.start();
  // Interrupted: the private servers go too (the service processes get the same signal).
  const onSignal = () => void services.stop().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const reports: FaultReport[] = [];
  try {
    const settled = await Promise.allSettled(
      groups.map(async (faults) => {
        for (const fault of faults) {
          options.log(`running fault ${fault}…`);
          const report = await runFault(fault, services, options);
          options.log(formatReport(report).join('\n'));
          reports.push(report);
        }
      }),
    );
    const crashed = settled.find((result) => result.status === 'rejected');
    if (crashed) throw crashed.reason;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await services.stop();
    closeHttpAgent();
  }
  return { reports, ok: reports.every((report) => report.ok) };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      fault: { type: 'string', default: 'all' },
      kills: { type: 'string', default: String(DEFAULT_FAULT_OPTIONS.kills) },
      seconds: { type: 'string', default: String(DEFAULT_FAULT_OPTIONS.seconds) },
      partitions: { type: 'string', default: String(DEFAULT_FAULT_OPTIONS.partitions) },
      'outage-ms': { type: 'string', default: String(DEFAULT_FAULT_OPTIONS.outageMs) },
      'job-lock-ms': { type: 'string', default: String(DEFAULT_FAULT_OPTIONS.jobLockMs) },
      'webhook-outage': {
        type: 'string',
        default: String(DEFAULT_FAULT_OPTIONS.webhooks.outageMs / 1000),
      },
      'webhook-kills': { type: 'string', default: String(DEFAULT_FAULT_OPTIONS.webhooks.kills) },
      'webhook-retry-max-ms': {
        type: 'string',
        default: String(DEFAULT_FAULT_OPTIONS.webhooks.retryMaxMs),
      },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'usage: npm run faults -- [--fault kill|redis|postgres|duplicates|webhooks|cluster|cluster-lag|all] [--kills 20] [--seconds 30] [--partitions 8] [--outage-ms 3000] [--job-lock-ms 30000]\n' +
        '       [--webhook-outage 120 (seconds)] [--webhook-kills 4] [--webhook-retry-max-ms 10000]',
    );
    return 0;
  }
  const faults = values.fault === 'all' ? FAULTS : FAULTS.filter((fault) => fault === values.fault);
  if (faults.length === 0)
    throw new RangeError(`--fault must be one of ${FAULTS.join(', ')} or all, got ${values.fault}`);
  const number = (
    name:
      | 'kills'
      | 'seconds'
      | 'partitions'
      | 'outage-ms'
      | 'job-lock-ms'
      | 'webhook-outage'
      | 'webhook-kills'
      | 'webhook-retry-max-ms',
    min: number,
  ) => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min)
      throw new RangeError(`--${name} must be an integer >= ${min}, got ${values[name]}`);
    return value;
  };
  const logDir = mkdtempSync(join(tmpdir(), 'credits-faults-logs-'));
  const run = await runFaults([faults], {
    ...DEFAULT_FAULT_OPTIONS,
    kills: number('kills', 1),
    seconds: number('seconds', 5),
    partitions: number('partitions', 1),
    outageMs: number('outage-ms', 0),
    jobLockMs: number('job-lock-ms', 1_000),
    webhooks: {
      ...DEFAULT_FAULT_OPTIONS.webhooks,
      outageMs: number('webhook-outage', 1) * 1000,
      kills: number('webhook-kills', 0),
      retryMaxMs: number('webhook-retry-max-ms', 1),
    },
    logDir,
    log: (line) => console.log(line),
  });
  console.log(
    run.ok
      ? `all ${run.reports.length} fault(s) ok`
      : `FAILED: ${run.reports
          .filter((report) => !report.ok)
          .map((report) => report.fault)
          .join(', ')}`,
  );
  return run.ok ? 0 : 1;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(2);
    },
  );
}
