/**
 * A master of the cluster killed under the service, on a cluster of the test's own (the run's
 * cluster is shared with every other test file): a write for a partition it served answers at
 * once (durable 202 or 201, never a hang), is applied once a replica has taken over, and the log
 * says "lost" once and "back" once, not a line per failed command or reconnect.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterHarness } from '../../scripts/redisCluster.ts';
import { partitionOf, partitionQueueName } from '../../worker/jobs/partition.ts';
import {
  addEntry,
  createCustomer,
  eventually,
  ledgerEntryPath,
} from '../integration/ledgerTestHelpers.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../support/testService.ts';

const PARTITIONS = 4;

let harness: RedisClusterHarness;
let t: TestService;
const lines: string[] = [];
beforeAll(async () => {
  harness = await startRedisCluster();
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  t = await startTestService(
    { REDIS_CLUSTER_NODES: harness.seed, PARTITIONS: String(PARTITIONS), LOG_LEVEL: 'info' },
    { logger: pino({ level: 'info' }, stream) },
  );
}, 60_000);
afterAll(async () => {
  await t?.stop();
  await harness?.stop();
});

const logged = (pattern: RegExp) =>
  lines.filter((line) => pattern.test((JSON.parse(line) as { msg?: string }).msg ?? ''));

async function timedWrite(customerId: string, amount: number) {
  const startedAt = performance.now();
  const response = await fetch(`${t.baseUrl}${ledgerEntryPath(customerId)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ entry_type: 'increment', amount }),
    signal: AbortSignal.timeout(15_000),
  });
  return {
    status: response.status,
    body: (await response.json()) as any,
    ms: performance.now() - startedAt,
  };
}

let customerId = '';
let killedPort = 0;

describe('a cluster master killed under the service', () => {
  it('answers writes at once, applies them after the failover, and logs lost and back once', async () => {
    const customer = await createCustomer(t);
    customerId = customer.id;
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    const queue = partitionQueueName(partitionOf(customer.id, PARTITIONS));
    const master = await harness.masterOfKey(`${t.queuePrefix}:${queue}:meta`);
    killedPort = master.port;

    await harness.kill(master.port);
    await eventually(
      async () => (logged(/Redis Cluster connection lost/).length > 0 ? true : undefined),
      10_000,
      'the lost line',
    );
    // The SDK-facing answer while the partition's master is away: durable, and quick.
    const during = await timedWrite(customer.id, 5);
    expect([201, 202], JSON.stringify(during.body)).toContain(during.status);
    expect(during.ms).toBeLessThan(SYNC_BOUND_MS);

    await harness.waitHealthy();
    await eventually(
      async () => (logged(/Redis Cluster connection back/).length > 0 ? true : undefined),
      15_000,
      'the back line',
    );
    if (during.status === 202)
      await eventually(
        async () => {
          const polled = await t.request('GET', `/v1/ledger_requests/${during.body.id}`);
          return polled.body?.status === 'committed' ? true : undefined;
        },
        30_000,
        'the write accepted during the failover to be applied',
      );
    const after = await timedWrite(customer.id, 1);
    expect(after.status, JSON.stringify(after.body)).toBe(201);
    expect(after.body.ending_balance).toBe(16);
    expect(logged(/Redis Cluster connection lost/)).toHaveLength(1);
    expect(logged(/Redis Cluster connection back/)).toHaveLength(1);
    const back = JSON.parse(logged(/Redis Cluster connection back/)[0] ?? '{}') as {
      redisCluster?: string;
      downSeconds?: number;
    };
    expect(back.redisCluster).toBe(harness.seed);
    expect(back.downSeconds).toBeGreaterThan(0);
  }, 90_000);

  it('keeps answering when the old master, restarted empty, takes its slots back by a manual failover', async () => {
    expect(killedPort).toBeGreaterThan(0);
    const linesBefore = lines.length;
    // Its data went with its replacement: it rejoins as that master's replica and resyncs.
    await harness.restart(killedPort, { dropAof: true });
    await harness.waitHealthy();
    const rejoined = (await harness.topology()).find((node) => node.port === killedPort);
    expect(rejoined?.role).toBe('replica');
    await harness.failoverTakeover(killedPort);
    await harness.waitHealthy();
    const queue = partitionQueueName(partitionOf(customerId, PARTITIONS));
    expect((await harness.masterOfKey(`${t.queuePrefix}:${queue}:meta`)).port).toBe(killedPort);
    const write = await timedWrite(customerId, 2);
    expect(write.status, JSON.stringify(write.body)).toBe(201);
    expect(write.body.ending_balance).toBe(18);
    // Nothing logged as an error: a planned failover is not a fault.
    const errors = lines
      .slice(linesBefore)
      .filter((line) => ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50);
    expect(errors).toEqual([]);
    // Every worker blocked on the old master is released at once: said in one line, not one each.
    expect(
      lines.slice(linesBefore).filter((line) => /topology changed/.test(line)).length,
    ).toBeLessThanOrEqual(1);
  }, 90_000);
});

/** A write for a partition whose master is lost answers at once (a durable 202), as with Redis down. */
const SYNC_BOUND_MS = 2_000;
