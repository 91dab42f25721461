/**
 * Seeds long-lived ledgers straight into the tables with set-based SQL (generate_series), for the
 * read and ledger-size benchmarks: a million entries in seconds, where the API would take an
 * hour. The shape is what a customer who has been topping up for a year looks like: a history of
 * blocks, each opened by an increment of 100, drawn down by decrements of 0.5 and closed either
 * by a decrement of what was left (every 10th block never expired, every even one was used up)
 * or by a `credit_block_expiry` (the odd ones); then a few live blocks of 1,000,000 each, one
 * never expiring and the others expiring 30, 60, … days from now. So the live-block set stays
 * small however long the history is, as it does for a real customer.
 *
 * The rows obey every CHECK constraint and scripts/verify.ts: each block ends at 0 before the
 * next opens, so an entry's starting balance is `100 − 0.5·(j − 1)` within its block, entries
 * chain from 0 with gapless sequence numbers, and the head row holds Σ live blocks and the
 * entry count. Ids are 16 hex characters derived from the customer id (md5), so reseeding the
 * same ids is deterministic. The caller analyzes afterwards (`vacuumSeededTables`).
 */
import pg from 'pg';
import { openOrm } from '../worker/store/orm.ts';
import { recreateDatabase } from './benchSupport.ts';

export const SEED_CURRENCY = 'credits';
export const SEED_INCREMENT_AMOUNT = 100;
export const SEED_DECREMENT_AMOUNT = 0.5;
export const SEED_LIVE_BLOCK_AMOUNT = 1_000_000;
/** 100 − 0.5·(K − 2) must stay positive for the closing entry to be a real draw. */
const ENTRIES_PER_BLOCK_MAX = 200;
const DAY_MS = 86_400_000;

export interface SeedShape {
  /** Depleted or expired blocks before the live ones. */
  historyBlocks: number;
  /** Entries per history block (increment, decrements, closing entry), 3..200. */
  entriesPerBlock: number;
  /** Live blocks at the end, ≥ 1: the first never expires. */
  liveBlocks: number;
  /** The instant the history ends at (the last history entry is a day before it). */
  now: Date;
}

export interface SeededLedger {
  customerId: string;
  externalCustomerId: string;
  entries: number;
  blocks: number;
  balance: number;
}

/** Entries one customer gets from a shape. */
export function seededEntryCount(shape: SeedShape): number {
  return shape.historyBlocks * shape.entriesPerBlock + shape.liveBlocks;
}

/**
 * Inserts the customers (external id `ext-<id>`, timezone UTC) and their ledgers, one statement
 * per table for all of them. Customer ids must be new.
 */
export async function seedLedgers(
  client: pg.ClientBase,
  customerIds: readonly string[],
  shape: SeedShape,
): Promise<SeededLedger[]> {
  const { historyBlocks, entriesPerBlock, liveBlocks, now } = shape;
  if (!Number.isInteger(historyBlocks) || historyBlocks < 0)
    throw new RangeError(`historyBlocks must be an integer ≥ 0, got ${historyBlocks}`);
  if (
    !Number.isInteger(entriesPerBlock) ||
    entriesPerBlock < 3 ||
    entriesPerBlock > ENTRIES_PER_BLOCK_MAX
  ) {
    throw new RangeError(
      `entriesPerBlock must be an integer in 3..${ENTRIES_PER_BLOCK_MAX}, got ${entriesPerBlock}`,
    );
  }
  if (!Number.isInteger(liveBlocks) || liveBlocks < 1)
    throw new RangeError(`liveBlocks must be an integer ≥ 1, got ${liveBlocks}`);
  // The history spans a year (at least an hour per block) and ends a day before `now`.
  const blockSpanMs = Math.max(3_600_000, Math.floor((365 * DAY_MS) / Math.max(1, historyBlocks)));
  const historyEnd = new Date(now.getTime() - DAY_MS);
  const params = {
    customers: [...customerIds],
    historyBlocks,
    entriesPerBlock,
    liveBlocks,
    historyEnd,
    blockSpanSeconds: blockSpanMs / 1000,
    now,
  };
  await client.query('begin');
  try {
    await client.query(
      `insert into customers (id, external_customer_id, name, email, timezone, created_at)
       select c, 'ext-' || c, 'Seeded ' || c, c || '@seed.example.com', 'UTC', $2::timestamptz - interval '400 days'
         from unnest($1::text[]) as c`,
      [params.customers, historyEnd],
    );
    // The external ids' uniqueness lives in customer_external_ids (as the customer create writes it).
    await client.query(
      `insert into customer_external_ids (external_customer_id, customer_id)
       select 'ext-' || c, c from unnest($1::text[]) as c`,
      [params.customers],
    );
    await insertHistory(client, params);
    await insertLive(client, params);
    await client.query(
      `insert into ledgers (customer_id, currency, balance, next_sequence_number)
       select c, $2::text, $3::numeric * $4::int, $5::int from unnest($1::text[]) as c`,
      [
        params.customers,
        SEED_CURRENCY,
        SEED_LIVE_BLOCK_AMOUNT,
        liveBlocks,
        historyBlocks * entriesPerBlock + liveBlocks,
      ],
    );
    await client.query('commit');
  } catch (error) {
    await client.query('rollback');
    throw error;
  }
  return customerIds.map((customerId) => ({
    customerId,
    externalCustomerId: `ext-${customerId}`,
    entries: seededEntryCount(shape),
    blocks: historyBlocks + liveBlocks,
    balance: SEED_LIVE_BLOCK_AMOUNT * liveBlocks,
  }));
}

interface SeedParams {
  customers: string[];
  historyBlocks: number;
  entriesPerBlock: number;
  liveBlocks: number;
  historyEnd: Date;
  blockSpanSeconds: number;
  now: Date;
}

/** Block i opens at historyEnd − (H − i)·span; its K entries are spread over its span. */
async function insertHistory(client: pg.ClientBase, p: SeedParams): Promise<void> {
  if (p.historyBlocks === 0) return;
  const span = `make_interval(secs => $4::double precision)`;
  await client.query(
    `insert into credit_blocks (id, customer_id, currency, balance, maximum_initial_balance, effective_date, expiry_date,
                                filters, status, created_at, creation_sequence)
     select substr(md5(c || ':b:' || i), 1, 16), c, $5::text, 0, $6::numeric, opened,
            case when i % 10 = 0 then null else opened + ${span} * ($7::int - 1) / $7::int end,
            '[]'::jsonb, 'active', opened, i * $7::int
       from unnest($1::text[]) as c
      cross join generate_series(0, $2::int - 1) as i
      cross join lateral (select $3::timestamptz - ${span} * ($2::int - i) as opened) as o`,
    [
      p.customers,
      p.historyBlocks,
      p.historyEnd,
      p.blockSpanSeconds,
      SEED_CURRENCY,
      SEED_INCREMENT_AMOUNT,
      p.entriesPerBlock,
    ],
  );
  await client.query(
    `insert into ledger_entries (id, customer_id, currency, ledger_sequence_number, entry_type, entry_status, amount,
                                 starting_balance, ending_balance, block_id, metadata, created_at)
     select substr(md5(c || ':e:' || (i * $7::int + j)), 1, 16), c, $5::text, i * $7::int + j,
            case when j = 0 then 'increment' when j = $7::int - 1 and i % 2 = 1 then 'credit_block_expiry' else 'decrement' end,
            'committed',
            case when j = 0 then $6::numeric when j < $7::int - 1 then -$8::numeric else -($6::numeric - $8::numeric * ($7::int - 2)) end,
            case when j = 0 then 0 else $6::numeric - $8::numeric * (j - 1) end,
            case when j = 0 then $6::numeric when j < $7::int - 1 then $6::numeric - $8::numeric * j else 0 end,
            substr(md5(c || ':b:' || i), 1, 16), '{}'::jsonb,
            $3::timestamptz - ${span} * ($2::int - i) + ${span} * j / $7::int
       from unnest($1::text[]) as c
      cross join generate_series(0, $2::int - 1) as i
      cross join generate_series(0, $7::int - 1) as j`,
    [
      p.customers,
      p.historyBlocks,
      p.historyEnd,
      p.blockSpanSeconds,
      SEED_CURRENCY,
      SEED_INCREMENT_AMOUNT,
      p.entriesPerBlock,
      SEED_DECREMENT_AMOUNT,
    ],
  );
}

/** Live block k (0-based): never expiring for k = 0, else expiring k·30 days after `now`. */
async function insertLive(client: pg.ClientBase, p: SeedParams): Promise<void> {
  await client.query(
    `insert into credit_blocks (id, customer_id, currency, balance, maximum_initial_balance, effective_date, expiry_date,
                                filters, status, created_at, creation_sequence)
     select substr(md5(c || ':live:' || k), 1, 16), c, $3::text, $4::numeric, $4::numeric, $5::timestamptz + make_interval(secs => k),
            case when k = 0 then null else $6::timestamptz + make_interval(days => 30 * k) end,
            '[]'::jsonb, 'active', $5::timestamptz + make_interval(secs => k), $7::int + k
       from unnest($1::text[]) as c cross join generate_series(0, $2::int - 1) as k`,
    [
      p.customers,
      p.liveBlocks,
      SEED_CURRENCY,
      SEED_LIVE_BLOCK_AMOUNT,
      p.historyEnd,
      p.now,
      p.historyBlocks * p.entriesPerBlock,
    ],
  );
  await client.query(
    `insert into ledger_entries (id, customer_id, currency, ledger_sequence_number, entry_type, entry_status, amount,
                                 starting_balance, ending_balance, block_id, metadata, created_at)
     select substr(md5(c || ':live-e:' || k), 1, 16), c, $3::text, $6::int + k, 'increment', 'committed', $4::numeric,
            $4::numeric * k, $4::numeric * (k + 1), substr(md5(c || ':live:' || k), 1, 16), '{}'::jsonb,
            $5::timestamptz + make_interval(secs => k)
       from unnest($1::text[]) as c cross join generate_series(0, $2::int - 1) as k`,
    [
      p.customers,
      p.liveBlocks,
      SEED_CURRENCY,
      SEED_LIVE_BLOCK_AMOUNT,
      p.historyEnd,
      p.historyBlocks * p.entriesPerBlock,
    ],
  );
}

/**
 * Vacuum and analyze what was seeded, as autovacuum would have long since done for a real
 * long-lived database: fresh statistics for the planner and visibility maps for index-only scans.
 */
export async function vacuumSeededTables(client: pg.ClientBase): Promise<void> {
  for (const table of ['customers', 'ledgers', 'credit_blocks', 'ledger_entries'])
    await client.query(`vacuum analyze ${table}`);
}

/**
 * Recreates `databaseUrl` with the service's migrations, hands `seed` a connection to it, then
 * vacuums what was seeded so that the benchmark reads a settled table.
 */
export async function seedFreshDatabase<T>(
  databaseUrl: string,
  seed: (client: pg.Client) => Promise<T>,
): Promise<T> {
  await recreateDatabase(databaseUrl);
  const orm = await openOrm(databaseUrl);
  await orm.close();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const seeded = await seed(client);
    await vacuumSeededTables(client);
    return seeded;
  } finally {
    await client.end();
  }
}
