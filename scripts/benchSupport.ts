/**
 * Shared by the benchmarks: start the service as its own process (so the load generator does not
 * share its event loop), wait for it, and summarise latencies. Traffic goes to 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { Queue } from 'bullmq';
import pg from 'pg';
import { partitionQueueName } from '../worker/jobs/partition.ts';
import { deleteQueueKeys } from '../worker/jobs/queueKeys.ts';
import { openRedis, type RedisTarget } from '../worker/jobs/redis.ts';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BENCH_API_KEY = 'bench_key_0123456789';

export interface RunningService {
  /** Empty for a ROLE=worker process, which does not listen. */
  baseUrl: string;
  queuePrefix: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

const START_WAIT_MS = 30_000;

/**
 * Starts `scripts/start.ts` as a child process and waits until it serves (`/v1/ping`) or, with
 * `ROLE=worker`, until every partition has a worker. Processes given the same `QUEUE_PREFIX` in
 * `env` share their queues (an api and a worker process); without one each gets its own.
 */
export async function startServiceProcess(env: Record<string, string>): Promise<RunningService> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const queuePrefix = env.QUEUE_PREFIX ?? `bench-${randomBytes(4).toString('hex')}`;
  const redis = benchRedisTarget(env);
  const child = spawn(process.execPath, [fileURLToPath(new URL('./start.ts', import.meta.url))], {
    env: {
      ...process.env,
      PORT: String(port),
      WORKER_PORT: '0',
      API_KEYS: BENCH_API_KEY,
      LOG_LEVEL: 'warn',
      QUEUE_PREFIX: queuePrefix,
      // What the figures are about: the configured Postgres and Redis, never an embedded stand-in.
      QUICK_START: 'off',
      QUEUE_STORE: 'redis',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const baseUrl = env.ROLE === 'worker' ? '' : `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_WAIT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with code ${child.exitCode}`);
    if (
      baseUrl === ''
        ? await workersRunning(redis, queuePrefix, Number(env.PARTITIONS ?? 16))
        : await answersPing(baseUrl)
    )
      break;
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`service did not start within ${START_WAIT_MS / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    baseUrl,
    queuePrefix,
    process: child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
      // Queues in Postgres went with the database; only Redis keeps keys to remove.
      if ((env.QUEUE_STORE ?? 'redis') === 'redis') await deleteQueueKeys(redis, queuePrefix);
    },
  };
}

async function answersPing(baseUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl}/v1/ping`, {
      headers: { authorization: `Bearer ${BENCH_API_KEY}` },
    });
    return response.ok;
  } catch {
    return false; // not listening yet
  }
}

/**
 * The Redis a benchmark's service uses: REDIS_CLUSTER_NODES (a Redis Cluster) or REDIS_URL, from
 * the service's environment or this process's, as the service itself reads them.
 */
export function benchRedisTarget(env: Record<string, string> = {}): RedisTarget {
  const clusterNodes = env.REDIS_CLUSTER_NODES ?? process.env.REDIS_CLUSTER_NODES;
  if (clusterNodes && env.REDIS_URL === undefined)
    return { kind: 'cluster', nodes: clusterNodes.split(',').map((node) => node.trim()) };
  return {
    kind: 'single',
    url: env.REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  };
}

async function workersRunning(
  redis: RedisTarget,
  queuePrefix: string,
  partitions: number,
): Promise<boolean> {
  const connection = await openRedis(redis, { kind: 'commands' });
  try {
    for (let partition = 0; partition < partitions; partition += 1) {
      const queue = new Queue(partitionQueueName(partition), { connection, prefix: queuePrefix });
      const count = await queue.getWorkersCount();
      await queue.close();
      if (count === 0) return false;
    }
    return true;
  } finally {
    connection.disconnect();
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function parseArgs(defaults: Record<string, number>): Record<string, number> {
  const values = { ...defaults };
  const args = process.argv.slice(2);
  for (let index = 0; index < args.length; index += 1) {
    const name = args[index]?.replace(/^--/, '');
    const value = Number(args[index + 1]);
    if (name && name in values && Number.isFinite(value)) {
      values[name] = value;
      index += 1;
    } else {
      throw new Error(
        `unknown or invalid argument ${args[index]}; known: ${Object.keys(defaults)
          .map((key) => `--${key}`)
          .join(' ')}`,
      );
    }
  }
  return values;
}

/**
 * A lean keep-alive HTTP POST. The load generator shares the machine with the service, so it
 * uses node:http rather than fetch, which costs several times more CPU per request.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

export function postJson(
  url: string,
  apiKey: string,
  body: string,
  headers: Record<string, string> = {},
  timeoutMs?: number,
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return sendJson('POST', url, apiKey, body, headers, timeoutMs);
}

/** `postJson` with another method (a PUT). */
export function sendJson(
  method: string,
  url: string,
  apiKey: string,
  body: string,
  headers: Record<string, string> = {},
  timeoutMs?: number,
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      {
        method,
        agent,
        headers: {
          ...headers,
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            headers: response.headers,
          }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    if (timeoutMs !== undefined) giveUpAfter(outgoing, timeoutMs);
    outgoing.end(body);
  });
}

/**
 * Open loops bound each request: one unanswered after `timeoutMs` fails (rejects) rather than
 * keeping the run going while an overloaded service works through its backlog.
 */
function giveUpAfter(outgoing: ReturnType<typeof request>, timeoutMs: number): void {
  const timer = setTimeout(
    () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)),
    timeoutMs,
  );
  outgoing.on('close', () => clearTimeout(timer));
}

/** A lean keep-alive HTTP GET, for the same reason as postJson. */
export function getJson(
  url: string,
  apiKey: string,
  timeoutMs?: number,
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method: 'GET', agent, headers: { authorization: `Bearer ${apiKey}` } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            headers: response.headers,
          }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    if (timeoutMs !== undefined) giveUpAfter(outgoing, timeoutMs);
    outgoing.end();
  });
}

/** How long an open loop waits for one answer before counting the request failed. */
export const OPEN_LOOP_TIMEOUT_MS = 10_000;

/**
 * The line a benchmark ends with, for scripts/bench-report.ts: `BENCH_RESULT` and one JSON
 * object (`bench` names it; figures carry their units in their names). Human-readable lines
 * come before it.
 */
export const RESULT_LINE_PREFIX = 'BENCH_RESULT ';

export function printResult(bench: string, figures: Record<string, unknown>): void {
  console.log(`${RESULT_LINE_PREFIX}${JSON.stringify({ bench, ...figures })}`);
}

/** The figures of the last result line in a benchmark's output, or undefined when it printed none. */
export function parseResult(output: string): Record<string, unknown> | undefined {
  const line = output
    .split('\n')
    .filter((candidate) => candidate.startsWith(RESULT_LINE_PREFIX))
    .at(-1);
  return line === undefined
    ? undefined
    : (JSON.parse(line.slice(RESULT_LINE_PREFIX.length)) as Record<string, unknown>);
}

/** Latency figures of a sample, in ms, rounded to 0.1 ms. */
export function latencySummary(latenciesMs: readonly number[]): {
  count: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
} {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    count: sorted.length,
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(percentile(sorted, 100)),
  };
}

/** VmRSS of a process, in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Drops and recreates the benchmark's database; the service migrates it at start. */
export async function recreateDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`refusing to recreate database named ${name}`);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`drop database if exists ${name} with (force)`);
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
}
