/**
 * `npm start`: the service with ROLE=all by default, migrations included. Prints what to do when
 * Postgres or Redis cannot be reached, and shuts down cleanly on SIGTERM/SIGINT.
 */
import { startService } from '../api/service.ts';
import { loadConfig } from '../worker/config.ts';
import { RedisUnreachableError } from '../worker/redis.ts';
import { DatabaseUnreachableError } from '../worker/store/orm.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const service = await startService(config);
  const { logger } = service;
  logger.info({ role: config.role, url: service.url, partitions: config.partitions }, 'credits ledger started');
  if (config.apiKeyGenerated && service.url) {
    logger.warn(`no API_KEYS set: this run accepts the development key ${config.apiKeys[0]}`);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing current jobs');
    await service.close();
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
