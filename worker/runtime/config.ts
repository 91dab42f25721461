/**
 * The service's configuration, read from the environment once at start and validated with zod
 * (ARCHITECTURE.md "Configuration"). Everything else receives a `Config`; nothing reads
 * `process.env` on its own.
 */
import { randomBytes } from 'node:crypto';
import { Duration } from 'luxon';
import { z } from 'zod';

const isoDuration = z
  .string()
  .refine((text) => Duration.fromISO(text).isValid, 'an ISO 8601 duration like PT12H');
/** A retention: a duration that keeps something, so never zero (that would delete answers at once). */
const retention = isoDuration.refine(
  (text) => Duration.fromISO(text).toMillis() > 0,
  'a duration longer than zero, like P7D',
);

/**
 * `host:port` seed nodes of a Redis Cluster, comma-separated: a hostname, an IPv4 address or a
 * bracketed IPv6 one, and a port. Any one reachable node is enough to discover the rest.
 */
const CLUSTER_NODE = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

function isClusterNode(node: string): boolean {
  const port = Number(CLUSTER_NODE.exec(node)?.[1] ?? 0);
  return port >= 1 && port <= 65_535;
}

const clusterNodes = z
  .string()
  .transform((text) =>
    text
      .split(',')
      .map((node) => node.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(
        z.string().refine(isClusterNode, {
          error: (issue) => `"${String(issue.input)}" is not host:port (like 10.0.0.5:6379)`,
        }),
      )
      .min(1, 'at least one host:port (like 10.0.0.5:6379,10.0.0.6:6379)'),
  );

const environment = z.object({
  DATABASE_URL: z.string().url().optional(),
  REDIS_URL: z.string().url().optional(),
  REDIS_CLUSTER_NODES: clusterNodes.optional(),
  QUEUE_STORE: z.enum(['redis', 'postgres']).default('redis'),
  QUICK_START: z.enum(['auto', 'off']).default('auto'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  WORKER_PORT: z.coerce.number().int().min(0).max(65535).default(8081),
  HOST: z.string().default('127.0.0.1'),
  API_KEYS: z.string().optional(),
  PARTITIONS: z.coerce.number().int().min(1).max(1024).default(16),
  SYNC_WAIT_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  GRACE_PERIOD: isoDuration.default('PT12H'),
  IDEMPOTENCY_KEY_RETENTION: retention.default('P7D'),
  REQUEST_RETENTION: retention.default('P90D'),
  ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  ADMIN_USER: z.string().optional(),
  ADMIN_PASSWORD: z.string().optional(),
  ADMIN_READ_ONLY: z.enum(['true', 'false']).default('true'),
  CLOCK: z.enum(['system', 'manual']).default('system'),
  CLOCK_START: z.iso.datetime({ offset: true }).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  QUEUE_PREFIX: z.string().min(1).default('bull'),
  BACKLOG_MAX: z.coerce.number().int().min(1).default(10_000),
  JOB_LOCK_MS: z.coerce.number().int().min(1_000).max(600_000).default(4_000),
  STRANDED_AFTER_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(10_000),
  SWEEP_EVERY_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  WEBHOOK_SECRET: z.string().min(1).optional(),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: z.enum(['true', 'false']).default('false'),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  WEBHOOK_RETRY_WINDOW: retention.default('P1D'),
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(1).default(1_000),
  WEBHOOK_RETRY_MAX_MS: z.coerce.number().int().min(1).default(3_600_000),
  WEBHOOK_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1_000).default(128),
  WEBHOOK_RETENTION: retention.default('P30D'),
});

/** Where `npm start` looks when no URL is given (and, finding nothing, starts embedded). */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/credits';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface Config {
  databaseUrl: string;
  /** The single Redis; unused when `redisClusterNodes` names a Redis Cluster. */
  redisUrl: string;
  /**
   * REDIS_CLUSTER_NODES: the seed nodes (`host:port`) of a Redis Cluster, which then holds the
   * queues instead of the Redis at REDIS_URL (worker/jobs/redis.ts).
   */
  redisClusterNodes: string[] | undefined;
  /** True when DATABASE_URL / REDIS_URL were set: an explicit URL is never replaced by the quick start. */
  databaseUrlGiven: boolean;
  redisUrlGiven: boolean;
  /** Where the partition queues live: Redis, or BullMQ's PostgreSQL backend in the database. */
  queueStore: 'redis' | 'postgres';
  /** `auto`: `npm start` runs embedded what is neither configured nor answering (scripts/quickStart.ts). */
  quickStart: 'auto' | 'off';
  port: number;
  host: string;
  /**
   * ROLE=worker only: the port of its own `/metrics`, `/health/live` and `/health/ready` (on
   * HOST); 0 picks a free one. With ROLE=all the api's port serves them.
   */
  workerPort: number;
  apiKeys: string[];
  /** True when no API_KEYS were given and a development key was made up for this run. */
  apiKeyGenerated: boolean;
  partitions: number;
  syncWaitMs: number;
  gracePeriod: Duration;
  /**
   * How long an Idempotency-Key (and a create's stored answer) is kept: a replay after it is a new
   * request, as with Orb's expiring keys (worker/sweeps/retentionSweep.ts).
   */
  idempotencyKeyRetention: Duration;
  /**
   * How long a finished (committed or failed) request is kept for `GET /v1/ledger_requests/{id}`
   * and `GET /v1/balance_transaction_requests/{id}`; after it they answer 404. Queued requests are
   * never swept, nor one whose key is still kept.
   */
  requestRetention: Duration;
  role: 'all' | 'api' | 'worker';
  adminUser: string | undefined;
  adminPassword: string | undefined;
  /** The dashboard only shows; ADMIN_READ_ONLY=false lets it retry and remove jobs. */
  adminReadOnly: boolean;
  clock: 'system' | 'manual';
  clockStart: Date | undefined;
  logLevel: string;
  /** BullMQ key prefix; tests give each file its own so that queues never collide. */
  queuePrefix: string;
  /** Waiting jobs a partition may hold before intake answers 429 (ARCHITECTURE.md "Backpressure"). */
  backlogMax: number;
  /**
   * How long a running job stays claimed without its worker renewing the claim (renewed every
   * half of it): after a worker dies (kill -9), its job runs again elsewhere within 1.25 of these
   * (worker/main.ts). A worker whose event loop stalls longer loses its job; the partition fence
   * keeps it from applying anything after that (worker/partitionFence.ts).
   */
  jobLockMs: number;
  /**
   * How long a request stays `queued` before the stranded sweep re-enqueues it, should its job be
   * gone (worker/sweeps/strandedSweep.ts, which says why any value is safe).
   */
  strandedAfterMs: number;
  /**
   * How often the scheduled sweeps run (worker/sweeps/scheduler.ts), and how often each worker
   * process checks that their schedule is still in the queue store. 30 s applies expiries within
   * a minute of their instant; tests shorten it.
   */
  sweepEveryMs: number;
  webhooks: WebhookConfig;
}

/** Webhook delivery (worker/delivery/). */
export interface WebhookConfig {
  /** WEBHOOK_URL and WEBHOOK_SECRET: a trusted endpoint receiving every event type. */
  configuredEndpoint: { url: string; secret: string } | undefined;
  /** Lets endpoints created through the API point at private or loopback addresses. */
  allowPrivateNetworks: boolean;
  timeoutMs: number;
  /** How long a failing delivery is retried (from its first attempt) before it is `failed`. */
  retryWindow: Duration;
  /** The first retry's delay, doubled at each attempt up to `retryMaxMs`, with jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** The fallback poll when no notification comes (a missed one, a due retry). */
  pollMs: number;
  /** Deliveries in flight per process (each a different chain). */
  concurrency: number;
  /** How long events and their delivery records are kept. */
  retention: Duration;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw new Error(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  const apiKeys = (e.API_KEYS ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter(Boolean);
  if (e.REDIS_CLUSTER_NODES && e.REDIS_URL !== undefined)
    throw new Error(
      'invalid configuration:\n  REDIS_URL and REDIS_CLUSTER_NODES: set one. REDIS_URL names a single Redis, ' +
        'REDIS_CLUSTER_NODES the seed nodes of a Redis Cluster (host:port,host:port,…)',
    );
  if (e.REDIS_CLUSTER_NODES && env.QUEUE_STORE === 'postgres')
    throw new Error(
      'invalid configuration:\n  REDIS_CLUSTER_NODES and QUEUE_STORE=postgres: set one (the queues live in one store)',
    );
  // BullMQ hashes a key by its first {…}: braces in the prefix would put every partition on one
  // slot, so one cluster node would carry all the queues (worker/jobs/partition.ts).
  if (e.REDIS_CLUSTER_NODES && /[{}]/.test(e.QUEUE_PREFIX))
    throw new Error(
      `invalid configuration:\n  QUEUE_PREFIX: "${e.QUEUE_PREFIX}" holds a brace; on a Redis Cluster each partition queue carries ` +
        'its own hash tag, and a {tag} in the prefix would put every queue on one slot',
    );
  if ((e.WEBHOOK_URL === undefined) !== (e.WEBHOOK_SECRET === undefined))
    throw new Error('invalid configuration:\n  WEBHOOK_URL and WEBHOOK_SECRET go together');
  const apiKeyGenerated = apiKeys.length === 0;
  if (apiKeyGenerated) apiKeys.push(`dev_${randomBytes(18).toString('base64url')}`);
  return {
    databaseUrl: e.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    redisUrl: e.REDIS_URL ?? DEFAULT_REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    databaseUrlGiven: e.DATABASE_URL !== undefined,
    redisUrlGiven: e.REDIS_URL !== undefined,
    queueStore: e.QUEUE_STORE,
    quickStart: e.QUICK_START,
    port: e.PORT,
    host: e.HOST,
    workerPort: e.WORKER_PORT,
    apiKeys,
    apiKeyGenerated,
    partitions: e.PARTITIONS,
    syncWaitMs: e.SYNC_WAIT_MS,
    gracePeriod: Duration.fromISO(e.GRACE_PERIOD),
    idempotencyKeyRetention: Duration.fromISO(e.IDEMPOTENCY_KEY_RETENTION),
    requestRetention: Duration.fromISO(e.REQUEST_RETENTION),
    role: e.ROLE,
    adminUser: e.ADMIN_USER,
    adminPassword: e.ADMIN_PASSWORD,
    adminReadOnly: e.ADMIN_READ_ONLY === 'true',
    clock: e.CLOCK,
    clockStart: e.CLOCK_START ? new Date(e.CLOCK_START) : undefined,
    logLevel: e.LOG_LEVEL,
    queuePrefix: e.QUEUE_PREFIX,
    backlogMax: e.BACKLOG_MAX,
    jobLockMs: e.JOB_LOCK_MS,
    strandedAfterMs: e.STRANDED_AFTER_MS,
    sweepEveryMs: e.SWEEP_EVERY_MS,
    webhooks: {
      configuredEndpoint:
        e.WEBHOOK_URL && e.WEBHOOK_SECRET
          ? { url: e.WEBHOOK_URL, secret: e.WEBHOOK_SECRET }
          : undefined,
      allowPrivateNetworks: e.WEBHOOK_ALLOW_PRIVATE_NETWORKS === 'true',
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      retryWindow: Duration.fromISO(e.WEBHOOK_RETRY_WINDOW),
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: e.WEBHOOK_RETRY_MAX_MS,
      pollMs: e.WEBHOOK_POLL_MS,
      concurrency: e.WEBHOOK_CONCURRENCY,
      retention: Duration.fromISO(e.WEBHOOK_RETENTION),
    },
  };
}
