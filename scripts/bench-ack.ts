/**
 * What it costs to make an acknowledgement durable, by mechanism, side by side in one run on this
 * machine (README "Acknowledged means durable"). Each mechanism is `--clients` (64) closed-loop
 * clients, each making one ~500-byte record durable and waiting for it, for `--seconds` (5):
 *
 * - `redis`: a job-shaped write to a Redis Cluster master (HSET of the record + RPUSH of its id,
 *   one MULTI on one slot), AOF `everysec`: what a 200 given "once Redis has it" waits for. A
 *   failover to a replica that lacks it, or the machine lost within the second, loses it;
 * - `redis + WAIT 1`: the same, then `WAIT 1 1000` (one replica has it): survives a master
 *   failover, still not a power loss of both within a second;
 * - `redis + WAIT 1, appendfsync always`: the masters fsync every write too;
 * - `postgres`: one request-shaped row inserted and committed (`synchronous_commit` on), each
 *   client in its own transaction over a pool of at most 32 connections: what this service does
 *   before it answers (the intake also
 *   batches records of concurrent requests into one commit, so this is its worst case);
 * - `postgres, concurrent records share a commit`: that batching (at most 4 commits in flight,
 *   each taking every record that arrived meanwhile).
 *
 * It starts its own local cluster (scripts/redisCluster.ts) and a scratch database, and removes
 * both. The last line is the figures as JSON (`BENCH_RESULT`, bench `ack`).
 *   npm run bench:ack -- --seconds 5 --clients 64
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { latencySummary, printResult } from './benchSupport.ts';
import { startRedisCluster, type RedisClusterHarness } from './redisCluster.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '64' },
  },
});
const seconds = Number(args.seconds);
const clients = Number(args.clients);
if (!(seconds > 0) || !Number.isInteger(clients) || clients < 1)
  throw new Error('usage: npm run bench:ack -- --seconds N --clients N');

const RECORD = JSON.stringify({
  entry_type: 'decrement',
  amount: '12.50',
  description: 'x'.repeat(380),
  metadata: { source: 'bench' },
});
const serverUrl = new URL(
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
);
const PG_CONNECTIONS_MAX = 32;
const scratchName = `credits_ack_${randomBytes(4).toString('hex')}`;

interface Figures {
  mechanism: string;
  acks: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `clients` loops of `ack` for `seconds`; each loop's index picks its own key space. */
async function measure(
  mechanism: string,
  ack: (client: number, n: number) => Promise<void>,
): Promise<Figures> {
  const latencies: number[] = [];
  const endAt = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let n = 0; performance.now() < endAt; n += 1) {
        const started = performance.now();
        await ack(client, n);
        latencies.push(performance.now() - started);
      }
    }),
  );
  const { p50_ms: p50, p99_ms: p99 } = latencySummary(latencies);
  const figures = {
    mechanism,
    acks: latencies.length,
    perSecond: Math.round(latencies.length / seconds),
    p50Ms: p50,
    p99Ms: p99,
  };
  console.log(
    `${mechanism.padEnd(38)} ${String(figures.perSecond).padStart(7)} acks/s  p50 ${p50} ms  p99 ${p99} ms`,
  );
  return figures;
}

/** One direct connection per master, and a hash tag that master serves, for each client. */
async function masterConnections(
  cluster: RedisClusterHarness,
): Promise<{ redis: Redis; tag: string }[]> {
  const masters = await cluster.masters();
  const connections = masters.map((master) => ({
    master,
    redis: new Redis(master.port, '127.0.0.1', { maxRetriesPerRequest: 1 }),
    tag: '',
  }));
  for (let n = 0; connections.some((c) => c.tag === ''); n += 1) {
    const tag = `ack-${n}`;
    const slot = await cluster.keySlot(`{${tag}}`);
    const owner = connections.find((c) => c.master.slots.some(([a, b]) => slot >= a && slot <= b));
    if (owner && owner.tag === '') owner.tag = tag;
  }
  return connections.map(({ redis, tag }) => ({ redis, tag }));
}

/**
 * Group commit in the application: a record waits for the commit in flight (at most
 * `FLUSHES_MAX` at once) and goes with everything that arrived meanwhile, in one insert.
 */
class CommitBatcher {
  private static readonly FLUSHES_MAX = 4;
  private pending: {
    id: string;
    customerId: string;
    done: () => void;
    failed: (e: unknown) => void;
  }[] = [];
  private flushing = 0;
  private readonly pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  record(id: string, customerId: string): Promise<void> {
    return new Promise((done, failed) => {
      this.pending.push({ id, customerId, done, failed });
      this.flush();
    });
  }

  private flush(): void {
    if (this.flushing >= CommitBatcher.FLUSHES_MAX || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.flushing += 1;
    this.pool
      .query(
        `insert into requests (id, customer_id, payload, status)
         select id, customer_id, $3::jsonb, 'queued' from unnest($1::text[], $2::text[]) as r (id, customer_id)`,
        [batch.map((r) => r.id), batch.map((r) => r.customerId), RECORD],
      )
      .then(
        () => batch.forEach((r) => r.done()),
        (error: unknown) => batch.forEach((r) => r.failed(error)),
      )
      .finally(() => {
        this.flushing -= 1;
        this.flush();
      });
  }
}

async function main(): Promise<void> {
  const results: Figures[] = [];
  const cluster = await startRedisCluster({ appendFsync: 'everysec' });
  const admin = new pg.Client({ connectionString: serverUrl.toString() });
  await admin.connect();
  await admin.query(`create database ${scratchName}`);
  const scratchUrl = new URL(serverUrl);
  scratchUrl.pathname = `/${scratchName}`;
  // Connections are the server's scarcest resource (max_connections is 100 by default): at most
  // 32, as an api process's pool would hold, the clients beyond that waiting for one.
  const pool = new pg.Pool({ connectionString: scratchUrl.toString(), max: PG_CONNECTIONS_MAX });
  try {
    // Every client gets its own connection, as each api process's requests would.
    const connections = await masterConnections(cluster);
    const perClient = await Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        const { redis, tag } = connections[client % connections.length]!;
        return { redis: redis.duplicate(), tag };
      }),
    );
    const write = async (client: number, n: number): Promise<void> => {
      const { redis, tag } = perClient[client]!;
      const id = `${client}-${n}`;
      await redis
        .multi()
        .hset(`{${tag}}:job:${id}`, 'data', RECORD)
        .rpush(`{${tag}}:wait`, id)
        .exec();
    };
    results.push(await measure('redis (AOF everysec)', write));
    results.push(
      await measure('redis + WAIT 1', async (client, n) => {
        await write(client, n);
        const acked = await perClient[client]!.redis.wait(1, 1000);
        if (acked < 1) throw new Error('no replica acknowledged within 1 s');
      }),
    );
    for (const { redis } of connections) await redis.config('SET', 'appendfsync', 'always');
    results.push(
      await measure('redis + WAIT 1, appendfsync always', async (client, n) => {
        await write(client, n);
        const acked = await perClient[client]!.redis.wait(1, 1000);
        if (acked < 1) throw new Error('no replica acknowledged within 1 s');
      }),
    );
    await pool.query(
      `create table requests (id text primary key, customer_id text not null,
         payload jsonb not null, status text not null, accepted_seq bigint generated always as identity,
         created_at timestamptz not null default now())`,
    );
    results.push(
      await measure('postgres (commit, synchronous_commit on)', async (client, n) => {
        await pool.query(
          `insert into requests (id, customer_id, payload, status) values ($1, $2, $3, 'queued')`,
          [`${client}-${n}`, `customer-${client}`, RECORD],
        );
      }),
    );
    // The intake's way (api/intake): the records of requests arriving together share one commit.
    const batcher = new CommitBatcher(pool);
    results.push(
      await measure('postgres, concurrent records share a commit', (client, n) =>
        batcher.record(`b-${client}-${n}`, `customer-${client}`),
      ),
    );
    for (const { redis } of perClient) redis.disconnect();
    for (const { redis } of connections) redis.disconnect();
  } finally {
    await pool.end();
    await admin.query(`drop database if exists ${scratchName} with (force)`);
    await admin.end();
    await cluster.stop();
  }
  printResult('ack', { seconds, clients, results });
}

await main();
