/**
 * Starts the real service for a test file: its own cloned database, its own BullMQ prefix, an
 * ephemeral port, and a known API key. `stop()` closes it and removes what it made.
 */
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { startService, type Service } from '../../scripts/service.ts';
import { loadConfig } from '../../worker/runtime/config.ts';
import { deleteQueueKeys } from '../../worker/jobs/queueKeys.ts';
import { redisTargetOf } from '../../worker/jobs/redis.ts';
import { cloneTemplateDatabase } from './databases.ts';
import { testClockStart } from './testDates.ts';

export const TEST_API_KEY = 'test_key_0123456789';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/**
 * `npm run test:cluster` (test/vitest.cluster.config.ts) starts a local Redis Cluster and sets
 * TEST_REDIS_CLUSTER_NODES to its seed nodes: services started here then keep their queues on it.
 */
export const REDIS_CLUSTER_NODES = process.env.TEST_REDIS_CLUSTER_NODES || undefined;
/** The service environment naming this run's Redis: REDIS_URL, or REDIS_CLUSTER_NODES on a cluster. */
export const REDIS_ENV: Record<string, string> = REDIS_CLUSTER_NODES
  ? { REDIS_CLUSTER_NODES }
  : { REDIS_URL };
/**
 * `TEST_QUEUE_STORE=postgres npm test` runs the suite with the queues in Postgres instead of Redis;
 * globalSetup sets it when no TEST_REDIS_URL was given and nothing answers at 127.0.0.1:6379.
 */
export const QUEUE_STORE = process.env.TEST_QUEUE_STORE === 'postgres' ? 'postgres' : 'redis';

export interface TestService {
  service: Service;
  baseUrl: string;
  queuePrefix: string;
  databaseUrl: string;
  /** `fetch` against the service with the API key and JSON content type set. */
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  stop(): Promise<void>;
}

/**
 * With `TEST_CLOCK_START` or `TEST_CLOCK_YEARS_AHEAD` set (testDates.ts), a service that runs every
 * role and names no clock of its own gets `CLOCK=manual` starting then, so the tests that read
 * their dates from the service's clock run as on that day. A test that sets `CLOCK` or
 * `CLOCK_START` keeps them; the manual clock lives in the api's process, so split roles keep theirs.
 */
function clockEnv(env: Record<string, string>): Record<string, string> {
  const start = testClockStart();
  if (!start || (env.ROLE ?? 'all') !== 'all' || env.CLOCK_START !== undefined) return {};
  if (env.CLOCK === undefined || env.CLOCK === 'manual')
    return { CLOCK: 'manual', CLOCK_START: start.toISOString() };
  return {};
}

/** `options.logger` replaces the silent default, for a test that reads the service's log lines. */
export async function startTestService(
  env: Record<string, string> = {},
  options: { logger?: Logger } = {},
): Promise<TestService> {
  const database = await cloneTemplateDatabase();
  const queuePrefix = `test-${randomBytes(5).toString('hex')}`;
  const config = loadConfig({
    DATABASE_URL: database.url,
    // A test that names its own Redis (REDIS_URL) or the Postgres queues keeps them on a cluster run.
    ...(env.REDIS_URL !== undefined || (env.QUEUE_STORE ?? QUEUE_STORE) === 'postgres'
      ? { REDIS_URL }
      : REDIS_ENV),
    PORT: '0',
    API_KEYS: TEST_API_KEY,
    PARTITIONS: '4',
    QUEUE_PREFIX: queuePrefix,
    QUEUE_STORE,
    LOG_LEVEL: 'silent',
    ...env,
    ...clockEnv(env),
  });
  const service = await startService(config, {
    logger: options.logger ?? pino({ level: config.logLevel }),
  });
  const baseUrl = service.url ?? '';
  return {
    service,
    baseUrl,
    queuePrefix,
    databaseUrl: database.url,
    async request(method, path, body, headers = {}) {
      const response = await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${TEST_API_KEY}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body:
          body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: response.status, headers: response.headers, body: parsed, text };
    },
    async stop() {
      await service.close();
      // Queues in Postgres went with the database; a Redis may not even be there.
      if (config.queueStore === 'redis') await deleteQueueKeys(redisTargetOf(config), queuePrefix);
      await database.drop();
    },
  };
}
