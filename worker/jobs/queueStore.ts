/**
 * Where the partition queues live. Redis is the store the service is built and measured on.
 * BullMQ's PostgreSQL backend is the zero-install store (scripts/start.ts): when no Redis answers
 * and none was asked for, the queues live in Postgres beside the ledger, so a newcomer needs
 * nothing but Node. Everything the service does with its queues beyond BullMQ's own API (pub/sub
 * of outcomes, the recorded partition count, reading the failed set by score, a job's enqueue
 * time) goes through this interface, so the rest of the code never asks which store it has.
 */
import {
  createPostgresBackend,
  Queue,
  Worker,
  withBackend,
  type Processor,
  type WorkerOptions,
} from 'bullmq';
import { Cluster } from 'ioredis';
import pg from 'pg';
import type { Logger } from 'pino';
import { pingDatabase } from '../store/databasePing.ts';
import { listen, notify } from '../store/notifications.ts';
import {
  createQueuePartitionCounts,
  readQueuePartitionCount,
  writeQueuePartitionCount,
} from '../store/queuePartitionCounts.ts';
import {
  describeRedisTarget,
  openRedis,
  pingRedis,
  RedisConnections,
  type RedisClient,
  type RedisTarget,
} from './redis.ts';

/** A place in the failed set: BullMQ scores it by the time the job finished. */
export interface FailedJobKey {
  failedAtMs: number;
  partition: number;
  id: string;
}

export type WorkerSettings = Pick<
  WorkerOptions,
  'concurrency' | 'lockDuration' | 'stalledInterval' | 'maxStalledCount'
>;

export interface QueueStore {
  readonly kind: 'redis' | 'postgres';
  /** The name of the readiness check of this store (api/routes/health.ts). */
  readonly readinessCheck: 'redis' | 'redis_cluster' | 'queues';
  /**
   * Where the queues are, for people: `redis://host:port`, `redis-cluster://seed,seed,…` or the
   * database's name.
   */
  readonly location: string;
  queue(name: string, prefix: string): Queue;
  worker(name: string, prefix: string, processor: Processor, settings: WorkerSettings): Worker;
  ping(): Promise<void>;
  /** One channel for every api process under `prefix`; a lost message only means a 202. */
  publish(channel: string, message: string): Promise<void>;
  /** Delivers every message on `channel` until the returned function is called. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  /** The partition count the service last started with under `prefix`. */
  readPartitionCount(prefix: string): Promise<number | undefined>;
  writePartitionCount(prefix: string, partitions: number): Promise<void>;
  /** Up to `count` failed jobs at or before `atOrBeforeMs`, newest first, ties included. */
  failedJobKeys(
    queue: Queue,
    partition: number,
    atOrBeforeMs: number | undefined,
    count: number,
  ): Promise<FailedJobKey[]>;
  /** When a waiting job was enqueued, on the real clock; undefined when it has gone. */
  enqueuedAtMs(queue: Queue, jobId: string): Promise<number | undefined>;
  /**
   * Answers true for an error that only says the store is unreachable (its state change is
   * logged once by the store): the caller drops it instead of logging it again.
   */
  absorbConnectionError(error: unknown): boolean;
  /** False while the store is known to be unreachable (Redis lost and not back). */
  reachable(): boolean;
  /** Ends every connection, even with the server unreachable: what still waits on one fails. */
  close(): Promise<void>;
}

/**
 * One key, so on a Redis Cluster it lives on one slot like any other; every command of this store
 * names one key (or none: PUBLISH, which a cluster passes to every node).
 */
const partitionCountKey = (prefix: string) => `${prefix}:ledger:partitions`;

/**
 * Redis, or a Redis Cluster (REDIS_CLUSTER_NODES): each partition queue carries its own hash tag
 * (`{ledger-07}`, worker/jobs/partition.ts) and BullMQ names every key of a queue
 * `prefix:{ledger-07}:…`, so each queue's scripts touch one slot and the partitions spread over
 * the cluster's masters.
 */
export class RedisQueueStore implements QueueStore {
  readonly kind = 'redis';
  readonly readinessCheck: 'redis' | 'redis_cluster';
  readonly location: string;
  /**
   * Public for tests and tools that need Redis itself (deleting a test prefix, say). The
   * command connection (worker/jobs/redis.ts): fails at once while disconnected.
   */
  readonly redis: RedisClient;
  /** BullMQ Workers' connection: waits for Redis (maxRetriesPerRequest null, as BullMQ requires). */
  private readonly workerRedis: RedisClient;
  private readonly connections: RedisConnections | undefined;

  constructor(
    redis: RedisClient,
    target: string | RedisTarget,
    options: { workerRedis?: RedisClient; connections?: RedisConnections } = {},
  ) {
    this.redis = redis;
    this.workerRedis = options.workerRedis ?? redis;
    this.connections = options.connections;
    this.location = describeRedisTarget(target);
    this.readinessCheck =
      typeof target !== 'string' && target.kind === 'cluster' ? 'redis_cluster' : 'redis';
  }

  /** A command connection and a worker connection, both followed by one connection-state logger. */
  static async open(target: string | RedisTarget, logger?: Logger): Promise<RedisQueueStore> {
    const resolved: RedisTarget =
      typeof target === 'string' ? { kind: 'single', url: target } : target;
    const connections = new RedisConnections(resolved, logger);
    const redis = await openRedis(resolved, { kind: 'commands', connections });
    try {
      const workerRedis = await openRedis(resolved, { kind: 'workers', connections });
      return new RedisQueueStore(redis, resolved, { workerRedis, connections });
    } catch (error) {
      redis.disconnect();
      throw error;
    }
  }

  queue(name: string, prefix: string): Queue {
    return new Queue(name, { connection: this.redis, prefix });
  }

  worker(name: string, prefix: string, processor: Processor, settings: WorkerSettings): Worker {
    return new Worker(name, processor, { connection: this.workerRedis, prefix, ...settings });
  }

  absorbConnectionError(error: unknown): boolean {
    return this.connections?.absorb(error) ?? false;
  }

  reachable(): boolean {
    return this.connections?.isUp ?? true;
  }

  /** PING; on a cluster, that every slot is served (worker/jobs/redis.ts). */
  async ping(): Promise<void> {
    await pingRedis(this.redis);
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.redis.publish(channel, message);
  }

  async subscribe(
    channel: string,
    onMessage: (message: string) => void,
  ): Promise<() => Promise<void>> {
    // A subscribed connection can do nothing else, so it is a connection of its own. On a
    // cluster, ioredis subscribes through one node and moves to another if it is lost; PUBLISH
    // on any node reaches every node.
    const subscriber: RedisClient =
      this.redis instanceof Cluster ? this.redis.duplicate() : this.redis.duplicate();
    subscriber.on('error', () => {
      // ioredis reconnects and resubscribes; meanwhile waiters time out into 202s.
    });
    subscriber.on('message', (_channel: string, message: string) => onMessage(message));
    // Connected first: the command connection's options send nothing while disconnected.
    if (subscriber.status === 'wait') await subscriber.connect();
    await subscriber.subscribe(channel);
    return async () => subscriber.disconnect();
  }

  async readPartitionCount(prefix: string): Promise<number | undefined> {
    return Number(await this.redis.get(partitionCountKey(prefix))) || undefined;
  }

  async writePartitionCount(prefix: string, partitions: number): Promise<void> {
    await this.redis.set(partitionCountKey(prefix), String(partitions));
  }

  async failedJobKeys(
    queue: Queue,
    partition: number,
    atOrBeforeMs: number | undefined,
    count: number,
  ): Promise<FailedJobKey[]> {
    const key = queue.toKey('failed');
    const ties =
      atOrBeforeMs === undefined ? 0 : await this.redis.zcount(key, atOrBeforeMs, atOrBeforeMs);
    const max = atOrBeforeMs === undefined ? '+inf' : String(atOrBeforeMs);
    const reply: unknown = await this.redis.zrevrangebyscore(
      key,
      max,
      '-inf',
      'WITHSCORES',
      'LIMIT',
      0,
      ties + count,
    );
    return scoredMembers(reply).map(([id, score]) => ({
      id,
      failedAtMs: Number(score),
      partition,
    }));
  }

  async enqueuedAtMs(queue: Queue, jobId: string): Promise<number | undefined> {
    // One field, not the whole job: a usage job carries up to a thousand events.
    const timestamp = Number(await this.redis.hget(queue.toKey(jobId), 'timestamp'));
    return Number.isFinite(timestamp) && timestamp > 0 ? timestamp : undefined;
  }

  async close(): Promise<void> {
    if (this.connections) this.connections.disconnectAll();
    else this.redis.disconnect();
  }
}

/** `WITHSCORES` answers `[member, score]` pairs over RESP3 and a flat list over RESP2. */
function scoredMembers(reply: unknown): [string, unknown][] {
  if (!Array.isArray(reply)) return [];
  if (reply.every((item) => Array.isArray(item)))
    return reply.map((pair: unknown[]) => [String(pair[0]), pair[1]]);
  const pairs: [string, unknown][] = [];
  for (let index = 0; index + 1 < reply.length; index += 2)
    pairs.push([String(reply[index]), reply[index + 1]]);
  return pairs;
}

const postgresQueues = withBackend(createPostgresBackend);
/** BullMQ's own tables live in this schema, apart from the ledger's. */
const QUEUE_SCHEMA = 'bullmq';
/** Connections beyond one LISTEN client per partition worker, for the queries themselves. */
const QUEUE_POOL_SPARE = 8;
/** Postgres refuses NOTIFY payloads from 8000 bytes; a longer outcome is left to polling. */
const NOTIFY_PAYLOAD_MAX_BYTES = 7_999;

export class PostgresQueueStore implements QueueStore {
  readonly kind = 'postgres';
  readonly readinessCheck = 'queues';
  readonly location: string;
  private readonly url: string;
  /** For this store's own statements (worker/store/), outside BullMQ's schema. */
  private readonly pool: pg.Pool;
  /**
   * Shared by every Queue and Worker. BullMQ would otherwise open a pool per queue and per
   * worker: with 16 partitions that passes Postgres's default of 100 connections. Each worker
   * keeps one client checked out for LISTEN, hence the room per partition.
   */
  private readonly queuePool: pg.Pool;

  private constructor(url: string, pool: pg.Pool, queuePool: pg.Pool) {
    this.url = url;
    this.pool = pool;
    this.queuePool = queuePool;
    const { host, pathname } = new URL(url);
    this.location = `postgres://${host}${pathname} (schema ${QUEUE_SCHEMA})`;
  }

  /** Creates BullMQ's schema (its migrations) and this store's one table when missing. */
  static async open(url: string, partitions: number): Promise<PostgresQueueStore> {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    // BullMQ's statements use unqualified names, resolved in its schema.
    const queuePool = new pg.Pool({
      connectionString: url,
      max: partitions + QUEUE_POOL_SPARE,
      options: `-c search_path=${QUEUE_SCHEMA}`,
    });
    // Every Queue and Worker listens for the shared pool's errors.
    queuePool.setMaxListeners(0);
    for (const each of [pool, queuePool]) {
      each.on('error', () => {
        // An idle client lost with the server; the next query reports the outage.
      });
    }
    try {
      // Opening a queue once with `migrate` runs BullMQ's migrations under its advisory lock.
      const first = new postgresQueues.Queue('{migrate}', {
        connection: { connectionString: url, schema: QUEUE_SCHEMA, migrate: true, max: 1 },
      });
      await first.waitUntilReady();
      await first.close();
      await createQueuePartitionCounts(pool);
      return new PostgresQueueStore(url, pool, queuePool);
    } catch (error) {
      await Promise.all([pool.end(), queuePool.end()]);
      throw error;
    }
  }

  queue(name: string, prefix: string): Queue {
    return new postgresQueues.Queue(name, {
      connection: this.queuePool,
      prefix,
    }) as unknown as Queue;
  }

  worker(name: string, prefix: string, processor: Processor, settings: WorkerSettings): Worker {
    return new postgresQueues.Worker(name, processor, {
      connection: this.queuePool,
      prefix,
      ...settings,
    }) as unknown as Worker;
  }

  async ping(): Promise<void> {
    await pingDatabase(this.pool);
  }

  async publish(channel: string, message: string): Promise<void> {
    if (Buffer.byteLength(message) > NOTIFY_PAYLOAD_MAX_BYTES) return;
    await notify(this.pool, channel, message);
  }

  async subscribe(
    channel: string,
    onMessage: (message: string) => void,
  ): Promise<() => Promise<void>> {
    // LISTEN holds its session, so it is a client of its own, outside the pool.
    const listener = new pg.Client({ connectionString: this.url });
    listener.on('error', () => {
      // Lost with the server: waiters time out into 202s and clients poll.
    });
    listener.on('notification', (notification) => {
      if (notification.channel === channel && notification.payload !== undefined)
        onMessage(notification.payload);
    });
    await listener.connect();
    await listen(listener, channel);
    return async () => {
      await listener.end().catch(() => undefined);
    };
  }

  async readPartitionCount(prefix: string): Promise<number | undefined> {
    return readQueuePartitionCount(this.pool, prefix);
  }

  async writePartitionCount(prefix: string, partitions: number): Promise<void> {
    await writeQueuePartitionCount(this.pool, prefix, partitions);
  }

  async failedJobKeys(
    queue: Queue,
    partition: number,
    atOrBeforeMs: number | undefined,
    count: number,
  ): Promise<FailedJobKey[]> {
    // The quick start's failed sets are small: read them whole and order them here.
    const jobs = await queue.getFailed(0, -1);
    return jobs
      .map((job) => ({ id: String(job.id), failedAtMs: job.finishedOn ?? 0, partition }))
      .filter((key) => atOrBeforeMs === undefined || key.failedAtMs <= atOrBeforeMs)
      .sort((a, b) => b.failedAtMs - a.failedAtMs)
      .slice(0, count + jobs.filter((job) => job.finishedOn === atOrBeforeMs).length);
  }

  async enqueuedAtMs(queue: Queue, jobId: string): Promise<number | undefined> {
    const job = await queue.getJob(jobId);
    return job?.timestamp;
  }

  absorbConnectionError(): boolean {
    return false;
  }

  reachable(): boolean {
    return true;
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.queuePool.end()]);
  }
}
