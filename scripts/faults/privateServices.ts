/**
 * A private Redis and a private PostgreSQL cluster for the fault runs, on free ports under one
 * temporary directory: the faults restart them, and the machine's own servers are shared with
 * others and must never be touched. Redis runs with AOF on (`--appendonly yes`, no RDB), and a
 * restart is a graceful `SHUTDOWN` (which syncs the AOF) and a start on the same directory, so
 * the AOF is replayed. Postgres is `initdb` + `pg_ctl`, run as the `postgres` user when this
 * process is root (Postgres refuses to run as root). `stop()` removes everything it made.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { recreateDatabase } from '../benchSupport.ts';
import { freePort } from '../freePort.ts';

const run = promisify(execFile);

const START_TIMEOUT_MS = 30_000;
/** Enough for an api pool and three worker pools (48 each: the cluster faults) and the audit. */
const POSTGRES_CONNECTIONS_MAX = 300;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function postgresBinDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions
    .map((version) => join(root, version, 'bin'))
    .find((dir) => existsSync(join(dir, 'pg_ctl')));
  if (!found) throw new Error('no PostgreSQL binaries found under /usr/lib/postgresql; set PG_BIN');
  return found;
}

/** Runs a Postgres tool as the `postgres` user when we are root, as ourselves otherwise. */
async function asPostgres(binary: string, args: string[]): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const [command, commandArgs] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', binary, ...args]]
    : [binary, args];
  await run(command, commandArgs, { timeout: START_TIMEOUT_MS });
}

export class PrivateRedis {
  readonly port: number;
  readonly url: string;
  private readonly dir: string;
  private child: ChildProcess | undefined;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
    this.url = `redis://127.0.0.1:${port}`;
  }

  static async start(dir: string): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), dir);
    await redis.launch();
    return redis;
  }

  private async launch(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--appendonly',
        'yes',
        '--dir',
        this.dir,
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`private redis-server exited with code ${child.exitCode}`);
      const client = new Redis(this.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        // Loading the AOF answers LOADING; ready means it has been replayed.
        if ((await client.ping()) === 'PONG') return;
      } catch {
        // not up yet
      } finally {
        client.disconnect();
      }
      if (Date.now() > deadline) throw new Error('private redis-server did not start');
      await sleep(50);
    }
  }

  /** Graceful shutdown (the AOF is synced), `downMs` without a server, then a start that replays it. */
  async restart(downMs: number): Promise<void> {
    await this.shutdown();
    await sleep(downMs);
    await this.launch();
  }

  private async shutdown(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await run('redis-cli', ['-p', String(this.port), 'shutdown']).catch(() =>
      child.kill('SIGTERM'),
    );
    await exited;
  }

  async stop(): Promise<void> {
    await this.shutdown().catch(() => this.child?.kill('SIGKILL'));
  }
}

export class PrivatePostgres {
  readonly port: number;
  private readonly dir: string;
  private readonly bin: string;
  private running = false;

  private constructor(port: number, dir: string, bin: string) {
    this.port = port;
    this.dir = dir;
    this.bin = bin;
  }

  static async start(dir: string): Promise<PrivatePostgres> {
    const postgres = new PrivatePostgres(await freePort(), dir, postgresBinDir());
    if (process.getuid?.() === 0)
      chownSync(
        dir,
        Number((await run('id', ['-u', 'postgres'])).stdout),
        Number((await run('id', ['-g', 'postgres'])).stdout),
      );
    await asPostgres(join(postgres.bin, 'initdb'), [
      '-D',
      join(dir, 'data'),
      '--auth=trust',
      '-U',
      'postgres',
      '--no-sync',
    ]);
    await postgres.pgCtl('start');
    return postgres;
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  private async pgCtl(action: 'start' | 'stop'): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c max_connections=${POSTGRES_CONNECTIONS_MAX} -c fsync=off`;
    const args =
      action === 'start'
        ? [
            '-D',
            join(this.dir, 'data'),
            '-o',
            options,
            '-l',
            join(this.dir, 'postgres.log'),
            '-w',
            'start',
          ]
        : ['-D', join(this.dir, 'data'), '-m', 'fast', '-w', 'stop'];
    await asPostgres(join(this.bin, 'pg_ctl'), args);
    this.running = action === 'start';
  }

  /** A fast shutdown (open connections are terminated), `downMs` without a server, then a start. */
  async restart(downMs: number): Promise<void> {
    await this.pgCtl('stop');
    await sleep(downMs);
    await this.pgCtl('start');
  }

  async createDatabase(name: string): Promise<string> {
    await recreateDatabase(this.url(name));
    return this.url(name);
  }

  async stop(): Promise<void> {
    if (this.running) await this.pgCtl('stop');
  }
}

/** Both private servers under one temporary directory; `stop()` stops them and removes it. */
export class PrivateServices {
  readonly redis: PrivateRedis;
  readonly postgres: PrivatePostgres;
  readonly dir: string;

  private constructor(dir: string, redis: PrivateRedis, postgres: PrivatePostgres) {
    this.dir = dir;
    this.redis = redis;
    this.postgres = postgres;
  }

  static async start(): Promise<PrivateServices> {
    const dir = mkdtempSync(join(tmpdir(), 'credits-faults-'));
    let redis: PrivateRedis | undefined;
    try {
      redis = await PrivateRedis.start(dir);
      const postgres = await PrivatePostgres.start(dir);
      return new PrivateServices(dir, redis, postgres);
    } catch (error) {
      await redis?.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async stop(): Promise<void> {
    const results = await Promise.allSettled([this.postgres.stop(), this.redis.stop()]);
    rmSync(this.dir, { recursive: true, force: true });
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
