/**
 * `npm start`: the service with ROLE=all by default, migrations included. With no servers to
 * talk to, it starts embedded (scripts/quickStart.ts) and says so in its first log line. Prints
 * what to do when a configured Postgres or Redis cannot be reached. With no API_KEYS, the API
 * accepts a development key kept in `.data/api-key` (mode 0600, made on the first start and then
 * reused), and prints it plainly with a ready-to-paste curl line. Ctrl-C or SIGTERM, to this
 * process or to the npm running it, stops the service and then the embedded server: one log line,
 * exit 0, nothing left running (the embedded server has a process group of its own, so the
 * terminal's Ctrl-C reaches only this process, which stops it last).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { SHUTDOWN_BOUND_MS, startService } from './service.ts';
import { loadConfig, type Config } from '../worker/runtime/config.ts';
import { RedisUnreachableError } from '../worker/jobs/redis.ts';
import { DatabaseUnreachableError } from '../worker/store/orm.ts';
import { EmbeddedPostgresError } from './embeddedPostgres.ts';
import { prepareQuickStart } from './quickStart.ts';

/** Time for the embedded PostgreSQL to stop after the service has closed. */
const SHUTDOWN_BACKSTOP_SLACK_MS = 5_000;
const DATA_DIR = fileURLToPath(new URL('../.data', import.meta.url));
const EMBEDDED_DATA_DIR = join(DATA_DIR, 'postgres');
const API_KEY_FILE = join(DATA_DIR, 'api-key');

async function main(): Promise<void> {
  // A signal while starting ends the process at once; its exit hook stops an embedded server.
  let onSignal = (signal: string): void => {
    console.error(`${signal} while starting: stopped`);
    process.exit(0);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  const quickStart = await prepareQuickStart(loadConfig(), { dataDir: EMBEDDED_DATA_DIR });
  const devKey =
    quickStart.config.apiKeyGenerated && quickStart.config.role !== 'worker'
      ? developmentKey()
      : undefined;
  const config: Config = devKey
    ? { ...quickStart.config, apiKeys: [devKey.key] }
    : quickStart.config;
  // Written as they come, so that the plain lines printed below keep their place among them.
  const logger = pino({ level: config.logLevel }, pino.destination({ dest: 1, sync: true }));
  if (quickStart.notice) logger.warn(quickStart.notice);
  let service;
  // A changed partition count (worker/jobs/partitionGuard.ts) stops the process like a signal,
  // exiting 1 so that a supervisor restarts it with its (updated) PARTITIONS.
  let exitCode = 0;
  const onPartitionCountChanged = () => {
    exitCode = 1;
    onSignal('partition count changed');
  };
  try {
    service = await startService(config, { logger, onPartitionCountChanged });
  } catch (error) {
    await quickStart.stop();
    throw error;
  }
  logger.info(
    {
      role: config.role,
      url: service.url ?? service.workerUrl,
      partitions: config.partitions,
      queues: service.queueStore.location,
    },
    'credits ledger started',
  );
  if (devKey && service.url) printDevelopmentKey(devKey, service.url);

  let stopping = false;
  onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing current jobs');
    // service.close() is bounded (SHUTDOWN_BOUND_MS) and never throws; this is the backstop
    // should anything else hang, so that a stop never leaves the process running.
    setTimeout(() => {
      logger.error({ boundMs: SHUTDOWN_BOUND_MS }, 'shutdown overran its bound; exiting now');
      process.exit(1);
    }, SHUTDOWN_BOUND_MS + SHUTDOWN_BACKSTOP_SLACK_MS).unref();
    void (async () => {
      await service.close();
      await quickStart.stop();
      process.exit(exitCode);
    })().catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
  };
}

/** The development key: the one kept in `.data/api-key`, or a new one written there (0600). */
function developmentKey(): { key: string; created: boolean } {
  try {
    const kept = readFileSync(API_KEY_FILE, 'utf8').trim();
    if (kept) return { key: kept, created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = `dev_${randomBytes(18).toString('base64url')}`;
  mkdirSync(DATA_DIR, { recursive: true });
  try {
    writeFileSync(API_KEY_FILE, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process (a second role on the same volume) made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      return { key: readFileSync(API_KEY_FILE, 'utf8').trim(), created: false };
    throw error;
  }
  return { key, created: true };
}

/**
 * Plain text, not a log line: the key itself only when it was just made (so it appears in a log
 * once), afterwards where it is kept. Either way a curl line that can be pasted as it is.
 */
function printDevelopmentKey(devKey: { key: string; created: boolean }, url: string): void {
  // Listening on every address (in a container): the curl line goes to the loopback one.
  url = url.replace(/\/\/(0\.0\.0\.0|\[::\])(?=[:/]|$)/, '//127.0.0.1');
  const lines = devKey.created
    ? [
        `No API_KEYS set: made a development API key, kept in ${API_KEY_FILE} for the next starts:`,
        `  ${devKey.key}`,
        `Try it:`,
        `  curl -H "Authorization: Bearer ${devKey.key}" ${url}/v1/customers`,
      ]
    : [
        `No API_KEYS set: the API accepts the development key kept in ${API_KEY_FILE}. Try it:`,
        `  curl -H "Authorization: Bearer $(cat ${API_KEY_FILE})" ${url}/v1/customers`,
      ];
  process.stdout.write(`\n${lines.join('\n')}\n\n`);
}

main().catch((error: unknown) => {
  if (
    error instanceof DatabaseUnreachableError ||
    error instanceof RedisUnreachableError ||
    error instanceof EmbeddedPostgresError
  ) {
    console.error(`\n${error.message}\n`);
  } else {
    console.error(error);
  }
  process.exit(1);
});
