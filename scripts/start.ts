/**
 * `npm start`: the service with ROLE=all by default, migrations included. With no servers to
 * talk to, it starts embedded (scripts/quickStart.ts) and says so in its first log line. Prints
 * what to do when a configured Postgres or Redis cannot be reached, and shuts down cleanly on
 * SIGTERM/SIGINT.
 */
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { SHUTDOWN_BOUND_MS, startService } from '../api/service.ts';
import { loadConfig } from '../worker/config.ts';
import { RedisUnreachableError } from '../worker/redis.ts';
import { DatabaseUnreachableError } from '../worker/store/orm.ts';
import { prepareQuickStart } from './quickStart.ts';

/** Time for the embedded PostgreSQL to stop after the service has closed. */
const SHUTDOWN_BACKSTOP_SLACK_MS = 5_000;
const EMBEDDED_DATA_DIR = fileURLToPath(new URL('../.data/postgres', import.meta.url));

async function main(): Promise<void> {
  const quickStart = await prepareQuickStart(loadConfig(), { dataDir: EMBEDDED_DATA_DIR });
  const { config } = quickStart;
  const logger = pino({ level: config.logLevel });
  if (quickStart.notice) logger.warn(quickStart.notice);
  let service;
  try {
    service = await startService(config, { logger });
  } catch (error) {
    await quickStart.stop();
    throw error;
  }
  logger.info({ role: config.role, url: service.url ?? service.workerUrl, partitions: config.partitions, queues: service.queueStore.location }, 'credits ledger started');
  if (config.apiKeyGenerated && service.url) {
    logger.warn(`no API_KEYS set: this run accepts the development key ${config.apiKeys[0]}`);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing current jobs');
    // service.close() is bounded (SHUTDOWN_BOUND_MS) and never throws; this is the backstop
    // should anything else hang, so that a stop never leaves the process running.
    setTimeout(() => {
      logger.error({ boundMs: SHUTDOWN_BOUND_MS }, 'shutdown overran its bound; exiting now');
      process.exit(1);
    }, SHUTDOWN_BOUND_MS + SHUTDOWN_BACKSTOP_SLACK_MS).unref();
    await service.close();
    await quickStart.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  if (error instanceof DatabaseUnreachableError || error instanceof RedisUnreachableError) {
    console.error(`\n${error.message}\n`);
  } else {
    console.error(error);
  }
  process.exit(1);
});
