/**
 * REDIS_CLUSTER_NODES without a cluster (the normal suite; the service on a cluster is tested by
 * `npm run test:cluster`): the list is validated, it excludes REDIS_URL and the Postgres queues,
 * and a cluster that cannot be reached at start is reported as clearly as an unreachable Redis.
 */
import { describe, expect, it } from 'vitest';
import { RedisQueueStore } from '../../../worker/jobs/queueStore.ts';
import {
  clusterHealth,
  describeRedisTarget,
  isRedisCommandUnavailable,
  isRedisTopologyChange,
  RedisUnreachableError,
  redisTargetOf,
} from '../../../worker/jobs/redis.ts';
import { loadConfig } from '../../../worker/runtime/config.ts';
import { freePort } from '../../../scripts/freePort.ts';
import { itRequires, REDIS_SERVER } from '../../support/requiresBinary.ts';
import { REDIS_URL } from '../../support/testService.ts';

const configError = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
};

describe('REDIS_CLUSTER_NODES', () => {
  it('takes host:port seeds (names, IPv4, bracketed IPv6), trimmed, and names the cluster', () => {
    const config = loadConfig({
      REDIS_CLUSTER_NODES: ' redis-0.redis:6379, 10.0.0.5:7000 ,[::1]:7001',
    });
    expect(config.redisClusterNodes).toEqual(['redis-0.redis:6379', '10.0.0.5:7000', '[::1]:7001']);
    const target = redisTargetOf(config);
    expect(target).toEqual({
      kind: 'cluster',
      nodes: ['redis-0.redis:6379', '10.0.0.5:7000', '[::1]:7001'],
    });
    expect(describeRedisTarget(target)).toBe(
      'redis-cluster://redis-0.redis:6379,10.0.0.5:7000,[::1]:7001',
    );
    expect(loadConfig({}).redisClusterNodes).toBeUndefined();
    expect(redisTargetOf(loadConfig({}))).toEqual({
      kind: 'single',
      url: 'redis://127.0.0.1:6379',
    });
  });

  it('refuses what is not a list of host:port, naming the bad entry', () => {
    for (const [value, says] of [
      ['10.0.0.5', '"10.0.0.5" is not host:port'],
      ['10.0.0.5:6379,redis://x:6379', '"redis://x:6379" is not host:port'],
      ['host:0', '"host:0" is not host:port'],
      ['host:70000', '"host:70000" is not host:port'],
      [' , ', 'at least one host:port'],
    ] as const) {
      const message = configError({ REDIS_CLUSTER_NODES: value });
      expect(message).toMatch(/^invalid configuration:/);
      expect(message).toContain('REDIS_CLUSTER_NODES');
      expect(message).toContain(says);
    }
  });

  it('is refused beside REDIS_URL, beside QUEUE_STORE=postgres, and with a brace in QUEUE_PREFIX', () => {
    expect(
      configError({ REDIS_CLUSTER_NODES: '10.0.0.5:6379', REDIS_URL: 'redis://10.0.0.6:6379' }),
    ).toMatch(/REDIS_URL and REDIS_CLUSTER_NODES: set one/);
    expect(configError({ REDIS_CLUSTER_NODES: '10.0.0.5:6379', QUEUE_STORE: 'postgres' })).toMatch(
      /REDIS_CLUSTER_NODES and QUEUE_STORE=postgres: set one/,
    );
    expect(configError({ REDIS_CLUSTER_NODES: '10.0.0.5:6379', QUEUE_PREFIX: '{app}' })).toMatch(
      /QUEUE_PREFIX: "\{app\}" holds a brace.*one slot/,
    );
    // Without a cluster, a braced prefix is the operator's business, as before.
    expect(loadConfig({ QUEUE_PREFIX: '{app}' }).queuePrefix).toBe('{app}');
  });

  it('reports a cluster that cannot be reached at start as clearly as an unreachable Redis', async () => {
    const nodes = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const startedAt = performance.now();
    const error = await RedisQueueStore.open({ kind: 'cluster', nodes }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(RedisUnreachableError);
    const message = (error as Error).message;
    expect(message).toContain(`Redis Cluster is not reachable at ${nodes.join(',')}`);
    expect(message).toMatch(/cluster_state:ok/);
    expect(message).toContain('REDIS_CLUSTER_NODES');
    expect(performance.now() - startedAt).toBeLessThan(12_000);
  }, 20_000);

  itRequires(
    [REDIS_SERVER],
    "says so when a seed is a Redis that is not a cluster, in the server's own words",
    async () => {
      const error = await RedisQueueStore.open({
        kind: 'cluster',
        nodes: [new URL(REDIS_URL).host],
      }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RedisUnreachableError);
      expect((error as Error).message).toMatch(/cluster support disabled/);
    },
    20_000,
  );

  it('counts a cluster ready only when every slot is served', () => {
    expect(clusterHealth('cluster_state:ok\r\ncluster_slots_ok:16384\r\n').ok).toBe(true);
    const failing = clusterHealth('cluster_state:fail\r\ncluster_slots_ok:10923\r\n');
    expect(failing).toEqual({ ok: false, summary: 'cluster_state:fail, 10923/16384 slots served' });
    expect(clusterHealth('cluster_state:ok\r\ncluster_slots_ok:16000\r\n').ok).toBe(false);
  });

  it("tells a cluster's refusals during a failover from other errors", () => {
    for (const message of [
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      "READONLY You can't write against a read only replica.",
      'Too many Cluster redirections. Last error: Error: Connection is closed.',
      "Cluster isn't ready and enableOfflineQueue options is false",
    ])
      expect(isRedisCommandUnavailable(new Error(message)), message).toBe(true);
    expect(isRedisCommandUnavailable(new Error('connect ECONNREFUSED 127.0.0.1:5432'))).toBe(false);
    expect(
      isRedisTopologyChange(
        new Error('UNBLOCKED force unblock from blocking operation, instance state changed'),
      ),
    ).toBe(true);
    expect(isRedisTopologyChange(new Error('CLUSTERDOWN The cluster is down'))).toBe(false);
  });
});
