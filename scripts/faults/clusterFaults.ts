/**
 * The cluster faults: the service on a local Redis Cluster (scripts/redisCluster.ts, three
 * masters and three replicas) with three worker processes, under the mixed load.
 *
 * - `cluster`: SIGKILL of the master serving the most partitions (its replica takes over after
 *   cluster-node-timeout) and, half a second later, SIGKILL of one worker process for good (the
 *   other two take its partitions over); later the killed master is restarted on its AOF and
 *   rejoins as a replica.
 * - `cluster-lag`: a failover that loses the master's last writes. The replica of the master
 *   serving the most partitions is stopped (SIGSTOP) while the load goes on, then its replication
 *   link is cut on the master (what is already in the socket's buffers still reaches the replica
 *   when it resumes), so whatever the master takes from then on exists on it alone; the workers are paused for a moment and a burst
 *   of asynchronous writes is acknowledged for customers on that master's partitions (a backlog:
 *   acknowledged writes whose jobs only the master has); the master is killed (SIGKILL), the
 *   replica resumed and promoted with CLUSTER FAILOVER TAKEOVER (it has none of those jobs), the
 *   workers resumed, and the old master restarted with its AOF removed (it rejoins as a replica).
 *
 * What Redis lost is measured, not assumed: at the kill, the requests of the master's partitions
 * still `queued` in Postgres are listed, and once a replica serves the slots, each one whose job
 * hash that node does not have is a job lost by Redis. The runner then requires every one of them
 * committed, under its Idempotency-Key, by the audit's end: lost to Redis, not to the ledger. The
 * recovery time is from the master's kill until every request and event pending at the kill is
 * applied.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { partitionOf, partitionQueueName } from '../../worker/jobs/partition.ts';
import type { ClusterNodeInfo, RedisClusterHarness } from '../redisCluster.ts';
import type { LoadResult, MixedLoad } from './mixedLoad.ts';
import type { ServiceRoles } from './serviceRoles.ts';

export const CLUSTER_FAULTS = ['cluster', 'cluster-lag'] as const;
export type ClusterFaultName = (typeof CLUSTER_FAULTS)[number];
export const CLUSTER_WORKERS = 3;
/** cluster-node-timeout of the fault's cluster: a silent master is replaced after about this. */
export const CLUSTER_NODE_TIMEOUT_MS = 2_000;
/** Asynchronous writes acknowledged while the workers are paused, before the master's kill. */
const LAG_BURST_WRITES = 40;
const RECOVERY_POLL_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ClusterFigures {
  workers: number;
  /** The killed master, its partitions, and the node that serves them after the failover. */
  masterPort: number;
  partitions: number[];
  promotedPort: number;
  /** cluster-lag: how long the replica was stopped, and what was accepted on the master meanwhile. */
  replicaStoppedSeconds: number | undefined;
  /** cluster-lag: the master's replication offset at its kill minus what the replica had applied. */
  replicationBytesLost: number | undefined;
  acceptedWhileReplicaStopped: { requests: number; events: number } | undefined;
  /** At the master's kill: its partitions' requests still queued, and events not yet applied. */
  pendingAtKill: { requests: number; events: number };
  /** Pending requests whose job the master held just before its kill. */
  jobsOnMasterAtKill: number;
  /** Of those: the ones whose job the promoted node does not have: lost by Redis. */
  jobsLostByRedis: number;
  lostRequestIds: string[];
  /** SIGKILL of the master → a replica serves its slots and the cluster is healthy. */
  failoverSeconds: number;
  /** SIGKILL of the master → every request and event pending at the kill applied. */
  recoverSeconds: number | undefined;
  /** SIGKILL of the master → every request pending at the kill decided. */
  requestsRecoverSeconds: number | undefined;
  /** The old master rejoined as a replica (of the promoted node). */
  rejoinedAsReplica: boolean;
  /** Filled in after the audit: the lost jobs' requests, committed under their keys. */
  lostCommitted: number | undefined;
}

export interface ClusterInjection {
  injected: string;
  injectedCount: number;
  figures: ClusterFigures;
  /** Resolves once everything pending at the kill is applied (or the deadline passed). */
  recovered: Promise<void>;
}

export interface ClusterFaultContext {
  harness: RedisClusterHarness;
  roles: ServiceRoles;
  load: MixedLoad;
  databaseUrl: string;
  queuePrefix: string;
  partitions: number;
  windowMs: number;
  recoveryTimeoutMs: number;
  log: (line: string) => void;
}

/** Partition → the port of the master serving its queue's slot. */
async function partitionMasters(
  harness: RedisClusterHarness,
  partitions: number,
): Promise<Map<number, ClusterNodeInfo>> {
  const masters = new Map<number, ClusterNodeInfo>();
  for (let partition = 0; partition < partitions; partition += 1)
    masters.set(partition, await harness.masterOfKey(partitionQueueName(partition)));
  return masters;
}

/** The master serving the most partitions (the busiest), its partitions and its replica. */
async function busiestMaster(harness: RedisClusterHarness, partitions: number) {
  const byPartition = await partitionMasters(harness, partitions);
  const counts = new Map<number, number[]>();
  for (const [partition, master] of byPartition)
    counts.set(master.port, [...(counts.get(master.port) ?? []), partition]);
  const [port, served] = [...counts].sort((a, b) => b[1].length - a[1].length)[0] ?? [0, []];
  const replica = (await harness.replicas()).find((node) => node.masterPort === port);
  if (!replica) throw new Error(`master ${port} has no replica`);
  return { masterPort: port, partitions: served, replicaPort: replica.port };
}

async function withDb<T>(databaseUrl: string, work: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: databaseUrl, application_name: 'credits-faults' });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

interface Pending {
  requestIds: string[];
  eventKeys: string[];
}

const maxSeqs = (db: pg.Client) =>
  db
    .query<{ requests: string; events: string }>(
      `select (select coalesce(max(accepted_seq), 0) from requests)::text as requests,
              (select coalesce(max(accepted_seq), 0) from events)::text as events`,
    )
    .then(({ rows }) => ({ requests: rows[0]?.requests ?? '0', events: rows[0]?.events ?? '0' }));

function customersOn(load: LoadResult, partitionSet: Set<number>, partitions: number): string[] {
  return load.customers.filter((customer) => partitionSet.has(partitionOf(customer, partitions)));
}

/** Requests of the partitions still queued, and events of their customers not yet applied, up to the given seqs. */
async function pendingOf(
  db: pg.Client,
  partitionList: number[],
  customers: string[],
  through: { requests: string; events: string },
): Promise<Pending> {
  const requests = await db.query<{ id: string }>(
    `select id from requests where status = 'queued' and partition = any($1) and accepted_seq <= $2`,
    [partitionList, through.requests],
  );
  const events = await db.query<{ idempotency_key: string }>(
    `select idempotency_key from events where status = 'accepted' and customer_id = any($1) and accepted_seq <= $2`,
    [customers, through.events],
  );
  return {
    requestIds: requests.rows.map((row) => row.id),
    eventKeys: events.rows.map((row) => row.idempotency_key),
  };
}

async function acceptedSince(
  db: pg.Client,
  partitionList: number[],
  customers: string[],
  since: { requests: string; events: string },
): Promise<{ requests: number; events: number }> {
  const { rows } = await db.query<{ requests: number; events: number }>(
    `select (select count(*)::int from requests where partition = any($1) and accepted_seq > $2) as requests,
            (select count(*)::int from events where customer_id = any($3) and accepted_seq > $4) as events`,
    [partitionList, since.requests, customers, since.events],
  );
  return rows[0] ?? { requests: 0, events: 0 };
}

/**
 * The requests whose job hash the node has (`present`) and does not have. Asked of the node
 * itself, not through the cluster client, so that nothing is redirected or retried.
 */
async function jobsOn(
  port: number,
  queuePrefix: string,
  partitions: number,
  db: pg.Client,
  requestIds: string[],
): Promise<{ present: string[]; missing: string[] }> {
  if (requestIds.length === 0) return { present: [], missing: [] };
  const { rows } = await db.query<{ id: string; partition: number }>(
    `select id, partition from requests where id = any($1)`,
    [requestIds],
  );
  const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null });
  node.on('error', () => undefined);
  await node.connect();
  try {
    const present: string[] = [];
    const missing: string[] = [];
    for (const row of rows) {
      if (row.partition >= partitions) continue;
      const key = `${queuePrefix}:${partitionQueueName(row.partition)}:${row.id}`;
      ((await node.exists(key)) === 0 ? missing : present).push(row.id);
    }
    return { present, missing };
  } finally {
    node.disconnect();
  }
}

/**
 * Polls until every pending request is decided and every pending event applied; answers the
 * seconds since `from` (and records when the requests alone were done).
 */
async function waitApplied(
  databaseUrl: string,
  pending: Pending,
  from: number,
  timeoutMs: number,
  figures: ClusterFigures,
): Promise<number | undefined> {
  return withDb(databaseUrl, async (db) => {
    for (;;) {
      const { rows } = await db.query<{ requests: number; events: number }>(
        `select (select count(*)::int from requests where id = any($1) and status = 'queued') as requests,
                (select count(*)::int from events where idempotency_key = any($2) and status = 'accepted') as events`,
        [pending.requestIds, pending.eventKeys],
      );
      const left = rows[0];
      if (left?.requests === 0) figures.requestsRecoverSeconds ??= (Date.now() - from) / 1000;
      if (left && left.requests === 0 && left.events === 0) return (Date.now() - from) / 1000;
      if (Date.now() - from > timeoutMs) return undefined;
      await sleep(RECOVERY_POLL_MS);
    }
  });
}

/** INFO replication's offset of a node: the master's, or what a replica has applied. */
async function replicationOffset(port: number): Promise<number> {
  const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null });
  node.on('error', () => undefined);
  await node.connect();
  try {
    const info = await node.info('replication');
    const offset =
      /^slave_repl_offset:(\d+)/m.exec(info)?.[1] ?? /^master_repl_offset:(\d+)/m.exec(info)?.[1];
    return Number(offset ?? 0);
  } finally {
    node.disconnect();
  }
}

/**
 * Cuts the master's replication links (CLIENT KILL TYPE replica). A stopped replica still gets
 * what was already in its socket's buffers when it resumes, and only that: so the cut, not the
 * SIGSTOP, is what makes the master's later writes its own alone, as a network partition would.
 */
async function cutReplicationLinks(masterPort: number): Promise<number> {
  const node = new Redis({
    host: '127.0.0.1',
    port: masterPort,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  node.on('error', () => undefined);
  await node.connect();
  try {
    return Number(await node.call('client', 'kill', 'type', 'replica'));
  } finally {
    node.disconnect();
  }
}

/** CLUSTER FAILOVER TAKEOVER, unless the replica already promoted itself. */
async function promote(harness: RedisClusterHarness, replicaPort: number): Promise<void> {
  const self = (await harness.topology()).find((node) => node.port === replicaPort);
  if (self?.role === 'master' && self.slots.length > 0) return;
  await harness.failoverTakeover(replicaPort);
}

/** The node now serving the first of the partitions (after a failover: the promoted replica). */
async function servingPort(harness: RedisClusterHarness, partition: number): Promise<number> {
  return (await harness.masterOfKey(partitionQueueName(partition))).port;
}

export async function injectClusterFault(
  fault: ClusterFaultName,
  context: ClusterFaultContext,
): Promise<ClusterInjection> {
  const { harness, roles, load, databaseUrl, queuePrefix, partitions, windowMs, log } = context;
  await sleep(windowMs * (fault === 'cluster' ? 0.3 : 0.2));
  const target = await busiestMaster(harness, partitions);
  const partitionSet = new Set(target.partitions);
  const customers = customersOn(load.result, partitionSet, partitions);
  log(
    `master ${target.masterPort} serves partitions ${target.partitions.join(',')} (${customers.length} customers); its replica is ${target.replicaPort}`,
  );

  const db = new pg.Client({ connectionString: databaseUrl, application_name: 'credits-faults' });
  await db.connect();
  try {
    let replicaStoppedSeconds: number | undefined;
    let replicationBytesLost: number | undefined;
    let acceptedWhileReplicaStopped: ClusterFigures['acceptedWhileReplicaStopped'];
    let stoppedAt = 0;
    let atStop = { requests: '0', events: '0' };
    if (fault === 'cluster-lag') {
      atStop = await maxSeqs(db);
      await harness.kill(target.replicaPort, 'SIGSTOP');
      stoppedAt = Date.now();
      log(`SIGSTOP replica ${target.replicaPort}; the load goes on`);
      await sleep(Math.max(1_000, windowMs * 0.1));
      const cut = await cutReplicationLinks(target.masterPort);
      log(`replication link of master ${target.masterPort} cut (${cut} closed); the load goes on`);
      await sleep(Math.max(1_000, windowMs * 0.15));
      // A backlog on the doomed master: acknowledged (202) writes that no worker has taken yet.
      roles.signalWorkers('SIGSTOP');
      await load.burst(customers, LAG_BURST_WRITES);
      log(`workers paused; ${LAG_BURST_WRITES} asynchronous writes acknowledged on its partitions`);
    }
    const atKill = await maxSeqs(db);
    // What the master holds just before its kill: a pending request whose job is not there was
    // never enqueued (the api defers an enqueue that fails) and so cannot be lost by Redis.
    const beforeKill = await pendingOf(db, target.partitions, customers, atKill);
    const onMaster = new Set(
      (await jobsOn(target.masterPort, queuePrefix, partitions, db, beforeKill.requestIds)).present,
    );
    const masterOffset = await replicationOffset(target.masterPort);
    await harness.kill(target.masterPort, 'SIGKILL');
    const killedAt = Date.now();
    log(`SIGKILL master ${target.masterPort}`);
    const pending = await pendingOf(db, target.partitions, customers, atKill);
    let lost: string[];
    let promotedPort: number;
    if (fault === 'cluster-lag') {
      acceptedWhileReplicaStopped = await acceptedSince(db, target.partitions, customers, atStop);
      await harness.kill(target.replicaPort, 'SIGCONT');
      replicaStoppedSeconds = (Date.now() - stoppedAt) / 1000;
      await promote(harness, target.replicaPort);
      replicationBytesLost = masterOffset - (await replicationOffset(target.replicaPort));
      promotedPort = target.replicaPort;
      // The workers are still paused: nothing has run since the kill, so a job the promoted node
      // does not have is one Redis lost. Asked before they resume, then they resume at once (a
      // pause longer than JOB_LOCK_MS would stall their active jobs).
      lost = (
        await jobsOn(promotedPort, queuePrefix, partitions, db, pending.requestIds)
      ).missing.filter((id) => onMaster.has(id));
      roles.signalWorkers('SIGCONT');
      log(
        `SIGCONT replica ${target.replicaPort}, CLUSTER FAILOVER TAKEOVER: it is a master; workers resumed`,
      );
      await harness.waitHealthy(30_000);
    } else {
      await sleep(500);
      const pid = await roles.killWorkerForGood(CLUSTER_WORKERS - 1);
      log(`SIGKILL worker process ${pid} (not restarted)`);
      await harness.waitHealthy(30_000);
      promotedPort = await servingPort(harness, target.partitions[0] ?? 0);
      // Jobs that ran since are kept as completed (bounded counts): a missing one was lost.
      lost = (
        await jobsOn(promotedPort, queuePrefix, partitions, db, pending.requestIds)
      ).missing.filter((id) => onMaster.has(id));
    }
    const failoverSeconds = (Date.now() - killedAt) / 1000;
    log(
      `failover done ${failoverSeconds.toFixed(1)} s after the kill: ${promotedPort} serves the slots; pending at the kill ${pending.requestIds.length} requests, ` +
        `${pending.eventKeys.length} events; ${onMaster.size} of their jobs were on ${target.masterPort} before the kill, ${lost.length} of those are not on ${promotedPort}`,
    );
    const figures: ClusterFigures = {
      workers: CLUSTER_WORKERS,
      masterPort: target.masterPort,
      partitions: target.partitions,
      promotedPort,
      replicaStoppedSeconds,
      replicationBytesLost,
      acceptedWhileReplicaStopped,
      pendingAtKill: { requests: pending.requestIds.length, events: pending.eventKeys.length },
      jobsOnMasterAtKill: onMaster.size,
      jobsLostByRedis: lost.length,
      lostRequestIds: lost,
      failoverSeconds,
      recoverSeconds: undefined,
      requestsRecoverSeconds: undefined,
      rejoinedAsReplica: false,
      lostCommitted: undefined,
    };
    const recovered = waitApplied(
      databaseUrl,
      pending,
      killedAt,
      context.recoveryTimeoutMs,
      figures,
    ).then((seconds) => {
      figures.recoverSeconds = seconds;
    });

    await sleep(Math.max(0, windowMs * 0.15));
    // The old master comes back: on its AOF (cluster), or empty (cluster-lag); either way it has
    // been replaced and rejoins as the promoted node's replica.
    await harness.restart(target.masterPort, { dropAof: fault === 'cluster-lag' });
    await harness.waitHealthy(30_000);
    const rejoined = (await harness.topology()).find((node) => node.port === target.masterPort);
    figures.rejoinedAsReplica =
      rejoined?.role === 'replica' && rejoined.masterPort === promotedPort;
    log(
      `old master ${target.masterPort} restarted${fault === 'cluster-lag' ? ' without its AOF' : ''}: ` +
        `${rejoined?.role ?? 'unknown'} of ${rejoined?.masterPort ?? '?'}`,
    );
    const injected =
      fault === 'cluster'
        ? `SIGKILL of master ${target.masterPort} (${target.partitions.length} of ${partitions} partitions) and of 1 of ${CLUSTER_WORKERS} worker processes; the master restarted on its AOF`
        : `replica ${target.replicaPort} stopped ${replicaStoppedSeconds?.toFixed(1)} s, master ${target.masterPort} (${target.partitions.length} of ${partitions} partitions) SIGKILLed with a backlog, ` +
          `replica promoted by TAKEOVER, old master restarted without its AOF; ${CLUSTER_WORKERS} worker processes`;
    return { injected, injectedCount: fault === 'cluster' ? 2 : 1, figures, recovered };
  } finally {
    // Never leave the workers paused, whatever failed.
    if (fault === 'cluster-lag') roles.signalWorkers('SIGCONT');
    await db.end();
  }
}

/** After the audit: the lost jobs' requests are committed, each under one Idempotency-Key the load was answered for. */
export async function checkLostRequests(
  databaseUrl: string,
  figures: ClusterFigures,
  load: LoadResult,
): Promise<string[]> {
  const problems: string[] = [];
  figures.lostCommitted = 0;
  if (figures.lostRequestIds.length === 0) return problems;
  const rows = await withDb(databaseUrl, (db) =>
    db
      .query<{ id: string; status: string; keys: string[] | null }>(
        `select r.id, r.status, array_agg(k.key) filter (where k.key is not null) as keys
           from requests r left join idempotency_keys k on k.request_id = r.id
          where r.id = any($1) group by r.id, r.status`,
        [figures.lostRequestIds],
      )
      .then((result) => result.rows),
  );
  let committed = 0;
  for (const row of rows) {
    const keys = row.keys ?? [];
    if (row.status !== 'committed')
      problems.push(`request ${row.id}, whose job Redis lost, is ${row.status}`);
    else if (keys.length !== 1 || !keys.every((key) => load.writes.has(key)))
      problems.push(
        `request ${row.id}, whose job Redis lost, has keys ${keys.join(',')}, not one acknowledged`,
      );
    else committed += 1;
  }
  figures.lostCommitted = committed;
  return problems;
}
