/**
 * What a group of requests (worker/processors/applyRequests.ts) loads and saves, inside
 * the one transaction the group runs in, with a constant number of round trips whatever the
 * group's size: one to lock every request of the group and lock and load every ledger they
 * touch, one to write every decision (set-based, through `ledger_write`) and record every
 * outcome. A block a request names that the load left out (a depleted one, for a void or an
 * expiration change) costs one more, and only then; so does each write a decision forces early
 * (an invoice, a request of another kind). Round trips, not rows, were what a group's time went
 * on: each is a send, a wake-up of the backend and a wait, whatever it carries.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { TopUpState } from '../../domain/decideTopUp.ts';
import type { Block, Ledger, LedgerChanges, NewEntry } from '../../domain/types.ts';
import type { OutcomeError } from '../jobs/requestOutcome.ts';
import {
  blockRecord,
  changedBlockRecord,
  entryRecord,
  toBlock,
  toLoadedLedger,
  toLockedRequest,
  type BlockSqlRow,
  type LoadSqlRow,
  type LockedRequest,
  type LockedRequestRow,
} from './ledgerRepository.ts';
import { toTopUpState } from './topUps.ts';

/**
 * The group's requests and every earlier-accepted request of their customers still queued, in
 * acceptance order, locking nothing: the order in which a failed group is applied one by one
 * (applyRequests.ts), so that a request never fails or passes because of a later one. Ids with no
 * row come last.
 */
export async function inAcceptanceOrder(
  em: EntityManager,
  requestIds: readonly string[],
): Promise<string[]> {
  const rows = await em.execute<{ id: string }[]>(
    `with ids as (select jsonb_array_elements_text(?::jsonb) as id),
     mine as (
       select r.customer_id, max(r.accepted_seq) as seq_max from requests r
        where r.id in (select id from ids) and r.status = 'queued' group by r.customer_id
     ), found as (
       select r.id, r.accepted_seq from requests r where r.id in (select id from ids)
       union
       select e.id, e.accepted_seq from mine m cross join lateral (
         select r.id, r.accepted_seq from requests r
          where r.customer_id = m.customer_id and r.status = 'queued' and r.accepted_seq < m.seq_max
       ) as e
     )
     select id from found order by accepted_seq`,
    [JSON.stringify(requestIds)],
  );
  const ordered = rows.map((row) => row.id);
  const known = new Set(ordered);
  return [...ordered, ...requestIds.filter((id) => !known.has(id))];
}

/** Locks the group's requests, of every kind (in id order, like every other locker of them), and reads them. */
export async function lockRequests(
  em: EntityManager,
  requestIds: readonly string[],
): Promise<Map<string, LockedRequest>> {
  const rows = await em.execute<LockedRequestRow[]>(
    `select q.id, q.kind, q.customer_id, q.currency, q.status, q.payload, q.entry_ids, q.error, c.timezone, c.external_customer_id
       from requests q join customers c on c.id = q.customer_id
      where q.id in (select jsonb_array_elements_text(?::jsonb))
      order by q.id
        for no key update of q`,
    [JSON.stringify(requestIds)],
  );
  return new Map(rows.map((row) => [row.id, toLockedRequest(row)]));
}

/** A ledger loaded with the group's requests (lockRequestsAndLoad), by its customer and currency. */
export interface LoadedGroupLedgerRow extends LoadedGroupLedger {
  customerId: string;
  currency: string;
}

/**
 * `lockRequests` and `lockAndLoadLedgers` in one round trip, through the function
 * `group_lock_and_load` (worker/store/functions/group_lock_and_load.sql, which says in what order it
 * locks): the group's customers, the requests with every earlier-accepted one of those customers
 * still queued, then every ledger their queued ledger-entry requests write to. The map holds the
 * requests in acceptance order (`accepted_seq`), the pulled-forward ones among them. Rows travel
 * as JSON: timestamps arrive as text, which the row readers accept.
 */
export async function lockRequestsAndLoad(
  em: EntityManager,
  requestIds: readonly string[],
  now: Date,
): Promise<{ requests: Map<string, LockedRequest>; ledgers: LoadedGroupLedgerRow[] }> {
  const [row] = await em.execute<
    {
      requests: LockedRequestRow[];
      ledgers: (Pick<
        LoadSqlRow,
        'ledger_balance' | 'next_sequence_number' | 'blocks' | 'top_up'
      > & {
        customer_id: string;
        currency: string;
      })[];
    }[]
  >(
    'select group_requests as requests, group_ledgers as ledgers from group_lock_and_load(?::jsonb, ?)',
    [JSON.stringify(requestIds), now],
  );
  if (!row) throw new Error('the group load answered no row');
  return {
    requests: new Map(row.requests.map((request) => [request.id, toLockedRequest(request)])),
    ledgers: row.ledgers.map((ledger) => ({
      customerId: ledger.customer_id,
      currency: ledger.currency,
      ...toLoadedLedger(ledger.currency, ledger),
      topUp: toTopUpState(ledger.currency, ledger.top_up),
    })),
  };
}

export interface LedgerKey {
  customerId: string;
  currency: string;
  /** Whether to load its top-up configuration (a decrement of the group may trigger it). */
  topUp: boolean;
}

export interface LoadedGroupLedger {
  ledger: Ledger;
  blocks: Block[];
  topUp: TopUpState | null;
}

export const ledgerKeyOf = (customerId: string, currency: string) =>
  `${customerId}\u0000${currency}`;

/**
 * Locks each ledger's customer and loads its head, live blocks and overdraft candidate (the
 * function `ledger_load`), customers in id order so that two lockers cannot deadlock.
 */
export async function lockAndLoadLedgers(
  em: EntityManager,
  keys: readonly LedgerKey[],
  now: Date,
): Promise<Map<string, LoadedGroupLedger>> {
  const ordered = [...keys].sort((a, b) =>
    a.customerId === b.customerId
      ? a.currency.localeCompare(b.currency)
      : a.customerId < b.customerId
        ? -1
        : 1,
  );
  const rows = await em.execute<
    (Pick<LoadSqlRow, 'ledger_balance' | 'next_sequence_number' | 'blocks' | 'top_up'> & {
      customer_id: string;
      currency: string;
    })[]
  >(
    `select k.customer_id, k.currency, l.ledger_balance, l.next_sequence_number, l.blocks,
            case when k.top_up then top_up_load(k.customer_id, k.currency) end as top_up
       from rows from (jsonb_to_recordset(?::jsonb) as (customer_id text, currency text, top_up boolean))
              with ordinality as k(customer_id, currency, top_up, n)
       cross join lateral ledger_load(k.customer_id, k.currency, ?, null) as l
      order by k.n`,
    [
      JSON.stringify(
        ordered.map((key) => ({
          customer_id: key.customerId,
          currency: key.currency,
          top_up: key.topUp,
        })),
      ),
      now,
    ],
  );
  return new Map(
    rows.map((row) => [
      ledgerKeyOf(row.customer_id, row.currency),
      { ...toLoadedLedger(row.currency, row), topUp: toTopUpState(row.currency, row.top_up) },
    ]),
  );
}

/** Blocks by id, whatever their balance, with the ledger each belongs to. */
export async function loadBlocks(
  em: EntityManager,
  blockIds: readonly string[],
): Promise<{ customerId: string; block: Block }[]> {
  const rows = await em.execute<(BlockSqlRow & { customer_id: string })[]>(
    `select id, customer_id, currency, balance::text as balance,
            maximum_initial_balance::text as maximum_initial_balance, effective_date, expiry_date,
            per_unit_cost_basis, filters, status, voided_at, created_at, creation_sequence
       from credit_blocks where id in (select jsonb_array_elements_text(?::jsonb))`,
    [JSON.stringify(blockIds)],
  );
  return rows.map((row) => ({ customerId: row.customer_id, block: toBlock(row) }));
}

/** The writes of several decisions on several ledgers, merged: each block and head at its last state. */
export interface GroupWrites {
  newBlocks: { customerId: string; block: Block }[];
  changedBlocks: { customerId: string; block: Block }[];
  entries: { customerId: string; requestId: string; entry: NewEntry }[];
  heads: { customerId: string; ledger: Ledger }[];
  /** Decisions that made or changed invoices, in the order decided (saved after the blocks). */
  invoiceDecisions: { customerId: string; changes: LedgerChanges }[];
}

/**
 * Writes the merged decisions in one statement (the function `ledger_write`); with `record`, also
 * records those outcomes in the same statement (the function `group_save`; recordOutcomes' check
 * included).
 */
export async function writeGroup(
  em: EntityManager,
  writes: GroupWrites,
  record?: { outcomes: readonly RecordedOutcome[]; now: Date },
): Promise<void> {
  const empty = writes.entries.length === 0 && writes.heads.length === 0;
  if (empty || !record || record.outcomes.length === 0) {
    if (!empty) await em.execute(`select ledger_write(${WRITE_ARGUMENTS})`, writeParams(writes));
    if (record) await recordOutcomes(em, record.outcomes, record.now);
    return;
  }
  const [row] = await em.execute<{ recorded: number }[]>(
    `select group_save(${WRITE_ARGUMENTS}, ?, ?::jsonb) as recorded`,
    [...writeParams(writes), record.now, outcomesJson(record.outcomes)],
  );
  checkRecorded(record.outcomes.length, row?.recorded ?? 0);
}

const WRITE_ARGUMENTS = '?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb';

function writeParams(writes: GroupWrites): string[] {
  return [
    JSON.stringify(writes.newBlocks.map(({ customerId, block }) => blockRecord(customerId, block))),
    JSON.stringify(
      writes.changedBlocks.map(({ customerId, block }) => changedBlockRecord(customerId, block)),
    ),
    JSON.stringify(
      writes.entries.map(({ customerId, requestId, entry }) =>
        entryRecord(customerId, requestId, entry),
      ),
    ),
    '[]',
    JSON.stringify(
      writes.heads.map(({ customerId, ledger }) => ({
        customer_id: customerId,
        currency: ledger.currency,
        balance: ledger.balance.toString(),
        next_sequence_number: ledger.nextSequenceNumber,
      })),
    ),
  ];
}

export type RecordedOutcome =
  | { requestId: string; status: 'committed'; entryIds: string[] }
  | { requestId: string; status: 'failed'; error: OutcomeError };

const RECORD_OUTCOMES = `update requests q
        set status = o.status, entry_ids = coalesce(o.entry_ids, q.entry_ids), error = o.error, completed_at = ?
       from jsonb_to_recordset(?::jsonb) as o(id text, status text, entry_ids jsonb, error jsonb)
      where q.id = o.id and q.status = 'queued'
  returning q.id`;

function outcomesJson(outcomes: readonly RecordedOutcome[]): string {
  return JSON.stringify(
    outcomes.map((outcome) =>
      outcome.status === 'committed'
        ? { id: outcome.requestId, status: 'committed', entry_ids: outcome.entryIds, error: null }
        : { id: outcome.requestId, status: 'failed', entry_ids: null, error: outcome.error },
    ),
  );
}

/**
 * Every request of the group must still be `queued` (the group holds their locks): a request
 * recorded by someone else meanwhile is a broken invariant, and the whole group rolls back.
 */
function checkRecorded(expected: number, recorded: number): void {
  if (recorded !== expected)
    throw new Error(
      `${expected - recorded} of the group's ${expected} requests were no longer queued`,
    );
}

/** Records every outcome of the group in one statement (see checkRecorded). */
export async function recordOutcomes(
  em: EntityManager,
  outcomes: readonly RecordedOutcome[],
  now: Date,
): Promise<void> {
  if (outcomes.length === 0) return;
  const rows = await em.execute<{ id: string }[]>(RECORD_OUTCOMES, [now, outcomesJson(outcomes)]);
  checkRecorded(outcomes.length, rows.length);
}
