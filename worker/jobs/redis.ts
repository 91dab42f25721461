/**
 * The Redis connections the service uses, and what they do while Redis is away.
 *
 * Two kinds (ioredis options, BullMQ's requirements):
 * - `commands`: queues, intake, pub/sub publishing, reads. `enableOfflineQueue: false` and
 *   `maxRetriesPerRequest: 0`: while disconnected a command fails at once instead of waiting in
 *   memory for a server that may never return, so an HTTP request answers (503, or a durable
 *   202) instead of hanging; `commandTimeout` bounds a server that is connected but silent.
 * - `workers`: BullMQ Workers. BullMQ requires `maxRetriesPerRequest: null` there (its blocking
 *   connection is a duplicate of this one): a worker just waits for Redis to come back.
 *
 * Every connection, BullMQ's duplicates included, reports to one `RedisConnections`: it logs one
 * line when Redis is lost and one when it is back, never a line per failed reconnect, and it can
 * disconnect all of them at once (a shutdown that must finish while Redis is unreachable).
 *
 * On a Redis Cluster (REDIS_CLUSTER_NODES) each connection is an ioredis `Cluster` with the same
 * two kinds. What differs, by what ioredis's Cluster allows:
 * - `commands`: the Cluster's own `enableOfflineQueue: false` makes a command fail at once while
 *   the cluster client is not ready, and while the master serving its slot is unreachable (ioredis
 *   rejects it before sending, "Connection is closed."), so a write for a partition whose master
 *   is failing over answers 503 (or a durable 202) like a write while a single Redis is down,
 *   and writes for the other partitions go on. The per-node connections ioredis makes always keep
 *   an offline queue (it forces that); `commandTimeout` still bounds a node that is silent.
 * - `workers`: they wait, as on one Redis; a command lost to a failover is resent by ioredis
 *   every `retryDelayOnFailover` for up to a minute (`maxRedirections`).
 * - Reads and writes go to masters only (`scaleReads: 'master'`): a replica may lag, and a job
 *   read there could look unfinished after it completed.
 * - The startup nodes are resolved by the system resolver (ioredis's default `dnsLookup`); the
 *   other nodes are reached at the addresses the cluster announces.
 * - Lost and back are the cluster's: lost when a node or the whole cluster errs, back when the
 *   cluster says `cluster_state:ok` and no connection has erred for a second (a failover keeps
 *   the cluster client "ready", so no ready event would say it).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../runtime/config.ts';

const CONNECT_TIMEOUT_MS = 5_000;
/** For a server that accepts connections but does not answer; far above any healthy command. */
const COMMAND_TIMEOUT_MS = 5_000;

export type RedisConnectionKind = 'commands' | 'workers';

const OPTIONS: Record<RedisConnectionKind, RedisOptions> = {
  commands: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
  },
  workers: { maxRetriesPerRequest: null },
};

/** How the service reaches Redis: one server, or a Redis Cluster through its seed nodes. */
export type RedisTarget =
  { kind: 'single'; url: string } | { kind: 'cluster'; nodes: readonly string[] };

/** A connection to either; BullMQ takes both as its `connection`. */
export type RedisClient = Redis | Cluster;

export function redisTargetOf(config: Pick<Config, 'redisUrl' | 'redisClusterNodes'>): RedisTarget {
  return config.redisClusterNodes
    ? { kind: 'cluster', nodes: config.redisClusterNodes }
    : { kind: 'single', url: config.redisUrl };
}

function targetOf(target: string | RedisTarget): RedisTarget {
  return typeof target === 'string' ? { kind: 'single', url: target } : target;
}

/** For people (the first log line, readiness): `redis://host:port` or `redis-cluster://seeds`. */
export function describeRedisTarget(target: string | RedisTarget): string {
  const resolved = targetOf(target);
  return resolved.kind === 'single'
    ? `redis://${new URL(resolved.url).host}`
    : `redis-cluster://${resolved.nodes.join(',')}`;
}

/** `host:port` or `[v6]:port` to what ioredis takes. */
export function clusterNodeAddress(node: string): { host: string; port: number } {
  const colon = node.lastIndexOf(':');
  return {
    host: node.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(node.slice(colon + 1)),
  };
}

/**
 * The Cluster's own options, beside the per-kind ones. A cluster that is down altogether is
 * reconnected every 2 s at most; CLUSTER SLOTS gets 2 s (a loaded node answers slowly, and a
 * timed-out refresh leaves stale routes); `enableReadyCheck` waits for `cluster_state:ok`.
 */
const CLUSTER_OPTIONS: ClusterOptions = {
  scaleReads: 'master',
  enableReadyCheck: true,
  slotsRefreshTimeout: 2_000,
  clusterRetryStrategy: (times: number) => Math.min(100 * times, 2_000),
  maxRedirections: 16,
  retryDelayOnFailover: 200,
  retryDelayOnClusterDown: 200,
};

const CLUSTER_KIND_OPTIONS: Record<RedisConnectionKind, ClusterOptions> = {
  commands: {
    enableOfflineQueue: false,
    redisOptions: {
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
    },
  },
  workers: {
    enableOfflineQueue: true,
    // A command caught by a failover is resent every 200 ms for up to a minute (Redis's default
    // cluster-node-timeout is 15 s, and an election follows it): a worker waits the failover out,
    // as it waits for a single Redis. With ioredis's default 16 it gave up after about 3 s, and
    // BullMQ turned a job's failed completion into a dead letter (the cluster fault campaign).
    maxRedirections: 300,
    redisOptions: { maxRetriesPerRequest: null, connectTimeout: CONNECT_TIMEOUT_MS },
  },
};

/**
 * The longest a Cluster may take to become ready at start: its seeds answer, the slots are read
 * and `cluster_state:ok`. ioredis would otherwise keep trying forever (a cluster whose state is
 * `fail` answers, but never becomes ready).
 */
const CLUSTER_READY_TIMEOUT_MS = 10_000;

export class RedisUnreachableError extends Error {}

/** Network-level failures and ioredis's own words for "not connected". */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'EAI_AGAIN',
]);
const CONNECTION_ERROR_MESSAGE =
  /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out|Reached the max retries per request|connect ETIMEDOUT|ECONNREFUSED|ECONNRESET|Socket closed unexpectedly|LOADING|CLUSTERDOWN|TRYAGAIN|Failed to refresh slots cache|None of startup nodes is available|Too many Cluster redirections|Cluster is ended/;

/**
 * ioredis's rejections of a command it could not send or got no answer to (never Postgres's
 * words), and a Redis Cluster's for a slot no master serves now (CLUSTERDOWN, during a failover)
 * or one that is moving (TRYAGAIN).
 */
const COMMAND_UNAVAILABLE_MESSAGE =
  /Stream isn't writeable|enableOfflineQueue|Reached the max retries per request|Command timed out|Connection is closed|^CLUSTERDOWN|^TRYAGAIN|^READONLY|^UNBLOCKED|Too many Cluster redirections|Cluster is ended|None of startup nodes is available/;

/**
 * A node's answer while a Redis Cluster changes hands (a failover, planned or not): a blocked
 * worker command released because its master became a replica (UNBLOCKED), a write that reached
 * the new replica (READONLY). What was refused is retried by the worker loop on the new master.
 */
const TOPOLOGY_CHANGE_MESSAGE = /^(UNBLOCKED|READONLY) /;

export function isRedisTopologyChange(error: unknown): boolean {
  return error instanceof Error && TOPOLOGY_CHANGE_MESSAGE.test(error.message);
}

/** One "topology changed" line per this long, however many workers report it. */
const TOPOLOGY_LOG_INTERVAL_MS = 10_000;

/**
 * True when a command was refused because Redis cannot be reached now: what an HTTP request that
 * needs the queue turns into a 503. Only ioredis's own messages, so that a Postgres outage
 * (ECONNREFUSED too) is never reported as Redis's.
 */
export function isRedisCommandUnavailable(error: unknown): boolean {
  return error instanceof Error && COMMAND_UNAVAILABLE_MESSAGE.test(error.message);
}

/**
 * True for an error that means "Redis cannot be reached now", as opposed to a bug or a refusal:
 * the errors connections and BullMQ emit (network codes) and refused commands.
 */
export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  if (CONNECTION_ERROR_MESSAGE.test(error.message) || isRedisCommandUnavailable(error)) return true;
  const errors = (error as { errors?: unknown }).errors;
  return Array.isArray(errors) && errors.some(isRedisConnectionError);
}

/** A cluster is back once it says so and no connection has erred for this long. */
const CLUSTER_QUIET_MS = 1_000;
const CLUSTER_PROBE_MS = 500;

/**
 * The shared connection-state logger and registry. `up` until a connection reports an error, then
 * `down` until a connection is ready again (on a cluster: until the cluster is healthy and quiet):
 * one log line at each change.
 */
export class RedisConnections {
  private readonly clients = new Set<RedisClient>();
  private readonly target: RedisTarget;
  private readonly where: string;
  private logger: Logger | undefined;
  private state: 'up' | 'down' = 'up';
  private lostAtMs = 0;
  private lastErrorAtMs = 0;
  /** Failures absorbed while down, reported in the "back" line. */
  private absorbed = 0;
  private closed = false;
  private probe: NodeJS.Timeout | undefined;
  private topologyLoggedAtMs = 0;

  constructor(target: string | RedisTarget, logger?: Logger) {
    this.target = targetOf(target);
    this.where =
      this.target.kind === 'single' ? new URL(this.target.url).host : this.target.nodes.join(',');
    this.logger = logger;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** Follows a connection, and every duplicate made of it (BullMQ's blocking connections). */
  watch<C extends RedisClient>(client: C): C {
    this.clients.add(client);
    client.on('error', (error: Error) => this.down(error));
    // A Cluster reports each node's errors apart (a master lost while the rest serve).
    if (client instanceof Cluster)
      client.on('node error', (error: Error, node: string) => this.down(error, node));
    client.on('ready', () => this.up());
    client.on('end', () => this.clients.delete(client));
    // Redis.duplicate(options) and Cluster.duplicate(nodes, options): passed on as they come.
    const duplicate = (client.duplicate as (...args: unknown[]) => RedisClient).bind(client);
    (client as { duplicate: unknown }).duplicate = (...args: unknown[]) =>
      this.watch(duplicate(...args));
    return client;
  }

  /**
   * Takes a connection error from a BullMQ Queue or Worker (they re-emit their connections'
   * errors, one per partition per retry). Answers true when it was one, and it is then the
   * caller's to drop: the state change has been logged here.
   */
  absorb(error: unknown): boolean {
    // Not an outage: every worker blocked on the old master says so at once; one line says it.
    if (isRedisTopologyChange(error)) {
      if (
        performance.now() - this.topologyLoggedAtMs >= TOPOLOGY_LOG_INTERVAL_MS ||
        !this.topologyLoggedAtMs
      ) {
        this.topologyLoggedAtMs = performance.now();
        this.logger?.info(
          { redisCluster: this.where, reason: (error as Error).message },
          'Redis Cluster topology changed: workers go on with the new masters',
        );
      }
      return true;
    }
    if (isRedisConnectionError(error)) {
      this.down(error as Error);
      return true;
    }
    // While Redis is away, whatever else a worker reports follows from it (a lock it could not
    // renew, say); it is counted, and the "back" line says how many.
    if (this.state === 'down') {
      this.absorbed += 1;
      return true;
    }
    return false;
  }

  private down(error: Error, node?: string): void {
    if (this.closed) return;
    this.lastErrorAtMs = performance.now();
    if (this.state === 'down') {
      this.absorbed += 1;
      return;
    }
    this.state = 'down';
    this.lostAtMs = performance.now();
    this.absorbed = 0;
    if (this.target.kind === 'single') {
      this.logger?.warn(
        { redis: this.where, reason: error.message },
        'Redis connection lost: retrying; writes that need Redis answer 503 until it is back',
      );
      return;
    }
    this.logger?.warn(
      { redisCluster: this.where, ...(node && { node }), reason: error.message },
      'Redis Cluster connection lost: retrying; writes for the partitions it cannot serve answer 503 until a replica takes over or the node is back',
    );
    this.probe ??= setInterval(() => void this.probeCluster(), CLUSTER_PROBE_MS);
    this.probe.unref();
  }

  private up(): void {
    if (this.state === 'up' || this.closed) return;
    this.state = 'up';
    clearInterval(this.probe);
    this.probe = undefined;
    const downSeconds = Math.round((performance.now() - this.lostAtMs) / 100) / 10;
    if (this.target.kind === 'single')
      this.logger?.info(
        { redis: this.where, downSeconds, failuresAbsorbed: this.absorbed },
        'Redis connection back',
      );
    else
      this.logger?.info(
        { redisCluster: this.where, downSeconds, failuresAbsorbed: this.absorbed },
        'Redis Cluster connection back: every slot served',
      );
  }

  /** A failover keeps the cluster client "ready": back is when the cluster says ok, and all is quiet. */
  private async probeCluster(): Promise<void> {
    if (performance.now() - this.lastErrorAtMs < CLUSTER_QUIET_MS) return;
    const cluster = [...this.clients].find(
      (client): client is Cluster => client instanceof Cluster && client.status === 'ready',
    );
    if (!cluster) return;
    try {
      const health = clusterHealth(String(await cluster.cluster('INFO')));
      if (health.ok && performance.now() - this.lastErrorAtMs >= CLUSTER_QUIET_MS) this.up();
    } catch {
      // Still unreachable: the next probe asks again.
    }
  }

  /** Ends every connection now: pending commands fail, nothing reconnects. For shutdown. */
  disconnectAll(): void {
    this.closed = true;
    clearInterval(this.probe);
    this.probe = undefined;
    for (const client of this.clients) client.disconnect();
    this.clients.clear();
  }
}

/** What `CLUSTER INFO` says about serving: ok only with every slot assigned and served. */
export function clusterHealth(info: string): { ok: boolean; summary: string } {
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  const state = field('cluster_state') ?? 'unknown';
  const served = Number(field('cluster_slots_ok') ?? 0);
  const ok = state === 'ok' && served === 16_384;
  return { ok, summary: `cluster_state:${state}, ${served}/16384 slots served` };
}

/**
 * Readiness of the queue store on a cluster: the cluster client is connected and the node asked
 * says every slot is served. A PING would only show that one node answers.
 */
export async function pingRedis(client: RedisClient): Promise<void> {
  if (client instanceof Cluster) {
    const health = clusterHealth(String(await client.cluster('INFO')));
    if (!health.ok) throw new Error(health.summary);
    return;
  }
  const answer = await client.ping();
  if (answer !== 'PONG') throw new Error(`PING answered ${answer}`);
}

/**
 * Opens one connection of `kind` (`workers` when not given) and waits until it is ready; an
 * unreachable server or cluster is reported with what to do about it.
 */
export async function openRedis(
  target: string,
  options?: { kind?: RedisConnectionKind; connections?: RedisConnections },
): Promise<Redis>;
export async function openRedis(
  target: RedisTarget,
  options?: { kind?: RedisConnectionKind; connections?: RedisConnections },
): Promise<RedisClient>;
export async function openRedis(
  target: string | RedisTarget,
  options: { kind?: RedisConnectionKind; connections?: RedisConnections } = {},
): Promise<RedisClient> {
  const resolved = targetOf(target);
  const kind = options.kind ?? 'workers';
  if (resolved.kind === 'cluster') {
    const cluster = await openCluster(resolved.nodes, kind);
    return options.connections ? options.connections.watch(cluster) : cluster;
  }
  const url = resolved.url;
  const redis = new Redis(url, {
    ...OPTIONS[kind],
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
  });
  redis.on('error', () => {
    // ioredis reconnects by itself; the connection-state logger (when watching) says so once.
  });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    const where = new URL(url).host;
    throw new RedisUnreachableError(
      `Redis is not reachable at ${where} (${(error as Error).message}).\n` +
        `  Start it with \`docker compose up -d postgres redis\` from the repository root,\n` +
        `  or point REDIS_URL at a running server (redis://host:6379).`,
    );
  }
  return options.connections ? options.connections.watch(redis) : redis;
}

async function openCluster(nodes: readonly string[], kind: RedisConnectionKind): Promise<Cluster> {
  const cluster = new Cluster(nodes.map(clusterNodeAddress), {
    ...CLUSTER_OPTIONS,
    ...CLUSTER_KIND_OPTIONS[kind],
    lazyConnect: true,
  });
  let lastError: Error | undefined;
  const remember = (error: Error) => {
    // ioredis retries by itself; the connection-state logger (when watching) says so once.
    // "Failed to refresh slots cache" carries the node's own words (say, a Redis that is not
    // a cluster: "This instance has cluster support disabled").
    lastError = (error as { lastNodeError?: Error }).lastNodeError ?? error;
  };
  cluster.on('error', remember);
  cluster.on('node error', remember);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      cluster.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `not ready within ${CLUSTER_READY_TIMEOUT_MS / 1000} s` +
                  (lastError ? `: ${lastError.message}` : ''),
              ),
            ),
          CLUSTER_READY_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (error) {
    cluster.disconnect();
    const reason = (error as Error).message;
    throw new RedisUnreachableError(
      `Redis Cluster is not reachable at ${nodes.join(',')} (${reason}` +
        (lastError && !reason.includes(lastError.message) ? `; ${lastError.message}` : '') +
        `).\n` +
        `  Check that a seed node answers and the cluster is whole: redis-cli -h HOST -p PORT cluster info\n` +
        `  shows cluster_state:ok. \`npm run cluster\` starts a local one; REDIS_CLUSTER_NODES lists\n` +
        `  seed nodes as host:port,host:port.`,
    );
  } finally {
    clearTimeout(timer);
    cluster.off('error', remember);
    cluster.off('node error', remember);
  }
  cluster.on('error', () => undefined);
  cluster.on('node error', () => undefined);
  return cluster;
}
