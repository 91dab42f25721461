/**
 * One fault run: a fresh database and queue prefix on the private servers, the service as an api
 * process and a worker process, the mixed load, the fault itself while the load runs, then (load
 * stopped, unanswered requests retried to their answer) the queues drained, the 202s polled and
 * the audit. The report carries the counts and every problem found; `ok` is false on any loss,
 * duplication, violation, stuck partition, failed job, wrong status or process death.
 *
 * The cluster faults (clusterFaults.ts) run the service on a local Redis Cluster of their own
 * (three masters, three replicas) with three worker processes instead of the private Redis and
 * one worker, and kill masters, replicas and a worker under the load.
 *
 * The webhooks fault also points the service's WEBHOOK_URL at a receiver in this process, takes it
 * down and kills the delivering worker under the load (webhookOutage.ts), waits for the endpoint's
 * outbox to be delivered, and audits what the receiver got (webhookAudit.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { startRedisCluster, type RedisClusterHarness } from '../redisCluster.ts';
import {
  checkLostRequests,
  CLUSTER_FAULTS,
  CLUSTER_NODE_TIMEOUT_MS,
  CLUSTER_WORKERS,
  injectClusterFault,
  type ClusterFaultName,
  type ClusterFigures,
  type ClusterInjection,
} from './clusterFaults.ts';
import { auditLedger, type AuditResult } from './ledgerAudit.ts';
import { MixedLoad, type LoadResult, type LoadShape, type LoadTarget } from './mixedLoad.ts';
import { PartitionQueueView, type CopyCounts, type DrainResult } from './partitionQueues.ts';
import type { PrivateServices } from './privateServices.ts';
import { FAULTS_API_KEY, ServiceRoles } from './serviceRoles.ts';
import {
  auditWebhooks,
  waitForOutbox,
  type OutboxDrain,
  type WebhookAudit,
} from './webhookAudit.ts';
import { runWebhookOutage } from './webhookOutage.ts';
import { WebhookReceiver } from './webhookReceiver.ts';

export const FAULTS = [
  'kill',
  'redis',
  'postgres',
  'duplicates',
  'webhooks',
  ...CLUSTER_FAULTS,
] as const;
export type FaultName = (typeof FAULTS)[number];
const isClusterFault = (fault: FaultName): fault is ClusterFaultName =>
  (CLUSTER_FAULTS as readonly string[]).includes(fault);

export interface FaultOptions {
  /** How long the load runs (the kill fault runs longer if its kills need it). */
  seconds: number;
  kills: number;
  partitions: number;
  /** The worker's JOB_LOCK_MS: a killed worker's job is taken over after one to two of these. */
  jobLockMs: number;
  /** How long Redis or Postgres stays down in its restart. */
  outageMs: number;
  /** How long the queues get to drain after the load (and then the webhook outbox). */
  drainTimeoutMs: number;
  webhooks: {
    /** How long the receiver is down (half answering 503, half refusing connections). */
    outageMs: number;
    /** kill -9 of the delivering worker, each with a delivery in flight. */
    kills: number;
    /** The receiver is up this long before the outage, and the load runs at least this long after. */
    leadMs: number;
    /** The worker's WEBHOOK_RETRY_MAX_MS: the longest wait between two attempts of a delivery. */
    retryMaxMs: number;
    /** The worker's WEBHOOK_TIMEOUT_MS: a killed delivery is sent again this + 5 s later. */
    timeoutMs: number;
  };
  shape: LoadShape;
  /** Where each fault's service log goes (it is kept). */
  logDir: string;
  log: (line: string) => void;
}

export interface FaultReport {
  fault: FaultName;
  /** What was done: kills, restarts, copies. */
  injected: string;
  /** How many times it was done (kills, restarts, copy rounds). */
  injectedCount: number;
  load: LoadResult;
  copies: CopyCounts | undefined;
  drain: DrainResult;
  audit: AuditResult | undefined;
  /** The webhooks fault only. */
  webhooks: WebhooksReport | undefined;
  /** The cluster faults only: what was killed, what Redis lost, how long recovery took. */
  cluster: ClusterFigures | undefined;
  deaths: string[];
  problems: string[];
  ok: boolean;
  logPath: string;
}

export interface WebhooksReport {
  outbox: OutboxDrain;
  killsMidDelivery: number;
  /** Test events sent to the endpoint during the run (written by the api, not the ledger). */
  testEvents: number;
  /** Requests the receiver answered 503 while down. */
  answeredUnavailable: number;
  /** What the runner saw go wrong (a test event not accepted). */
  problems: string[];
  audit: WebhookAudit | undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const COPY_EVERY_MS = 150;
/** A freshly started worker lives at least this long before the next kill. */
const KILL_GAP_MIN_MS = 300;

/** Runs the fault while the load runs; answers what it did. */
async function inject(
  fault: Exclude<FaultName, 'webhooks' | ClusterFaultName>,
  services: PrivateServices,
  roles: ServiceRoles,
  queues: PartitionQueueView,
  options: FaultOptions,
): Promise<{ injected: string; injectedCount: number }> {
  const windowMs = options.seconds * 1000;
  const log = (line: string) => options.log(`  [${fault}] ${line}`);
  switch (fault) {
    case 'kill': {
      const meanGapMs = windowMs / options.kills;
      for (let kill = 0; kill < options.kills; kill += 1) {
        await sleep(KILL_GAP_MIN_MS + Math.random() * Math.max(0, 2 * meanGapMs - KILL_GAP_MIN_MS));
        await roles.killAndRestartWorker();
        log(`kill -9 worker ${kill + 1}/${options.kills}, restarted`);
      }
      const retried =
        roles.failedStarts > 0
          ? ` (${roles.failedStarts} starts failed while Redis or Postgres was down, and were tried again)`
          : '';
      return {
        injected: `${roles.kills} kill -9 of the worker, each restarted${retried}`,
        injectedCount: roles.kills,
      };
    }
    case 'redis':
    case 'postgres': {
      await sleep(windowMs * 0.3);
      log(`restarting ${fault} (down ${options.outageMs} ms)`);
      await (fault === 'redis'
        ? services.redis.restart(options.outageMs)
        : services.postgres.restart(options.outageMs));
      log(`${fault} is back`);
      await sleep(windowMs * 0.4);
      return {
        injected: `1 ${fault === 'redis' ? 'Redis (AOF)' : 'Postgres'} restart, ${options.outageMs} ms down`,
        injectedCount: 1,
      };
    }
    case 'duplicates': {
      const until = Date.now() + windowMs;
      let rounds = 0;
      for (; Date.now() < until; rounds += 1) {
        await queues.copySomeJobs();
        await sleep(COPY_EVERY_MS);
      }
      return {
        injected: 'real jobs delivered twice, answered HTTP requests sent again',
        injectedCount: rounds,
      };
    }
    default: {
      const unreachable: never = fault;
      throw new Error(`unknown fault ${String(unreachable)}`);
    }
  }
}

function problemsOf(report: Omit<FaultReport, 'problems' | 'ok'>): string[] {
  const problems = [...report.load.problems, ...report.deaths];
  if (!report.drain.drained)
    problems.push(`queues did not drain: ${report.drain.stuck.join('; ')}`);
  for (const job of report.drain.failed)
    problems.push(
      `failed job ${job.id} (${job.name}) on partition ${job.partition}: ${job.reason}`,
    );
  if (report.load.ingest.gaveUp + report.load.ledger.gaveUp > 0) {
    problems.push(
      `${report.load.ingest.gaveUp} ingest and ${report.load.ledger.gaveUp} ledger requests were never answered`,
    );
  }
  problems.push(...(report.audit?.violations ?? []));
  const webhooks = report.webhooks;
  problems.push(...(webhooks?.problems ?? []));
  if (webhooks && !webhooks.outbox.drained)
    problems.push(
      `webhook outbox not delivered after ${webhooks.outbox.seconds.toFixed(1)} s: ${JSON.stringify(webhooks.outbox.left)}`,
    );
  problems.push(...(webhooks?.audit?.violations.map((line) => `webhooks: ${line}`) ?? []));
  const cluster = report.cluster;
  if (cluster) {
    if (cluster.recoverSeconds === undefined)
      problems.push('what was pending at the master kill was not all applied in time');
    if (!cluster.rejoinedAsReplica)
      problems.push(
        `the old master ${cluster.masterPort} did not rejoin as the promoted node's replica`,
      );
    if (report.fault === 'cluster-lag' && cluster.jobsLostByRedis === 0)
      problems.push('the lag failover lost no job in Redis: it proved nothing');
  }
  return problems;
}

export async function runFault(
  fault: FaultName,
  services: PrivateServices,
  options: FaultOptions,
): Promise<FaultReport> {
  const id = randomBytes(3).toString('hex');
  const databaseUrl = await services.postgres.createDatabase(
    `faults_${fault.replace(/-/g, '_')}_${id}`,
  );
  const queuePrefix = `faults-${fault}-${id}`;
  const logPath = join(options.logDir, `${fault}.log`);
  const secret = `whsec_${randomUUID()}`;
  const receiver = fault === 'webhooks' ? await WebhookReceiver.start(secret) : undefined;
  const harness: RedisClusterHarness | undefined = isClusterFault(fault)
    ? await startRedisCluster({ nodeTimeoutMs: CLUSTER_NODE_TIMEOUT_MS })
    : undefined;
  const roles = await ServiceRoles.start(
    {
      databaseUrl,
      redisUrl: services.redis.url,
      redisClusterNodes: harness?.seed,
      workers: harness ? CLUSTER_WORKERS : 1,
      queuePrefix,
      partitions: options.partitions,
      jobLockMs: options.jobLockMs,
      // Both processes: each brings WEBHOOK_URL's endpoint up to date at start (the api too).
      extra: receiver && {
        WEBHOOK_URL: receiver.url,
        WEBHOOK_SECRET: secret,
        WEBHOOK_RETRY_MAX_MS: String(options.webhooks.retryMaxMs),
        WEBHOOK_TIMEOUT_MS: String(options.webhooks.timeoutMs),
      },
    },
    logPath,
  ).catch(async (error: unknown) => {
    await receiver?.stop();
    await harness?.stop();
    throw error;
  });
  const queues = new PartitionQueueView(
    harness ? { kind: 'cluster', nodes: harness.nodes } : services.redis.url,
    queuePrefix,
    options.partitions,
  );
  try {
    const target: LoadTarget = {
      baseUrl: roles.baseUrl,
      apiKey: FAULTS_API_KEY,
      keyPrefix: `${fault}${id}`,
    };
    const load = new MixedLoad(target, {
      ...options.shape,
      replayHttp: fault === 'duplicates',
      alertCustomers: fault === 'webhooks' ? options.shape.alertCustomers : 0,
    });
    await load.setUp();
    load.start();
    const started = Date.now();
    const outage = receiver
      ? await runWebhookOutage(
          receiver,
          roles,
          target,
          {
            ...options.webhooks,
            // A chain's next attempt is at most WEBHOOK_RETRY_MAX_MS away, or a lease's end.
            holdWaitMs: options.webhooks.retryMaxMs + options.webhooks.timeoutMs + 5_000,
          },
          (line) => options.log(`  [${fault}] ${line}`),
        )
      : undefined;
    let clusterInjection: ClusterInjection | undefined;
    if (harness && isClusterFault(fault))
      clusterInjection = await injectClusterFault(fault, {
        harness,
        roles,
        load,
        databaseUrl,
        queuePrefix,
        partitions: options.partitions,
        windowMs: options.seconds * 1000,
        recoveryTimeoutMs: options.drainTimeoutMs,
        log: (line) => options.log(`  [${fault}] ${line}`),
      });
    const { injected, injectedCount } =
      outage ??
      clusterInjection ??
      (await inject(
        fault as Exclude<FaultName, 'webhooks' | ClusterFaultName>,
        services,
        roles,
        queues,
        options,
      ));
    await sleep(Math.max(0, options.seconds * 1000 - (Date.now() - started)));
    options.log(
      `  [${fault}] load stopped after ${((Date.now() - started) / 1000).toFixed(1)} s; retrying what is unanswered, then draining`,
    );
    const loadResult = await load.stop();
    // What was pending at a master's kill is applied before the drain counts as done.
    await clusterInjection?.recovered;
    const drain = await queues.waitForDrain(options.drainTimeoutMs);
    const copies = fault === 'duplicates' ? await queues.countCopies() : undefined;
    let webhooks: WebhooksReport | undefined;
    if (receiver && outage) {
      const outbox = await waitForOutbox(databaseUrl, options.drainTimeoutMs);
      webhooks = {
        outbox,
        killsMidDelivery: outage.killsMidDelivery,
        testEvents: outage.testEvents,
        answeredUnavailable: receiver.answeredUnavailable,
        problems: outage.problems,
        audit: outbox.drained ? await auditWebhooks(databaseUrl, receiver, outage) : undefined,
      };
    }
    const audit = drain.drained ? await auditLedger(target, databaseUrl, loadResult) : undefined;
    const cluster = clusterInjection?.figures;
    const lostProblems = cluster ? await checkLostRequests(databaseUrl, cluster, loadResult) : [];
    const deaths = [...roles.deaths];
    if (!roles.alive() && deaths.length === 0)
      deaths.push('a service process is not running at the end');
    const report = {
      fault,
      injected,
      injectedCount,
      load: loadResult,
      copies,
      drain,
      audit,
      webhooks,
      cluster,
      deaths,
      logPath,
    };
    const problems = [...problemsOf(report), ...lostProblems];
    return { ...report, problems, ok: problems.length === 0 };
  } finally {
    await queues.close();
    await roles.stop();
    await receiver?.stop();
    await harness?.stop();
  }
}

const byStatus = (failures: Record<string, number>) =>
  Object.keys(failures).length === 0
    ? 'none'
    : Object.entries(failures)
        .map(([status, count]) => `${status}: ${count}`)
        .join(', ');

/** The report as the lines the script prints. */
export function formatReport(report: FaultReport): string[] {
  const { load, drain, audit, copies } = report;
  const lines = [
    `fault ${report.fault}: ${report.injected}`,
    `  ingest: ${load.ingest.answered} requests answered 200, ${load.ingest.events} events accepted, ` +
      `${audit?.eventsApplied ?? '?'} applied, ${audit?.eventsLost ?? '?'} lost, ${audit?.eventsUnacknowledged ?? '?'} applied unacknowledged; ` +
      `${load.ingest.retried} requests retried to an answer (failed attempts ${byStatus(load.ingest.failures)}), ${load.ingest.replays} sent again after their 200`,
    `  ledger writes: ${load.ledger.answered} answered (${load.ledger.created} 201, ${load.ledger.accepted} 202, ${audit?.writesPolled ?? '?'} of them polled to the end), ` +
      `${audit?.writesCommitted ?? '?'} committed exactly once; ${load.ledger.retried} retried to an answer (failed attempts ${byStatus(load.ledger.failures)}), ` +
      `${load.ledger.replayedAnswers} answers were replays, ${load.ledger.replays} sent again after their answer`,
  ];
  if (copies) {
    lines.push(
      `  duplicate jobs: ${
        Object.entries(copies.added)
          .map(([name, count]) => `${count} ${name}`)
          .join(', ') || 'none'
      } copied; ` +
        `${copies.ranAlone} kept after running (their transactions dropped ${copies.eventsDropped} duplicate events), ` +
        `${copies.ranAsFollowers} taken into another job's transaction or trimmed`,
    );
  }
  if (report.webhooks) lines.push(...webhookLines(report.webhooks));
  if (report.cluster) lines.push(...clusterLines(report.cluster));
  lines.push(
    `  queues: ${drain.drained ? `drained in ${drain.seconds.toFixed(1)} s` : `NOT drained after ${drain.seconds.toFixed(1)} s`}, ${drain.failed.length} failed jobs; ` +
      `service processes: ${report.deaths.length} unexpected exits`,
    `  audit: ${audit ? `verify ${audit.verified.ledgers} ledgers, ${audit.verified.entries} entries; acceptance order checked over ${audit.ordered.requests} requests of ${audit.ordered.customers} customers, ${audit.ordered.outOfOrder} out of order; ${audit.violations.length} violations` : 'not run (queues not drained)'}`,
    `  ${report.ok ? 'ok' : `FAILED: ${report.problems.length} problem(s)`} (service log: ${report.logPath})`,
  );
  for (const problem of report.problems.slice(0, 20)) lines.push(`    - ${problem}`);
  if (report.problems.length > 20) lines.push(`    … and ${report.problems.length - 20} more`);
  return lines;
}

function clusterLines(cluster: ClusterFigures): string[] {
  const lag = cluster.acceptedWhileReplicaStopped;
  return [
    `  cluster: master ${cluster.masterPort} served partitions ${cluster.partitions.join(',')}; ${cluster.promotedPort} serves them after the failover ` +
      `(${cluster.failoverSeconds.toFixed(1)} s after the kill); ${cluster.workers} worker processes; old master rejoined as a replica: ${cluster.rejoinedAsReplica ? 'yes' : 'no'}`,
    ...(lag
      ? [
          `  while its replica was stopped (${cluster.replicaStoppedSeconds?.toFixed(1)} s, ${cluster.replicationBytesLost} bytes of replication stream behind at the kill): ${lag.requests} requests and ${lag.events} events accepted on its partitions, their jobs on the master alone`,
        ]
      : []),
    `  at the kill: ${cluster.pendingAtKill.requests} requests and ${cluster.pendingAtKill.events} events pending on its partitions; ` +
      `${cluster.jobsOnMasterAtKill} of their jobs on the master; jobs lost by Redis: ${cluster.jobsLostByRedis} (on the master, not on the promoted node), ${cluster.lostCommitted ?? '?'} of them committed once under their key; ` +
      `pending requests decided ${cluster.requestsRecoverSeconds?.toFixed(1) ?? 'NOT'} s and all pending applied ${cluster.recoverSeconds === undefined ? 'NOT in time' : `${cluster.recoverSeconds.toFixed(1)} s`} after the kill`,
  ];
}

function webhookLines(webhooks: WebhooksReport): string[] {
  const { audit, outbox } = webhooks;
  const lines = [
    `  webhook outbox: ${outbox.drained ? `all delivered ${outbox.seconds.toFixed(1)} s after the queues drained` : `NOT delivered after ${outbox.seconds.toFixed(1)} s (${JSON.stringify(outbox.left)})`}; ` +
      `${webhooks.answeredUnavailable} attempts answered 503 while down; ${webhooks.killsMidDelivery} kills while a delivery the receiver took was in flight; ` +
      `${webhooks.testEvents} test events sent along the load`,
  ];
  if (!audit) return [...lines, '  webhook audit: not run (outbox not delivered)'];
  const types = Object.entries(audit.eventsByType)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, count]) => `${count} ${type}`)
    .join(', ');
  lines.push(
    `  webhook events: ${audit.events} (${types})`,
    `  webhook receipts: ${audit.received} of ${audit.events} events received, ${audit.missing} missing; ${audit.receipts} receipts, ` +
      `${audit.repeats} repeats (${audit.eventsRepeated} events more than once); every body verified with unwrap and stable per id: ${audit.violations.length === 0 ? 'yes' : 'no'}`,
    `  webhook order: ${audit.chains} chains, ${audit.outOfOrder} events first received out of seq order; ` +
      `lag write→first receipt median ${audit.lagSecondsMedian.toFixed(2)} s, max ${audit.lagSecondsMax.toFixed(1)} s; ` +
      `${audit.eventsWhileDown} written while the receiver was down; the backlog (${audit.backlogEvents} events written before it came back) had all arrived ${audit.backlogClearedSeconds.toFixed(1)} s after it came back`,
  );
  return lines;
}
