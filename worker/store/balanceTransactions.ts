/**
 * Customer balance transactions in Postgres (LEDGER_RULES.md §7): what the worker locks, loads and
 * saves for a balance request (recorded in `requests`, worker/store/requests.ts) in its group's
 * transaction, and the reads of the api. Raw SQL through the EntityManager's
 * connection (`em.execute` joins the current transaction), as in ledgerRepository.ts; numerics
 * leave Postgres as text and timestamps are normalised here, so nothing passes through a float.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Decimal } from '../../domain/decimal.ts';
import type { BalanceTransaction } from '../../domain/decideBalanceTransaction.ts';
import type { Page, TimeRange } from './readQueries.ts';

/** Raw rows bypass MikroORM's hydration: timestamps may arrive as text, numerics always do. */
type Instant = Date | string;
const toDate = (value: Instant) => (value instanceof Date ? value : new Date(value));

interface TransactionSqlRow {
  seq: string;
  id: string;
  type: string;
  amount: string;
  starting_balance: string;
  ending_balance: string;
  description: string | null;
  created_at: Instant;
}

const TRANSACTION_COLUMNS =
  'seq::text as seq, id, type, amount::text as amount, starting_balance::text as starting_balance, ending_balance::text as ending_balance, description, created_at';

/**
 * A transaction as stored, safe to send as JSON (it travels in the worker's outcome): amounts as
 * the decimal text Postgres gives, the instant as ISO 8601. api/wire/balanceTransaction.ts makes
 * Orb's CustomerBalanceTransaction of it.
 */
export interface BalanceTransactionRecord {
  id: string;
  type: 'increment' | 'decrement';
  amount: string;
  starting_balance: string;
  ending_balance: string;
  description: string | null;
  created_at: string;
}

function toRecord(row: TransactionSqlRow): BalanceTransactionRecord {
  return {
    id: row.id,
    type: row.type === 'decrement' ? 'decrement' : 'increment',
    amount: row.amount,
    starting_balance: row.starting_balance,
    ending_balance: row.ending_balance,
    description: row.description,
    created_at: toDate(row.created_at).toISOString(),
  };
}

export async function findTransactionOfRequest(
  em: EntityManager,
  requestId: string,
): Promise<BalanceTransactionRecord | undefined> {
  const [row] = await em.execute<TransactionSqlRow[]>(
    `select ${TRANSACTION_COLUMNS} from balance_transactions where request_id = ?`,
    [requestId],
  );
  return row && toRecord(row);
}

/**
 * Locks the customer (its row holds the balance: a backstop behind the partition's
 * one-job-at-a-time guarantee) and reads its invoicing currency and balance. "No key update", as
 * ledger_load: intake inserts, which take key-share locks on the customer, never wait on it.
 */
export async function lockCustomerBalance(
  em: EntityManager,
  customerId: string,
): Promise<{ currency: string | null; balance: Decimal } | undefined> {
  const [row] = await em.execute<{ currency: string | null; balance: string }[]>(
    'select currency, balance::text as balance from customers where id = ? for no key update',
    [customerId],
  );
  return row && { currency: row.currency, balance: Decimal.of(row.balance) };
}

/**
 * Writes the transaction and moves `customers.balance` to its ending balance, in one statement.
 * The balance moves only from the transaction's starting balance, so a write that did not see the
 * latest balance fails instead of losing an update. The request's outcome is recorded with its
 * group's (ledgerGroupRepository.ts's recordOutcomes).
 */
export async function saveBalanceTransaction(
  em: EntityManager,
  customerId: string,
  requestId: string,
  transaction: BalanceTransaction,
): Promise<BalanceTransactionRecord> {
  const [row] = await em.execute<(TransactionSqlRow & { customers: number })[]>(
    `with saved as (
       insert into balance_transactions (id, customer_id, request_id, currency, action, type, amount, starting_balance, ending_balance, description, created_at)
       values (?, ?, ?, ?, ?, ?, ?::numeric, ?::numeric, ?::numeric, ?, ?)
       returning ${TRANSACTION_COLUMNS}
     ), customer as (
       update customers set balance = ?::numeric where id = ? and balance = ?::numeric returning id
     )
     select saved.*, (select count(*) from customer)::int as customers from saved`,
    [
      transaction.id,
      customerId,
      requestId,
      transaction.currency,
      transaction.action,
      transaction.type,
      transaction.amount.toString(),
      transaction.startingBalance.toString(),
      transaction.endingBalance.toString(),
      transaction.description,
      transaction.createdAt,
      transaction.endingBalance.toString(),
      customerId,
      transaction.startingBalance.toString(),
    ],
  );
  // Broken invariants, not business outcomes: the transaction rolls back and the job fails loudly.
  if (!row || row.customers !== 1)
    throw new Error(`customer ${customerId}'s balance moved under balance request ${requestId}`);
  return toRecord(row);
}

export interface BalanceTransactionFilter {
  limit: number;
  /** `seq` of the last transaction already seen; the page continues with older ones. */
  afterSeq?: string;
  /** Orb's `operation_time`: when the transaction happened, its `created_at`. */
  operationTime: TimeRange;
}

/** Newest first; `seq` is the insertion order, which for one customer is the order applied. */
export async function listBalanceTransactions(
  em: EntityManager,
  customerId: string,
  filter: BalanceTransactionFilter,
): Promise<Page<BalanceTransactionRecord>> {
  const where = ['customer_id = ?'];
  const params: unknown[] = [customerId];
  const add = (clause: string, value: unknown) => {
    where.push(clause);
    params.push(value);
  };
  if (filter.afterSeq !== undefined) add('seq < ?', filter.afterSeq);
  if (filter.operationTime.gt) add('created_at > ?', filter.operationTime.gt);
  if (filter.operationTime.gte) add('created_at >= ?', filter.operationTime.gte);
  if (filter.operationTime.lt) add('created_at < ?', filter.operationTime.lt);
  if (filter.operationTime.lte) add('created_at <= ?', filter.operationTime.lte);
  const rows = await em.execute<TransactionSqlRow[]>(
    `select ${TRANSACTION_COLUMNS} from balance_transactions where ${where.join(' and ')} order by seq desc limit ?`,
    [...params, filter.limit + 1],
  );
  const page = rows.slice(0, filter.limit);
  return {
    data: page.map(toRecord),
    next: rows.length > filter.limit ? (page.at(-1)?.seq ?? null) : null,
  };
}
