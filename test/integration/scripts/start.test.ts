/**
 * `npm start` in zero-install mode, as a person runs it, from a checkout inside a directory that
 * only root may enter: it starts an embedded PostgreSQL, prints the development API key plainly
 * with a curl line (the key is kept in `.data/api-key`, mode 0600, and the same on the next start),
 * and Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM (to npm's
 * process or to node's) stops it with one log line, exit code 0 and nothing left running.
 * Zero-install mode needs nothing answering at 127.0.0.1:5432 and :6379: run as root (CI is), the
 * service runs in a network namespace of its own where nothing listens (`unshare -n`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedHomePath } from '../../../scripts/embeddedPostgres.ts';
import { makePrivateCheckout, processesMentioning } from '../../support/privateCheckout.ts';

const checkout = makePrivateCheckout();
afterAll(() => checkout.remove());

const isolated = process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'true']).status === 0;
const START_WAIT_MS = 60_000;

interface Run {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function npmStart(): Run {
  const env: Record<string, string | undefined> = { ...process.env, PORT: '0' };
  for (const name of [
    'DATABASE_URL',
    'REDIS_URL',
    'API_KEYS',
    'QUICK_START',
    'QUEUE_STORE',
    'LOG_LEVEL',
  ])
    delete env[name];
  const [command, args] = isolated
    ? ['unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec npm start']]
    : ['npm', ['start']];
  // A process group of its own, as a terminal's foreground job has: Ctrl-C is a SIGINT to all of it.
  const child = spawn(command, args as string[], {
    cwd: checkout.app,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return { child, output: () => output, exited };
}

async function started(run: Run): Promise<void> {
  const deadline = Date.now() + START_WAIT_MS;
  while (!run.output().includes('credits ledger started')) {
    if (run.child.exitCode !== null) throw new Error(`npm start exited early:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`npm start did not start:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** node's pid: npm's child (the script execs node in place of the shell). */
function nodePid(npmPid: number): number {
  const children = readFileSync(`/proc/${npmPid}/task/${npmPid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  const node = children.find((pid) =>
    readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('scripts/start.ts'),
  );
  if (node === undefined) throw new Error(`no node process under npm (${children.join(', ')})`);
  return node;
}

/** Sends the signal as said, and returns what was printed after it and the exit code. */
async function stopWith(
  run: Run,
  signal: 'SIGINT' | 'SIGTERM',
  to: 'group' | 'npm' | 'node',
): Promise<{ code: number | null; after: string[] }> {
  // `unshare` and `sh -c '… exec npm start'` each exec the next: the spawned pid is npm's.
  const npmPid = run.child.pid!;
  const before = run.output().length;
  if (to === 'group') process.kill(-run.child.pid!, signal);
  else if (to === 'npm') process.kill(npmPid, signal);
  else process.kill(nodePid(npmPid), signal);
  const code = await run.exited;
  return {
    code,
    after: run
      .output()
      .slice(before)
      .split('\n')
      .filter((line) => line.trim() !== ''),
  };
}

function leftRunning(): string[] {
  return [
    ...processesMentioning(checkout.app),
    ...processesMentioning(sharedHomePath(checkout.dataDir)),
  ];
}

describe('npm start in zero-install mode', () => {
  it('prints a kept development key with a curl line, and Ctrl-C stops it: one line, exit 0, nothing left running', async () => {
    const run = npmStart();
    await started(run);
    const keyFile = join(checkout.app, '.data', 'api-key');
    const key = readFileSync(keyFile, 'utf8').trim();
    expect(key).toMatch(/^dev_[\w-]{20,}$/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(run.output()).toContain(`\n  curl -H "Authorization: Bearer ${key}" http://127.0.0.1:`);
    // Plainly, not inside a JSON log line.
    expect(
      run
        .output()
        .split('\n')
        .filter((line) => line.includes(key) && line.startsWith('{')),
    ).toEqual([]);

    const { code, after } = await stopWith(run, 'SIGINT', 'group');
    expect({ code, after }).toEqual({
      code: 0,
      after: [expect.stringContaining('"signal":"SIGINT"')],
    });
    expect(leftRunning()).toEqual([]);
  }, 120_000);

  it('keeps the key on the next start (shown by where it is kept), and SIGTERM to npm stops it the same way', async () => {
    const key = readFileSync(join(checkout.app, '.data', 'api-key'), 'utf8').trim();
    const run = npmStart();
    await started(run);
    expect(readFileSync(join(checkout.app, '.data', 'api-key'), 'utf8').trim()).toBe(key);
    expect(run.output()).not.toContain(key);
    expect(run.output()).toContain(
      `curl -H "Authorization: Bearer $(cat ${join(checkout.app, '.data', 'api-key')})" http://127.0.0.1:`,
    );

    const { code, after } = await stopWith(run, 'SIGTERM', 'npm');
    expect({ code, after }).toEqual({
      code: 0,
      after: [expect.stringContaining('"signal":"SIGTERM"')],
    });
    expect(leftRunning()).toEqual([]);
  }, 120_000);

  it('stops the same way on SIGTERM to node', async () => {
    const run = npmStart();
    await started(run);
    const { code, after } = await stopWith(run, 'SIGTERM', 'node');
    expect({ code, after }).toEqual({
      code: 0,
      after: [expect.stringContaining('"signal":"SIGTERM"')],
    });
    expect(leftRunning()).toEqual([]);
  }, 120_000);
});
