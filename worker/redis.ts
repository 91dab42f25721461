/**
 * The Redis connection BullMQ uses. `maxRetriesPerRequest: null` is BullMQ's production advice
 * for worker connections; an unreachable server is reported with what to do about it.
 */
import { Redis } from 'ioredis';

const CONNECT_TIMEOUT_MS = 5_000;

export class RedisUnreachableError extends Error {}

export async function openRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS });
  redis.on('error', () => {
    // ioredis reconnects by itself; readiness checks and job errors report the outage.
  });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    const where = new URL(url).host;
    throw new RedisUnreachableError(
      `Redis is not reachable at ${where} (${(error as Error).message}).\n` +
        `  Start it with \`docker compose up -d postgres redis\` from the repository root,\n` +
        `  or point REDIS_URL at a running server (redis://host:6379).`,
    );
  }
  return redis;
}
