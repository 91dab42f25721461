/**
 * Removes every key under a BullMQ prefix. For tests and benchmarks, which each run under their
 * own prefix and must leave nothing behind in a shared Redis; never used on a live prefix.
 *
 * On a Redis Cluster each master holds only its own slots' keys, so every master is scanned, and
 * keys are removed one per command (in a pipeline): a DEL of several keys would cross slots.
 */
import { Cluster, Redis } from 'ioredis';
import { clusterNodeAddress, type RedisTarget } from './redis.ts';

const SCAN_COUNT = 1000;

export async function deleteQueueKeys(target: string | RedisTarget, prefix: string): Promise<void> {
  const resolved: RedisTarget =
    typeof target === 'string' ? { kind: 'single', url: target } : target;
  if (resolved.kind === 'single') {
    const redis = new Redis(resolved.url, { lazyConnect: true });
    redis.on('error', () => undefined);
    await redis.connect();
    try {
      await deleteOnNode(redis, prefix, true);
    } finally {
      redis.disconnect();
    }
    return;
  }
  const cluster = new Cluster(resolved.nodes.map(clusterNodeAddress), {
    lazyConnect: true,
    scaleReads: 'master',
  });
  cluster.on('error', () => undefined);
  cluster.on('node error', () => undefined);
  await cluster.connect();
  try {
    await Promise.all(cluster.nodes('master').map((node) => deleteOnNode(node, prefix, false)));
  } finally {
    cluster.disconnect();
  }
}

/** SCANs one server for the prefix's keys and removes them; `multiKey` where one DEL may name many. */
async function deleteOnNode(redis: Redis, prefix: string, multiKey: boolean): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', SCAN_COUNT);
    cursor = next;
    if (keys.length === 0) continue;
    if (multiKey) {
      await redis.del(...keys);
      continue;
    }
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.unlink(key);
    await pipeline.exec();
  } while (cursor !== '0');
}
