/**
 * What "nothing changed" means for the fuzzer: every table of the public schema (row count and an
 * md5 of all its rows), every ledger's balance and every block's balance, and the length of each
 * partition queue's waiting, active, delayed and failed sets in Redis. Requests the worker refuses
 * are kept as `failed` rows in requests (so that a client
 * can poll them), so those two tables are compared without their failed rows, which are counted
 * apart. The maintenance queue (scheduled sweeps) is left out: it runs on its own timer, and so
 * are the workers' liveness tables (heartbeats every second, and the partition fences whose
 * progress time moves with every transaction a worker runs, refusals included).
 */
import { Redis } from 'ioredis';
import pg from 'pg';

/** Tables whose rows a refused write may add, as long as they are `failed`. */
const REQUEST_TABLES = new Set(['requests']);
/** Tables that record the workers' liveness, not the ledger: they change by the clock. */
const LIVENESS_TABLES = new Set(['worker_heartbeats', 'partition_fences']);
const QUEUE_SETS: Record<string, 'list' | 'zset'> = {
  wait: 'list',
  active: 'list',
  paused: 'list',
  delayed: 'zset',
  failed: 'zset',
  prioritized: 'zset',
};

export interface StateSnapshot {
  tables: Record<string, { rows: number; digest: string }>;
  balances: Record<string, string>;
  queues: Record<string, number>;
  /** Failed request rows (informational: refusals the worker decided). */
  failedRequests: number;
}

async function tableStates(
  client: pg.Client,
): Promise<{ tables: StateSnapshot['tables']; failedRequests: number }> {
  const names = await client.query<{ name: string }>(
    `select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`,
  );
  const tables: StateSnapshot['tables'] = {};
  let failedRequests = 0;
  for (const { name } of names.rows) {
    if (LIVENESS_TABLES.has(name)) continue;
    const where = REQUEST_TABLES.has(name) ? `where t.status <> 'failed'` : '';
    const { rows } = await client.query<{ rows: number; digest: string | null }>(
      `select count(*)::int as rows, md5(string_agg(t::text, E'\\n' order by t::text)) as digest from "${name}" t ${where}`,
    );
    tables[name] = { rows: rows[0]?.rows ?? 0, digest: rows[0]?.digest ?? '' };
    if (REQUEST_TABLES.has(name)) {
      const failed = await client.query<{ n: number }>(
        `select count(*)::int as n from "${name}" where status = 'failed'`,
      );
      failedRequests += failed.rows[0]?.n ?? 0;
    }
  }
  return { tables, failedRequests };
}

async function balanceStates(client: pg.Client): Promise<Record<string, string>> {
  const balances: Record<string, string> = {};
  const ledgers = await client.query<{ customer_id: string; currency: string; balance: string }>(
    `select customer_id, currency, sum(amount)::text as balance from ledger_entries group by 1, 2`,
  );
  for (const row of ledgers.rows)
    balances[`ledger ${row.customer_id}/${row.currency}`] = row.balance;
  const blocks = await client.query<{ id: string; balance: string }>(
    `select id, balance::text as balance from credit_blocks`,
  );
  for (const row of blocks.rows) balances[`block ${row.id}`] = row.balance;
  return balances;
}

async function queueStates(redisUrl: string, queuePrefix: string): Promise<Record<string, number>> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  await redis.connect();
  try {
    const queues: Record<string, number> = {};
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${queuePrefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const set = key.slice(key.lastIndexOf(':') + 1);
        const kind = QUEUE_SETS[set];
        if (!kind || key.includes('{maintenance}')) continue;
        queues[key] = kind === 'list' ? await redis.llen(key) : await redis.zcard(key);
      }
    } while (cursor !== '0');
    return queues;
  } finally {
    redis.disconnect();
  }
}

export async function takeStateSnapshot(
  databaseUrl: string,
  redisUrl: string,
  queuePrefix: string,
): Promise<StateSnapshot> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { tables, failedRequests } = await tableStates(client);
    return {
      tables,
      balances: await balanceStates(client),
      queues: await queueStates(redisUrl, queuePrefix),
      failedRequests,
    };
  } finally {
    await client.end();
  }
}

/** Readable differences between two snapshots; empty when nothing changed. Empty queue sets equal absent ones. */
export function diffStateSnapshots(before: StateSnapshot, after: StateSnapshot): string[] {
  const differences: string[] = [];
  for (const name of new Set([...Object.keys(before.tables), ...Object.keys(after.tables)])) {
    const was = before.tables[name];
    const is = after.tables[name];
    if (was?.rows !== is?.rows)
      differences.push(`table ${name}: ${was?.rows ?? 'absent'} rows → ${is?.rows ?? 'absent'}`);
    else if (was?.digest !== is?.digest)
      differences.push(`table ${name}: same ${is?.rows} rows but their contents changed`);
  }
  for (const key of new Set([...Object.keys(before.balances), ...Object.keys(after.balances)])) {
    if (before.balances[key] !== after.balances[key])
      differences.push(
        `${key}: balance ${before.balances[key] ?? 'absent'} → ${after.balances[key] ?? 'absent'}`,
      );
  }
  for (const key of new Set([...Object.keys(before.queues), ...Object.keys(after.queues)])) {
    if ((before.queues[key] ?? 0) !== (after.queues[key] ?? 0))
      differences.push(
        `redis ${key}: length ${before.queues[key] ?? 0} → ${after.queues[key] ?? 0}`,
      );
  }
  return differences;
}
