/**
 * Customer balance transactions in Postgres (LEDGER_RULES.md §7): the requests the intake records
 * (`balance_transaction_requests`, with their Idempotency-Key), what the worker locks, loads and
 * saves in its one transaction, and the reads of the api. Raw SQL through the EntityManager's
 * connection (`em.execute` joins the current transaction), as in ledgerRepository.ts; numerics
 * leave Postgres as text and timestamps are normalised here, so nothing passes through a float.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Decimal } from '../../domain/decimal.ts';
import type { BalanceTransaction } from '../../domain/decideBalanceTransaction.ts';
import type { OutcomeError } from '../jobs/ledgerOutcome.ts';
import type { Page, TimeRange } from './readQueries.ts';

const decimalText = z
  .string()
  .refine((text) => typeof Decimal.parse(text) !== 'string', 'a decimal');

/** A request as stored in `balance_transaction_requests.payload` and parsed again by the worker. */
export const balanceRequestPayload = z.object({
  type: z.enum(['increment', 'decrement']),
  amount: decimalText,
  description: z.string().nullable(),
});
export type BalanceRequestPayload = z.infer<typeof balanceRequestPayload>;

export type BalanceRequestStatus = 'queued' | 'committed' | 'failed';

export interface BalanceRequestRow {
  id: string;
  customerId: string;
  partition: number;
  payload: BalanceRequestPayload;
  status: BalanceRequestStatus;
  error: OutcomeError | null;
  createdAt: Date;
  completedAt: Date | null;
}

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

/** Orb's CustomerBalanceTransaction: every amount a decimal string, in the customer's currency. */
export function balanceTransactionView(row: TransactionSqlRow) {
  return {
    id: row.id,
    created_at: toDate(row.created_at).toISOString(),
    starting_balance: Decimal.of(row.starting_balance).toString(),
    ending_balance: Decimal.of(row.ending_balance).toString(),
    amount: Decimal.of(row.amount).toString(),
    action: 'manual_adjustment' as const,
    description: row.description,
    invoice: null,
    type: row.type === 'decrement' ? ('decrement' as const) : ('increment' as const),
    credit_note: null,
  };
}
export type BalanceTransactionView = ReturnType<typeof balanceTransactionView>;

/** The worker's answer to a balance request: the job's return value and what a replay answers again. */
export type BalanceOutcome =
  | { status: 'committed'; requestId: string; transaction: BalanceTransactionView }
  | { status: 'failed'; requestId: string; error: OutcomeError };

export interface IdempotencyInput {
  key: string;
  fingerprint: string;
}

/**
 * Records the request, and its Idempotency-Key when given, in one statement: the request row is
 * inserted only if the key was free. Answers false when the key was already taken.
 */
export async function recordBalanceRequest(
  em: EntityManager,
  request: BalanceRequestRow,
  idempotency: IdempotencyInput | undefined,
): Promise<boolean> {
  const values = [
    request.id,
    request.customerId,
    request.partition,
    JSON.stringify(request.payload),
    request.createdAt,
  ];
  if (!idempotency) {
    await em.execute(
      `insert into balance_transaction_requests (id, customer_id, partition, payload, status, created_at) values (?, ?, ?, ?::jsonb, 'queued', ?)`,
      values,
    );
    return true;
  }
  const inserted = await em.execute<{ id: string }[]>(
    `with key as (
       insert into idempotency_keys (key, fingerprint, balance_transaction_request_id, created_at) values (?, ?, ?, ?)
       on conflict (key) do nothing returning balance_transaction_request_id
     )
     insert into balance_transaction_requests (id, customer_id, partition, payload, status, created_at)
     select ?, ?, ?, ?::jsonb, 'queued', ? from key returning id`,
    [idempotency.key, idempotency.fingerprint, request.id, request.createdAt, ...values],
  );
  return inserted.length > 0;
}

/** Undoes `recordBalanceRequest` for a request that was never enqueued. */
export async function forgetBalanceRequest(em: EntityManager, requestId: string): Promise<void> {
  await em.execute(
    'with key as (delete from idempotency_keys where balance_transaction_request_id = ?) delete from balance_transaction_requests where id = ?',
    [requestId, requestId],
  );
}

interface RequestSqlRow {
  id: string;
  customer_id: string;
  partition: number;
  payload: BalanceRequestPayload;
  status: BalanceRequestStatus;
  error: OutcomeError | null;
  created_at: Instant;
  completed_at: Instant | null;
}

function toRequestRow(row: RequestSqlRow): BalanceRequestRow {
  return {
    id: row.id,
    customerId: row.customer_id,
    partition: row.partition,
    payload: row.payload,
    status: row.status,
    error: row.error,
    createdAt: toDate(row.created_at),
    completedAt: row.completed_at === null ? null : toDate(row.completed_at),
  };
}

export async function findBalanceRequest(
  em: EntityManager,
  requestId: string,
): Promise<BalanceRequestRow | undefined> {
  const [row] = await em.execute<RequestSqlRow[]>(
    'select * from balance_transaction_requests where id = ?',
    [requestId],
  );
  return row && toRequestRow(row);
}

/** The request an Idempotency-Key was stored with, if it was a balance request's key. */
export async function findBalanceRequestByKey(
  em: EntityManager,
  key: string,
): Promise<{ fingerprint: string; request: BalanceRequestRow | undefined } | undefined> {
  const [row] = await em.execute<{ fingerprint: string; request_id: string | null }[]>(
    'select fingerprint, balance_transaction_request_id as request_id from idempotency_keys where key = ?',
    [key],
  );
  if (!row) return undefined;
  return {
    fingerprint: row.fingerprint,
    request: row.request_id === null ? undefined : await findBalanceRequest(em, row.request_id),
  };
}

export async function findTransactionOfRequest(
  em: EntityManager,
  requestId: string,
): Promise<BalanceTransactionView | undefined> {
  const [row] = await em.execute<TransactionSqlRow[]>(
    `select ${TRANSACTION_COLUMNS} from balance_transactions where request_id = ?`,
    [requestId],
  );
  return row && balanceTransactionView(row);
}

/** A finished request's answer again: its transaction or its error. */
export async function storedBalanceOutcome(
  em: EntityManager,
  request: Pick<BalanceRequestRow, 'id' | 'error'>,
): Promise<BalanceOutcome> {
  const transaction = await findTransactionOfRequest(em, request.id);
  if (transaction) return { status: 'committed', requestId: request.id, transaction };
  return {
    status: 'failed',
    requestId: request.id,
    error: request.error ?? { kind: 'internal', detail: 'no outcome was recorded' },
  };
}

export interface LockedBalanceRequest {
  request: Pick<BalanceRequestRow, 'id' | 'customerId' | 'status' | 'error'> & { payload: unknown };
  customer: { currency: string | null; balance: Decimal };
}

/**
 * Locks the request and its customer (the customer row holds the balance: a backstop behind the
 * partition's one-job-at-a-time guarantee) and loads what the decision needs, in one round trip.
 * "No key update", as ledger_load: intake inserts, which take key-share locks, never wait on it.
 */
export async function lockBalanceRequest(
  em: EntityManager,
  requestId: string,
): Promise<LockedBalanceRequest | undefined> {
  const [row] = await em.execute<
    {
      id: string;
      customer_id: string;
      status: BalanceRequestStatus;
      payload: unknown;
      error: OutcomeError | null;
      currency: string | null;
      balance: string;
    }[]
  >(
    `select r.id, r.customer_id, r.status, r.payload, r.error, c.currency, c.balance::text as balance
       from balance_transaction_requests r join customers c on c.id = r.customer_id
      where r.id = ? for no key update`,
    [requestId],
  );
  if (!row) return undefined;
  return {
    request: {
      id: row.id,
      customerId: row.customer_id,
      status: row.status,
      payload: row.payload,
      error: row.error,
    },
    customer: { currency: row.currency, balance: Decimal.of(row.balance) },
  };
}

/**
 * Writes the transaction, moves `customers.balance` to its ending balance and marks the request
 * committed, in one statement. The balance moves only from the transaction's starting balance, so
 * a write that did not see the latest balance fails instead of losing an update.
 */
export async function saveBalanceTransaction(
  em: EntityManager,
  customerId: string,
  requestId: string,
  transaction: BalanceTransaction,
  now: Date,
): Promise<BalanceTransactionView> {
  const [row] = await em.execute<(TransactionSqlRow & { customers: number; requests: number })[]>(
    `with saved as (
       insert into balance_transactions (id, customer_id, request_id, currency, action, type, amount, starting_balance, ending_balance, description, created_at)
       values (?, ?, ?, ?, ?, ?, ?::numeric, ?::numeric, ?::numeric, ?, ?)
       returning ${TRANSACTION_COLUMNS}
     ), customer as (
       update customers set balance = ?::numeric where id = ? and balance = ?::numeric returning id
     ), request as (
       update balance_transaction_requests set status = 'committed', completed_at = ? where id = ? and status = 'queued' returning id
     )
     select saved.*, (select count(*) from customer)::int as customers, (select count(*) from request)::int as requests from saved`,
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
      now,
      requestId,
    ],
  );
  // Broken invariants, not business outcomes: the transaction rolls back and the job fails loudly.
  if (!row || row.customers !== 1)
    throw new Error(`customer ${customerId}'s balance moved under balance request ${requestId}`);
  if (row.requests !== 1) throw new Error(`balance request ${requestId} is not queued`);
  return balanceTransactionView(row);
}

export async function markBalanceRequestFailed(
  em: EntityManager,
  requestId: string,
  error: OutcomeError,
  now: Date,
): Promise<void> {
  await em.execute(
    `update balance_transaction_requests set status = 'failed', error = ?::jsonb, completed_at = ? where id = ? and status = 'queued'`,
    [JSON.stringify(error), now, requestId],
  );
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
): Promise<Page<BalanceTransactionView>> {
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
    data: page.map(balanceTransactionView),
    next: rows.length > filter.limit ? (page.at(-1)?.seq ?? null) : null,
  };
}
