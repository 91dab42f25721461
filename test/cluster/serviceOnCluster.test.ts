/**
 * The service on a Redis Cluster (the run's cluster, test/cluster/globalSetup.ts): every
 * partition queue sits on one slot and the partitions spread over the masters; ledger writes for
 * customers on many partitions answer 201 through the outcome channel; readiness, /metrics, the
 * dashboard, the failed-jobs listing and the recorded partition count work on it.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachRedisCluster, type RedisClusterView } from '../../scripts/redisCluster.ts';
import { partitionOf, partitionQueueName } from '../../worker/jobs/partition.ts';
import { deleteQueueKeys } from '../../worker/jobs/queueKeys.ts';
import { clusterNodeAddress } from '../../worker/jobs/redis.ts';
import { addEntry, createCustomer, ledgerEntryPath } from '../integration/ledgerTestHelpers.ts';
import { REDIS_CLUSTER_NODES, startTestService, type TestService } from '../support/testService.ts';

const PARTITIONS = 16;
const CUSTOMERS = 40;
const basic = `Basic ${Buffer.from('ops:s3cret').toString('base64')}`;

let t: TestService;
let cluster: RedisClusterView;
beforeAll(async () => {
  if (!REDIS_CLUSTER_NODES) throw new Error('run with npm run test:cluster (no cluster started)');
  cluster = attachRedisCluster(REDIS_CLUSTER_NODES);
  t = await startTestService({
    PARTITIONS: String(PARTITIONS),
    ADMIN_USER: 'ops',
    ADMIN_PASSWORD: 's3cret',
  });
});
afterAll(async () => {
  await t?.stop();
});

/** The keys under the test's prefix on one node, read from that node alone (no redirects). */
async function keysOnNode(port: number, prefix: string): Promise<string[]> {
  const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null });
  node.on('error', () => undefined);
  await node.connect();
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  } finally {
    node.disconnect();
  }
}

describe('the service on a Redis Cluster', () => {
  it('names the cluster where it says where the queues are', () => {
    expect(t.service.config.redisClusterNodes).toEqual(REDIS_CLUSTER_NODES?.split(','));
    expect(t.service.queueStore.location).toBe(`redis-cluster://${REDIS_CLUSTER_NODES}`);
    expect(t.service.queueStore.readinessCheck).toBe('redis_cluster');
  });

  it('answers ledger writes for customers on many partitions with 201, through the outcome channel', async () => {
    const customers = await Promise.all(Array.from({ length: CUSTOMERS }, () => createCustomer(t)));
    const partitions = new Set(customers.map((customer) => partitionOf(customer.id, PARTITIONS)));
    expect(partitions.size).toBeGreaterThanOrEqual(8);
    await Promise.all(
      customers.map(async (customer) => {
        await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
        // Synchronous answers: the outcome came back over pub/sub within SYNC_WAIT_MS.
        const decrement = await t.request('POST', ledgerEntryPath(customer.id), {
          entry_type: 'decrement',
          amount: '2.5',
        });
        expect(decrement.status, decrement.text).toBe(201);
        expect(decrement.body.ending_balance).toBe(7.5);
      }),
    );
  });

  it('keeps every key of a partition queue on one slot, and spreads the partitions over every master', async () => {
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    const slotsOfQueue = new Map<string, Set<number>>();
    const mastersOfQueue = new Map<string, Set<number>>();
    for (const master of masters) {
      for (const key of await keysOnNode(master.port, t.queuePrefix)) {
        const queue = /^[^:]+:(\{[^}]+\})/.exec(key)?.[1];
        if (!queue) continue;
        const slot = await cluster.keySlot(key);
        slotsOfQueue.set(queue, (slotsOfQueue.get(queue) ?? new Set()).add(slot));
        mastersOfQueue.set(queue, (mastersOfQueue.get(queue) ?? new Set()).add(master.port));
      }
    }
    const expected = Array.from({ length: PARTITIONS }, (_, p) => partitionQueueName(p));
    for (const queue of expected) {
      expect(slotsOfQueue.get(queue)?.size, `${queue}'s keys are on one slot`).toBe(1);
      expect(mastersOfQueue.get(queue)?.size, `${queue}'s keys are on one master`).toBe(1);
      // The master found holding them is the one the cluster assigns the queue's slot to.
      const [slot] = [...(slotsOfQueue.get(queue) ?? [])];
      const [holder] = [...(mastersOfQueue.get(queue) ?? [])];
      expect((await cluster.masterOfSlot(slot ?? -1)).port).toBe(holder);
    }
    const mastersUsed = new Set([...mastersOfQueue.values()].flatMap((ports) => [...ports]));
    expect(mastersUsed.size).toBe(3);
  });

  it('answers readiness with the cluster check, and /metrics with every partition queue', async () => {
    const ready = await fetch(`${t.baseUrl}/health/ready`);
    const body = (await ready.json()) as { status: string; checks: Record<string, string> };
    expect(ready.status, JSON.stringify(body)).toBe(200);
    expect(body.checks.redis_cluster).toBe('ok');
    expect(body.checks.redis).toBeUndefined();
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    for (let partition = 0; partition < PARTITIONS; partition += 1)
      expect(metrics).toMatch(
        new RegExp(`credits_queue_jobs\\{partition="${partition}",state="waiting"\\} \\d+`),
      );
  });

  it('lists every partition queue on the dashboard', async () => {
    const api = await fetch(`${t.baseUrl}/admin/queues/api/queues`, {
      headers: { authorization: basic },
    });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string }[] };
    expect(body.queues.map((queue) => queue.name).sort()).toEqual(
      Array.from({ length: PARTITIONS }, (_, p) => partitionQueueName(p)).sort(),
    );
  });

  it('reads the failed sets of every partition, and the recorded partition count, on the cluster', async () => {
    const failed = await t.request('GET', '/v1/failed_jobs');
    expect(failed.status, failed.text).toBe(200);
    expect(failed.body.data).toEqual([]);
    expect(await t.service.queueStore.readPartitionCount(t.queuePrefix)).toBe(PARTITIONS);
    // One key on one slot, like everything else the service keeps.
    const client = new Cluster((REDIS_CLUSTER_NODES ?? '').split(',').map(clusterNodeAddress));
    client.on('error', () => undefined);
    try {
      expect(await client.get(`${t.queuePrefix}:ledger:partitions`)).toBe(String(PARTITIONS));
    } finally {
      client.disconnect();
    }
  });

  it("removes a prefix's keys from every master, and nothing of another prefix", async () => {
    const prefix = `${t.queuePrefix}-gone`;
    const kept = `${t.queuePrefix}-kept:{ledger-00}:meta`;
    const client = new Cluster((REDIS_CLUSTER_NODES ?? '').split(',').map(clusterNodeAddress));
    client.on('error', () => undefined);
    try {
      for (let index = 0; index < 50; index += 1)
        await client.set(`${prefix}:${partitionQueueName(index)}:meta`, 'x');
      await client.set(kept, 'x');
      const masters = await cluster.masters();
      const before = await Promise.all(masters.map((master) => keysOnNode(master.port, prefix)));
      expect(before.filter((keys) => keys.length > 0)).toHaveLength(3);
      await deleteQueueKeys({ kind: 'cluster', nodes: cluster.nodes }, prefix);
      const after = await Promise.all(masters.map((master) => keysOnNode(master.port, prefix)));
      expect(after.flat()).toEqual([]);
      expect(await client.get(kept)).toBe('x');
    } finally {
      await client.del(kept);
      client.disconnect();
    }
  });
});
