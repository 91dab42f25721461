/**
 * Shared by the benchmarks: start the service as its own process (so the load generator does not
 * share its event loop), wait for it, and summarise latencies. Traffic goes to 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import pg from 'pg';
import { deleteQueueKeys } from '../worker/queueKeys.ts';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const BENCH_API_KEY = 'bench_key_0123456789';

export interface RunningService {
  baseUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startServiceProcess(env: Record<string, string>): Promise<RunningService> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const queuePrefix = `bench-${randomBytes(4).toString('hex')}`;
  const child = spawn(process.execPath, [fileURLToPath(new URL('./start.ts', import.meta.url))], {
    env: {
      ...process.env,
      PORT: String(port),
      API_KEYS: BENCH_API_KEY,
      LOG_LEVEL: 'warn',
      QUEUE_PREFIX: queuePrefix,
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with code ${child.exitCode}`);
    try {
      const response = await fetch(`${baseUrl}/v1/ping`, { headers: { authorization: `Bearer ${BENCH_API_KEY}` } });
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('service did not start within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    baseUrl,
    process: child,
    stop: async () => {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      await deleteQueueKeys(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', queuePrefix);
    },
  };
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
      throw new Error(`unknown or invalid argument ${args[index]}; known: ${Object.keys(defaults).map((key) => `--${key}`).join(' ')}`);
    }
  }
  return values;
}

/**
 * A lean keep-alive HTTP POST. The load generator shares the machine with the service, so it
 * uses node:http rather than fetch, which costs several times more CPU per request.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

export function postJson(url: string, apiKey: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
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

