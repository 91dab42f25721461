/**
 * `npm run verify`: checks the ledger's invariants (LEDGER_RULES.md §1, §2, §4, §6) over a live
 * database, read-only, in one repeatable-read snapshot so that a busy service cannot make it see
 * half a write. Every check is one set-based query over all ledgers, so it scales with the
 * tables, not with the number of customers:
 *
 * - Σ entry amounts = `ledgers.balance` = Σ block balances, per (customer, currency). The two
 *   transfer types (expiration_change, void_initiated) carry the positive amount moved but change
 *   no balance (§1), so they are left out of the entry sum.
 * - every entry: `ending = starting + amount`, transfers `ending = starting`.
 * - `ledger_sequence_number` gapless from 0 and `ledgers.next_sequence_number` = the entry count.
 * - entries chain: each starts where the previous ended, the first at 0, until a usage decrement
 *   (`price_id` set) is in the ledger: §5 grows its amount and ending balance after later entries
 *   may have been written, so the entry after it, and the first entry written after each growth,
 *   start elsewhere than their predecessor ended. (The totals above still hold for such ledgers.)
 * - no negative block except never-expiring unfiltered (overdraft) ones.
 * - no block past its expiry by more than the slack (`--expiry-slack-seconds`, default 60: the
 *   scheduler expires idle customers' blocks within a minute) still holding a balance.
 * - no ledger request `committed` without entries.
 * - every block's `creation_sequence` (drawdown's last tie-break, §3) is the sequence number of
 *   an entry of its ledger, and no entry naming the block comes before it: a block is used only
 *   after the entry that made it. (Uniqueness per ledger is the schema's.)
 *
 * Exit 0 with "verified N ledgers, M entries: ok"; exit 1 with the first violation (customer,
 * currency, what failed); exit 2 when the database cannot be read.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/credits';
export const DEFAULT_EXPIRY_SLACK_SECONDS = 60;
/** Per check, so that a badly broken database still gives a bounded report. */
export const DEFAULT_VIOLATIONS_PER_CHECK_MAX = 100;

export interface VerifyOptions {
  /** How long past its expiry a block may still hold a balance (the scheduler's lag). */
  expirySlackSeconds?: number;
  /** The instant expiry is judged at; default the database's `now()`. */
  now?: Date;
  violationsPerCheckMax?: number;
}

export interface VerifyResult {
  ok: boolean;
  ledgers: number;
  entries: number;
  violations: string[];
}

const TRANSFERS = `('expiration_change', 'void_initiated')`;

type Check = (
  client: pg.ClientBase,
  limits: {
    max: number;
    now: Date | null;
    slackSeconds: number;
    usageColumns: boolean;
    creationColumn: boolean;
  },
) => Promise<string[]>;

const where = (row: { customer_id: string; currency: string }) =>
  `customer ${row.customer_id}, currency ${row.currency}`;

/**
 * Σ entries = head = Σ blocks, and the sequence numbers as a whole (count, range, head). One
 * grouping over the three tables' rows side by side: Postgres streams it as a merge of the three
 * (customer_id, currency) indexes, with no join to misestimate (1.2 M entries: ~2 s).
 */
const checkLedgerTotals: Check = async (client, { max }) => {
  const { rows } = await client.query<{
    customer_id: string;
    currency: string;
    heads: number;
    head_balance: string | null;
    next_sequence_number: number | null;
    entry_sum: string;
    entry_count: number;
    seq_min: number | null;
    seq_max: number | null;
    seq_distinct: number;
    block_sum: string;
  }>(
    `select customer_id, currency,
            count(*) filter (where source = 'head')::int as heads,
            trim_scale(sum(head_balance))::text as head_balance, max(next_sequence_number) as next_sequence_number,
            trim_scale(coalesce(sum(entry_amount), 0))::text as entry_sum, count(sequence_number)::int as entry_count,
            min(sequence_number) as seq_min, max(sequence_number) as seq_max,
            count(distinct sequence_number)::int as seq_distinct,
            trim_scale(coalesce(sum(block_balance), 0))::text as block_sum
       from (select customer_id, currency, 'head' as source, balance as head_balance, next_sequence_number,
                    null::numeric as entry_amount, null::integer as sequence_number, null::numeric as block_balance
               from ledgers
             union all
             select customer_id, currency, 'entry', null, null,
                    case when entry_type in ${TRANSFERS} then 0 else amount end, ledger_sequence_number, null
               from ledger_entries
             union all
             select customer_id, currency, 'block', null, null, null, null, balance
               from credit_blocks) as ledger_rows
      group by customer_id, currency
     having count(*) filter (where source = 'head') <> 1
         or sum(head_balance) <> coalesce(sum(entry_amount), 0)
         or sum(head_balance) <> coalesce(sum(block_balance), 0)
         or max(next_sequence_number) <> count(sequence_number)
         or (count(sequence_number) > 0 and (min(sequence_number) <> 0 or max(sequence_number) <> count(sequence_number) - 1
             or count(distinct sequence_number) <> count(sequence_number)))
      order by customer_id, currency
      limit $1`,
    [max],
  );
  return rows.flatMap((row) => {
    if (row.heads !== 1) {
      return [
        `${where(row)}: no ledgers row, yet ${row.entry_count} entries (Σ ${row.entry_sum}) and blocks (Σ ${row.block_sum}) exist`,
      ];
    }
    const found: string[] = [];
    if (row.head_balance !== row.entry_sum)
      found.push(
        `${where(row)}: ledgers.balance ${row.head_balance} ≠ Σ entry amounts ${row.entry_sum}`,
      );
    if (row.head_balance !== row.block_sum)
      found.push(
        `${where(row)}: ledgers.balance ${row.head_balance} ≠ Σ block balances ${row.block_sum}`,
      );
    if (row.next_sequence_number !== row.entry_count) {
      found.push(
        `${where(row)}: ledgers.next_sequence_number ${row.next_sequence_number} ≠ entry count ${row.entry_count}`,
      );
    }
    if (
      row.entry_count > 0 &&
      (row.seq_min !== 0 ||
        row.seq_max !== row.entry_count - 1 ||
        row.seq_distinct !== row.entry_count)
    ) {
      found.push(
        `${where(row)}: ledger_sequence_number not gapless from 0: ${row.entry_count} entries numbered ` +
          `${row.seq_min}..${row.seq_max} (${row.seq_distinct} distinct)`,
      );
    }
    return found;
  });
};

/** ending = starting + amount, or ending = starting for the two transfer types. */
const checkEntryArithmetic: Check = async (client, { max }) => {
  const { rows } = await client.query<{
    customer_id: string;
    currency: string;
    id: string;
    ledger_sequence_number: number;
    entry_type: string;
    amount: string;
    starting_balance: string;
    ending_balance: string;
  }>(
    `select customer_id, currency, id, ledger_sequence_number, entry_type, trim_scale(amount)::text as amount,
            trim_scale(starting_balance)::text as starting_balance, trim_scale(ending_balance)::text as ending_balance
       from ledger_entries
      where (entry_type in ${TRANSFERS} and ending_balance <> starting_balance)
         or (entry_type not in ${TRANSFERS} and ending_balance <> starting_balance + amount)
      order by customer_id, currency, ledger_sequence_number
      limit $1`,
    [max],
  );
  return rows.map((row) => {
    const rule =
      row.entry_type === 'expiration_change' || row.entry_type === 'void_initiated'
        ? 'ending = starting'
        : 'ending = starting + amount';
    return (
      `${where(row)}: entry ${row.ledger_sequence_number} (${row.entry_type}, ${row.id}) breaks ${rule}: ` +
      `starting ${row.starting_balance}, amount ${row.amount}, ending ${row.ending_balance}`
    );
  });
};

/** Consecutive entries: numbers step by one, balances chain; the first starts at 0. */
const checkEntryChain: Check = async (client, { max, usageColumns }) => {
  // Before the usage migration there is no price_id: no entry can have grown. A usage entry that
  // grew after entries k-1.. were written breaks the chain at the entry after it and again at the
  // first entry written after the growth (which starts at the lowered head), however far behind
  // the usage entry is; so any usage entry before k exempts k, not only one right before it.
  const usageBefore = usageColumns
    ? 'bool_or(price_id is not null) over (ledger rows between unbounded preceding and 1 preceding)'
    : 'false';
  const { rows } = await client.query<{
    customer_id: string;
    currency: string;
    ledger_sequence_number: number;
    starting_balance: string;
    previous_sequence_number: number | null;
    previous_ending_balance: string | null;
  }>(
    `select customer_id, currency, ledger_sequence_number, trim_scale(starting_balance)::text as starting_balance,
            previous_sequence_number, trim_scale(previous_ending_balance)::text as previous_ending_balance
       from (select customer_id, currency, ledger_sequence_number, starting_balance,
                    lag(ledger_sequence_number) over ledger as previous_sequence_number,
                    lag(ending_balance) over ledger as previous_ending_balance,
                    ${usageBefore} as usage_before
               from ledger_entries
             window ledger as (partition by customer_id, currency order by ledger_sequence_number)) as chained
      where (previous_sequence_number is null and starting_balance <> 0)
         or ledger_sequence_number <> previous_sequence_number + 1
         or (starting_balance <> previous_ending_balance and not coalesce(usage_before, false))
      order by customer_id, currency, ledger_sequence_number
      limit $1`,
    [max],
  );
  return rows.map((row) => {
    if (row.previous_sequence_number === null) {
      return `${where(row)}: the first entry (${row.ledger_sequence_number}) starts at ${row.starting_balance}, not 0`;
    }
    if (row.ledger_sequence_number !== row.previous_sequence_number + 1) {
      return `${where(row)}: sequence gap: entry ${row.ledger_sequence_number} follows entry ${row.previous_sequence_number}`;
    }
    return (
      `${where(row)}: entries do not chain: entry ${row.ledger_sequence_number} starts at ${row.starting_balance} ` +
      `but entry ${row.previous_sequence_number} ended at ${row.previous_ending_balance}`
    );
  });
};

/** Only the overdraft block (never-expiring, unfiltered) may go below zero (§4). */
const checkNegativeBlocks: Check = async (client, { max }) => {
  const { rows } = await client.query<{
    customer_id: string;
    currency: string;
    id: string;
    balance: string;
    expiry_date: Date | null;
    filters: unknown;
  }>(
    `select customer_id, currency, id, trim_scale(balance)::text as balance, expiry_date, filters
       from credit_blocks
      where balance < 0 and not (expiry_date is null and filters = '[]'::jsonb)
      order by customer_id, currency, id
      limit $1`,
    [max],
  );
  return rows.map(
    (row) =>
      `${where(row)}: block ${row.id} has negative balance ${row.balance} but is not an overdraft block ` +
      `(expiry ${row.expiry_date?.toISOString() ?? 'none'}, filters ${JSON.stringify(row.filters)})`,
  );
};

/** A block past its expiry (by more than the slack) holds nothing (§4 credit_block_expiry). */
const checkExpiredBlocks: Check = async (client, { max, now, slackSeconds }) => {
  const { rows } = await client.query<{
    customer_id: string;
    currency: string;
    id: string;
    balance: string;
    expiry_date: Date;
  }>(
    `select customer_id, currency, id, trim_scale(balance)::text as balance, expiry_date
       from credit_blocks
      where balance <> 0 and expiry_date is not null
        and expiry_date < coalesce($2::timestamptz, now()) - make_interval(secs => $3)
      order by customer_id, currency, expiry_date, id
      limit $1`,
    [max, now, slackSeconds],
  );
  return rows.map(
    (row) =>
      `${where(row)}: block ${row.id} expired at ${row.expiry_date.toISOString()} (more than ${slackSeconds} s ago) ` +
      `but still holds ${row.balance}`,
  );
};

/** A committed ledger-entry request made at least one entry (other kinds write elsewhere). */
const checkCommittedRequests: Check = async (client, { max }) => {
  const { rows } = await client.query<{ customer_id: string; currency: string; id: string }>(
    `select r.customer_id, r.currency, r.id
       from requests r
      where r.status = 'committed' and r.kind = 'ledger_entry'
        and not exists (select 1 from ledger_entries e where e.request_id = r.id)
      order by r.customer_id, r.currency, r.id
      limit $1`,
    [max],
  );
  return rows.map(
    (row) => `${where(row)}: ledger request ${row.id} is committed but has no entries`,
  );
};

/** A block's creation_sequence names an entry of its ledger, and nothing used the block before it. */
const checkBlockCreation: Check = async (client, { max, creationColumn }) => {
  // Before the creation-order migration there is nothing to check.
  if (!creationColumn) return [];
  const { rows } = await client.query<{
    customer_id: string;
    currency: string;
    id: string;
    creation_sequence: number;
    first_use: number | null;
    made: boolean;
  }>(
    // Each block's first use in one pass over the entries: ledger_entries has no index on
    // block_id, and a lookup per block read the whole table once per block (hours at 1M entries).
    `with first_use as (
       select block_id, min(ledger_sequence_number) as first_use from ledger_entries group by block_id
     )
     select b.customer_id, b.currency, b.id, b.creation_sequence, f.first_use,
            m.ledger_sequence_number is not null as made
       from credit_blocks b
       left join first_use f on f.block_id = b.id
       left join ledger_entries m on m.customer_id = b.customer_id and m.currency = b.currency
                                 and m.ledger_sequence_number = b.creation_sequence
      where m.ledger_sequence_number is null or f.first_use < b.creation_sequence
      order by b.customer_id, b.currency, b.id
      limit $1`,
    [max],
  );
  return rows.map((row) =>
    row.made
      ? `${where(row)}: block ${row.id} has creation_sequence ${row.creation_sequence} but entry ${row.first_use} used it before`
      : `${where(row)}: block ${row.id} has creation_sequence ${row.creation_sequence}, which names no entry of its ledger`,
  );
};

const CHECKS: readonly Check[] = [
  checkLedgerTotals,
  checkEntryArithmetic,
  checkEntryChain,
  checkNegativeBlocks,
  checkExpiredBlocks,
  checkCommittedRequests,
  checkBlockCreation,
];

export async function verifyDatabase(
  databaseUrl: string,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const slackSeconds = options.expirySlackSeconds ?? DEFAULT_EXPIRY_SLACK_SECONDS;
  if (!Number.isFinite(slackSeconds) || slackSeconds < 0)
    throw new RangeError(`expiry slack must be >= 0 seconds, got ${slackSeconds}`);
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'credits-verify',
  });
  await client.connect();
  try {
    // One snapshot for every check, and a guarantee that nothing here writes.
    await client.query('begin transaction isolation level repeatable read read only');
    // Compiling these one-off scans costs more than it saves.
    await client.query('set local jit = off');
    const [columns] = (
      await client.query<{ usage: boolean; creation: boolean }>(
        `select exists (select 1 from information_schema.columns
                         where table_schema = current_schema() and table_name = 'ledger_entries' and column_name = 'price_id') as usage,
                exists (select 1 from information_schema.columns
                         where table_schema = current_schema() and table_name = 'credit_blocks'
                           and column_name = 'creation_sequence') as creation`,
      )
    ).rows;
    const limits = {
      max: options.violationsPerCheckMax ?? DEFAULT_VIOLATIONS_PER_CHECK_MAX,
      now: options.now ?? null,
      slackSeconds,
      usageColumns: columns?.usage ?? false,
      creationColumn: columns?.creation ?? false,
    };
    const violations: string[] = [];
    for (const check of CHECKS) violations.push(...(await check(client, limits)));
    const [counts] = (
      await client.query<{ ledgers: number; entries: number }>(
        'select (select count(*) from ledgers)::int as ledgers, (select count(*) from ledger_entries)::int as entries',
      )
    ).rows;
    await client.query('rollback');
    return {
      ok: violations.length === 0,
      ledgers: counts?.ledgers ?? 0,
      entries: counts?.entries ?? 0,
      violations,
    };
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'expiry-slack-seconds': { type: 'string', default: String(DEFAULT_EXPIRY_SLACK_SECONDS) },
      now: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'usage: node scripts/verify.ts [--expiry-slack-seconds 60] [--now <ISO instant>]   (DATABASE_URL from the environment)',
    );
    return 0;
  }
  const slack = Number(values['expiry-slack-seconds']);
  const now = values.now === undefined ? undefined : new Date(values.now);
  if (!Number.isFinite(slack) || slack < 0)
    throw new RangeError(
      `--expiry-slack-seconds must be a number >= 0, got ${values['expiry-slack-seconds']}`,
    );
  if (now && Number.isNaN(now.getTime()))
    throw new RangeError(`--now must be an ISO 8601 instant, got ${values.now}`);
  const result = await verifyDatabase(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL, {
    expirySlackSeconds: slack,
    now,
  });
  if (result.ok) {
    console.log(`verified ${result.ledgers} ledgers, ${result.entries} entries: ok`);
    return 0;
  }
  console.log(`violation: ${result.violations[0]}`);
  console.log(
    `verified ${result.ledgers} ledgers, ${result.entries} entries: ${result.violations.length} violation(s)`,
  );
  return 1;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(
        `verify could not run: ${error instanceof Error ? error.message : String(error)}`,
      );
      process.exit(2);
    },
  );
}
