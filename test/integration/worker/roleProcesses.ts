/**
 * Real service processes for the takeover tests: `scripts/start.ts` spawned with ROLE=api or
 * ROLE=worker on a test's own database and queue prefix, every log line kept, and signals
 * (SIGSTOP, SIGCONT, SIGKILL) sent by pid. `stopAll()` ends whatever is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../../scripts/freePort.ts';

export const ROLES_API_KEY = 'roles_key_0123456789';
const START_TIMEOUT_MS = 60_000;

export interface RoleProcess {
  role: 'api' | 'worker';
  child: ChildProcess;
  pid: number;
  /** The api's url, or the worker's own metrics and health url (WORKER_PORT). */
  url: string;
  /** Every JSON log line so far, parsed. */
  lines: Record<string, unknown>[];
}

export class RoleProcesses {
  readonly processes: RoleProcess[] = [];
  private readonly env: Record<string, string>;

  constructor(env: {
    databaseUrl: string;
    redisUrl: string;
    queuePrefix: string;
    partitions: number;
    extra?: Record<string, string>;
  }) {
    this.env = {
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: env.redisUrl,
      QUEUE_PREFIX: env.queuePrefix,
      PARTITIONS: String(env.partitions),
      API_KEYS: ROLES_API_KEY,
      QUEUE_STORE: 'redis',
      QUICK_START: 'off',
      WORKER_PORT: '0',
      LOG_LEVEL: 'info',
      ...env.extra,
    };
  }

  async start(role: 'api' | 'worker'): Promise<RoleProcess> {
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('../../../scripts/start.ts', import.meta.url))],
      {
        env: {
          ...process.env,
          ...this.env,
          ROLE: role,
          PORT: String(role === 'api' ? await freePort() : 0),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const started: RoleProcess = { role, child, pid: child.pid ?? 0, url: '', lines: [] };
    this.processes.push(started);
    let buffered = '';
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-2_000);
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${role} did not start: ${stderr}`)),
        START_TIMEOUT_MS,
      );
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${role} exited with code ${code} while starting: ${stderr}`));
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          let parsed: Record<string, unknown>;
          try {
            parsed = JSON.parse(line) as Record<string, unknown>;
          } catch {
            continue;
          }
          started.lines.push(parsed);
          if (parsed.msg === 'credits ledger started') {
            started.url = String(parsed.url);
            clearTimeout(timer);
            child.removeAllListeners('exit');
            resolve(started);
          }
        }
      });
    });
  }

  signal(target: RoleProcess, signal: NodeJS.Signals): void {
    process.kill(target.pid, signal);
  }

  async kill(target: RoleProcess): Promise<void> {
    if (target.child.exitCode !== null || target.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => target.child.once('exit', () => resolve()));
    process.kill(target.pid, 'SIGKILL');
    await exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.processes.map(async (each) => {
        if (each.child.exitCode !== null || each.child.signalCode !== null) return;
        // A stopped process cannot act on SIGTERM; these tests own them, so they end them outright.
        process.kill(each.pid, 'SIGCONT');
        await this.kill(each);
      }),
    );
  }
}

/** `fetch` against a role with the test key and JSON bodies. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; text: string }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ROLES_API_KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed, text };
}
