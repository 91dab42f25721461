/**
 * The raw Postgres ceiling for each kind of load the service benchmarks measure: the same work
 * done straight through `pg`, with no service in between, so that bench:report can state each
 * service figure as a ratio of what this machine's Postgres does at best.
 *   --kind ingest  one client inserts events into an indexed, `events`-shaped table (unique
 *                  idempotency key, customer id + timestamp index, jsonb properties) in `unnest`
 *                  batches of `--batch` (1,000) → events/s
 *   --kind writes  `--clients` (64) clients, each inserting one ledger-entry-shaped row per
 *                  transaction for a customer of its own → tx/s, p50/p99
 *   --kind reads   `--clients` (64) clients selecting one row by primary key out of `--rows`
 *                  (100,000) → selects/s, p50/p99
 *   npm run bench:ceiling -- --kind writes --seconds 10 --clients 64
 * Each run creates a scratch database (on the server of BENCH_DATABASE_URL, default the local
 * one) and drops it at the end, whatever happens. The last line is the figures as JSON
 * (`BENCH_RESULT`, bench `ceiling-<kind>`, for npm run bench:report).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { latencySummary, printResult } from './benchSupport.ts';

type Kind = 'ingest' | 'writes' | 'reads';

const { values: args } = parseArgs({
  options: {
    kind: { type: 'string', default: 'ingest' },
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '64' },
    batch: { type: 'string', default: '1000' },
    rows: { type: 'string', default: '100000' },
    customers: { type: 'string', default: '1000' },
    'warmup-seconds': { type: 'string', default: '1' },
  },
});
const kind = args.kind as Kind;
const seconds = Number(args.seconds);
const clients = Number(args.clients);
const batchSize = Number(args.batch);
const rowCount = Number(args.rows);
const customerCount = Number(args.customers);
const warmupSeconds = Number(args['warmup-seconds']);
if (
  !['ingest', 'writes', 'reads'].includes(kind) ||
  !(seconds > 0) ||
  ![clients, batchSize, rowCount, customerCount].every((n) => Number.isInteger(n) && n >= 1) ||
  !(warmupSeconds >= 0)
) {
  throw new Error(
    'usage: --kind ingest|writes|reads --seconds N --clients N --batch N --rows N --customers N --warmup-seconds N',
  );
}

const serverUrl = new URL(
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
);
const scratchName = `credits_ceiling_${randomBytes(4).toString('hex')}`;

function urlOf(database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: urlOf('postgres') });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function connectAll(count: number): Promise<pg.Client[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const client = new pg.Client({ connectionString: urlOf(scratchName) });
      await client.connect();
      return client;
    }),
  );
}

/** Runs `step` back to back on every client until the deadline; answers each step's latency. */
async function closedLoop(
  pool: readonly pg.Client[],
  runSeconds: number,
  step: (client: pg.Client, clientIndex: number, sequence: number) => Promise<void>,
): Promise<{ latencies: number[]; elapsedSeconds: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + runSeconds * 1000;
  await Promise.all(
    pool.map(async (client, clientIndex) => {
      for (let sequence = 0; performance.now() < deadline; sequence += 1) {
        const sent = performance.now();
        await step(client, clientIndex, sequence);
        latencies.push(performance.now() - sent);
      }
    }),
  );
  return { latencies, elapsedSeconds: (performance.now() - started) / 1000 };
}

const customerId = (index: number) => `cus_ceiling_${String(index).padStart(6, '0')}`;

/** One client, `unnest` batches into an indexed table shaped like `events`. */
async function ingest(): Promise<Record<string, unknown>> {
  const [client] = await connectAll(1);
  try {
    await client!.query(`
      create table events (
        idempotency_key text primary key,
        customer_id text not null,
        event_name text not null,
        timestamp timestamptz not null,
        properties jsonb not null,
        ingested_at timestamptz not null default now()
      );
      create index events_customer_timestamp_idx on events (customer_id, timestamp)`);
    let key = 0;
    const insert = async () => {
      const keys: string[] = [];
      const customers: string[] = [];
      const names: string[] = [];
      const timestamps: string[] = [];
      const properties: string[] = [];
      const timestamp = new Date().toISOString();
      for (let index = 0; index < batchSize; index += 1) {
        key += 1;
        keys.push(`e${key}`);
        customers.push(customerId(key % customerCount));
        names.push('tokens');
        timestamps.push(timestamp);
        properties.push(`{"tokens":${1 + (key % 7)}}`);
      }
      await client!.query({
        name: 'ceiling_ingest',
        text: `insert into events (idempotency_key, customer_id, event_name, timestamp, properties)
               select * from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[])`,
        values: [keys, customers, names, timestamps, properties],
      });
    };
    if (warmupSeconds > 0) await closedLoop([client!], warmupSeconds, insert);
    const { latencies, elapsedSeconds } = await closedLoop([client!], seconds, insert);
    const events = latencies.length * batchSize;
    const eventsPerSecond = Math.round(events / elapsedSeconds);
    console.log(
      `ingest ceiling: ${events} events in ${elapsedSeconds.toFixed(1)} s = ${eventsPerSecond} events/s (1 client, batches of ${batchSize})`,
    );
    const batch = latencySummary(latencies);
    return {
      clients: 1,
      batch_size: batchSize,
      events,
      events_per_second: eventsPerSecond,
      batch_p50_ms: batch.p50_ms,
      batch_p99_ms: batch.p99_ms,
    };
  } finally {
    await client!.end();
  }
}

/** One row per transaction (autocommit), each client for a customer of its own. */
async function writes(): Promise<Record<string, unknown>> {
  const pool = await connectAll(clients);
  try {
    await pool[0]!.query(`
      create table ledger_entries (
        seq bigint generated always as identity,
        id text primary key,
        customer_id text not null,
        currency text not null,
        entry_type text not null,
        amount numeric(38,12) not null,
        metadata jsonb not null default '{}',
        created_at timestamptz not null
      );
      create index ledger_entries_customer_seq_idx on ledger_entries (customer_id, seq desc)`);
    let next = 0;
    const insert = async (client: pg.Client, clientIndex: number, sequence: number) => {
      next += 1;
      await client.query({
        name: 'ceiling_write',
        text: `insert into ledger_entries (id, customer_id, currency, entry_type, amount, created_at)
               values ($1, $2, 'credits', $3, $4, now())`,
        values: [
          `le_${next}`,
          customerId(clientIndex),
          sequence % 2 === 0 ? 'decrement' : 'increment',
          sequence % 2 === 0 ? '-1.5' : '1.5',
        ],
      });
    };
    if (warmupSeconds > 0) await closedLoop(pool, warmupSeconds, insert);
    const { latencies, elapsedSeconds } = await closedLoop(pool, seconds, insert);
    const summary = latencySummary(latencies);
    const txPerSecond = Math.round(latencies.length / elapsedSeconds);
    console.log(
      `writes ceiling: ${latencies.length} single-row transactions in ${elapsedSeconds.toFixed(1)} s = ${txPerSecond} tx/s, ` +
        `p50 ${summary.p50_ms} ms, p99 ${summary.p99_ms} ms (${clients} clients)`,
    );
    return { clients, tx_per_second: txPerSecond, ...summary };
  } finally {
    await Promise.all(pool.map((client) => client.end()));
  }
}

/** Point selects by primary key over `--rows` rows, at random. */
async function reads(): Promise<Record<string, unknown>> {
  const pool = await connectAll(clients);
  try {
    await pool[0]!.query(`
      create table credit_blocks (
        id text primary key,
        customer_id text not null,
        currency text not null,
        balance numeric(38,12) not null,
        expiry_date timestamptz,
        created_at timestamptz not null
      );
      insert into credit_blocks (id, customer_id, currency, balance, expiry_date, created_at)
        select 'cb_' || lpad(n::text, 8, '0'), 'cus_' || (n % 1000), 'credits', n * 1.5, null, now()
          from generate_series(1, ${rowCount}) as n`);
    // Its own statement: vacuum cannot run inside the implicit transaction of a multi-statement query.
    await pool[0]!.query('vacuum analyze credit_blocks');
    const select = async (client: pg.Client) => {
      const id = `cb_${String(1 + Math.floor(Math.random() * rowCount)).padStart(8, '0')}`;
      const { rowCount: found } = await client.query({
        name: 'ceiling_read',
        text: 'select * from credit_blocks where id = $1',
        values: [id],
      });
      if (found !== 1) throw new Error(`point select of ${id} found ${found} rows`);
    };
    if (warmupSeconds > 0) await closedLoop(pool, warmupSeconds, select);
    const { latencies, elapsedSeconds } = await closedLoop(pool, seconds, select);
    const summary = latencySummary(latencies);
    const selectsPerSecond = Math.round(latencies.length / elapsedSeconds);
    console.log(
      `reads ceiling: ${latencies.length} point selects in ${elapsedSeconds.toFixed(1)} s = ${selectsPerSecond} selects/s, ` +
        `p50 ${summary.p50_ms} ms, p99 ${summary.p99_ms} ms (${clients} clients, ${rowCount} rows)`,
    );
    return { clients, rows: rowCount, selects_per_second: selectsPerSecond, ...summary };
  } finally {
    await Promise.all(pool.map((client) => client.end()));
  }
}

async function main(): Promise<void> {
  await admin((client) => client.query(`create database ${scratchName}`));
  console.log(`scratch database ${scratchName}`);
  try {
    const figures = await { ingest, writes, reads }[kind]();
    printResult(`ceiling-${kind}`, { kind, seconds, ...figures });
  } finally {
    await admin((client) => client.query(`drop database if exists ${scratchName} with (force)`));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
