/**
 * Opens the queue store the configuration names (QUEUE_STORE): Redis at REDIS_URL (or the Redis
 * Cluster at REDIS_CLUSTER_NODES), or BullMQ's
 * PostgreSQL backend in the ledger's own database. The Postgres store serves one process well;
 * split roles (ROLE=api / worker) work on it too, since outcomes travel over NOTIFY.
 */
import type { Logger } from 'pino';
import type { Config } from '../runtime/config.ts';
import { PostgresQueueStore, RedisQueueStore, type QueueStore } from './queueStore.ts';
import { redisTargetOf } from './redis.ts';

/** `logger` receives the Redis connection's state changes (lost, back): one line each. */
export async function openQueueStore(
  config: Pick<
    Config,
    'queueStore' | 'redisUrl' | 'redisClusterNodes' | 'databaseUrl' | 'partitions'
  >,
  logger?: Logger,
): Promise<QueueStore> {
  if (config.queueStore === 'postgres')
    return PostgresQueueStore.open(config.databaseUrl, config.partitions);
  return RedisQueueStore.open(redisTargetOf(config), logger);
}
