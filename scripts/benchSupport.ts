/**
 * Shared by the benchmarks: start the service as its own process (so the load generator does not
 * share its event loop), wait for it, and summarise latencies. Traffic goes to 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
  const child = spawn(process.execPath, [fileURLToPath(new URL('./start.ts', import.meta.url))], {
    env: {
      ...process.env,
      PORT: String(port),
      API_KEYS: BENCH_API_KEY,
      LOG_LEVEL: 'warn',
      QUEUE_PREFIX: `bench-${randomBytes(4).toString('hex')}`,
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
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
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
