/**
 * What the usage processor reads and writes, in the transaction it runs in, in three round trips
 * whatever the batch holds: the accepted events it applies, with their live prices and customer
 * timezones; every ledger they touch with its pending entries; one write (the events marked, the
 * ledgers changed). Each round trip counts: under load a transaction waits for the worker's event
 * loop between its statements, holding its customers' locks.
 *
 * Usage jobs of older versions carried their events; `insertQueuedEvents` writes those as
 * accepted first, in the same transaction, and they are then applied like any other.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Decimal } from '../../domain/decimal.ts';
import type { PropertyValue, UsagePrice } from '../../domain/priceEvent.ts';
import type { TopUpState } from '../../domain/decideTopUp.ts';
import type { LedgerChanges, PendingUsageEntry } from '../../domain/types.ts';
import { saveInvoiceChanges } from './invoices.ts';
import {
  blockRecord,
  changedBlockRecord,
  entryRecord,
  toLoadedLedger,
  type LoadedLedger,
  type LoadSqlRow,
} from './ledgerRepository.ts';
import { toTopUpState, type TopUpLoadJson } from './topUps.ts';

/** An event as a usage job of an older version carried it. */
export interface QueuedEvent {
  idempotency_key: string;
  customer_id: string;
  external_customer_id: string | null;
  event_name: string;
  timestamp: string;
  /** Exact JSON text. */
  properties_json: string;
  accepted_at: string;
}

/**
 * Writes events carried by old jobs as accepted, in the jobs' order, and answers how many it
 * wrote and the highest place in line given (null when every one was here already). An event kept while its external
 * id named no customer is accepted now, once; any other repeat is left as it is. One key twice in
 * the batch (a job delivered twice and taken as its own follower) is written once.
 */
export async function insertQueuedEvents(
  em: EntityManager,
  events: QueuedEvent[],
): Promise<{ written: number; acceptedSeqMax: string | null }> {
  const seen = new Set<string>();
  const unique = events.filter(
    (event) => !seen.has(event.idempotency_key) && seen.add(event.idempotency_key),
  );
  const [row] = await em.execute<{ written: string; seq: string | null }[]>(
    `with written as (
       insert into events (idempotency_key, customer_id, external_customer_id, event_name, timestamp, properties,
                           status, ingested_at, accepted_seq)
       select s.k, s.c, s.x, s.n, s.t, s.p::jsonb, 'accepted', s.a, nextval('events_accepted_seq')
         from rows from (jsonb_to_recordset(?::jsonb) as (k text, c text, x text, n text, t timestamptz, p text, a timestamptz))
              with ordinality as s(k, c, x, n, t, p, a, o)
        order by s.o
       on conflict (idempotency_key) do update
         set customer_id = excluded.customer_id, status = 'accepted', accepted_seq = excluded.accepted_seq,
             ingested_at = excluded.ingested_at, applied_at = null
         where events.status = 'awaiting_customer'
       returning accepted_seq)
     select count(*)::text as written, max(accepted_seq)::text as seq from written`,
    [
      JSON.stringify(
        unique.map((event) => ({
          k: event.idempotency_key,
          c: event.customer_id,
          x: event.external_customer_id,
          n: event.event_name,
          t: event.timestamp,
          p: event.properties_json,
          a: event.accepted_at,
        })),
      ),
    ],
  );
  return { written: Number(row?.written ?? 0), acceptedSeqMax: row?.seq ?? null };
}

/** An accepted event with what pricing it needs: its live price, its quantity, its customer's timezone. */
export interface ClaimedEvent {
  idempotencyKey: string;
  customerId: string;
  /** Epoch milliseconds. */
  at: number;
  timezone: string;
  price: UsagePrice | null;
  /** The value of the price's quantity property (numbers as their text), null when absent. */
  quantity: PropertyValue;
}

type ClaimedRow = {
  k: string;
  c: string;
  at: string;
  tz: string;
  p: string | null;
  item: string | null;
  unit: string | null;
  qp: string | null;
  cur: string | null;
  qt: string | null;
  qv: string | null;
};

/**
 * The accepted events of these customers up to place `throughSeq`, in acceptance order, at most
 * `limit`, after locking the customers (`usage_claim`): two usage jobs of one customer on two
 * partitions (a partition-count change) take turns, and the second reads only what is left.
 */
export async function claimAcceptedEvents(
  em: EntityManager,
  customerIds: string[],
  throughSeq: string,
  limit: number,
): Promise<ClaimedEvent[]> {
  const rows = await em.execute<ClaimedRow[]>(
    'select * from usage_claim(?::jsonb, ?::bigint, ?::integer)',
    [JSON.stringify(customerIds), throughSeq, limit],
  );
  const prices = new Map<string, UsagePrice>();
  return rows.map((row) => ({
    idempotencyKey: row.k,
    customerId: row.c,
    at: Number(row.at),
    timezone: row.tz,
    price: row.p === null ? null : priceOf(prices, row),
    quantity: quantityOf(row.qt, row.qv),
  }));
}

function priceOf(prices: Map<string, UsagePrice>, row: ClaimedRow): UsagePrice {
  const known = prices.get(row.p!);
  if (known) return known;
  const price: UsagePrice = {
    id: row.p!,
    itemId: row.item!,
    unitAmount: Decimal.of(row.unit!),
    quantityProperty: row.qp,
    currency: row.cur!,
  };
  prices.set(price.id, price);
  return price;
}

/** jsonb keeps numbers as numeric: `->>` gives their digits back as sent. */
function quantityOf(type: string | null, text: string | null): PropertyValue {
  if (text === null) return null;
  if (type === 'number') return { numberText: text };
  if (type === 'string') return text;
  if (type === 'boolean') return text === 'true';
  return null;
}

export interface UsageLedgerKey {
  customerId: string;
  currency: string;
  usageDays: string[];
}

export interface LoadedUsageLedger extends LoadedLedger {
  customerId: string;
  pending: PendingUsageEntry[];
  topUp: TopUpState | null;
}

type UsageLoadRow = Pick<
  LoadSqlRow,
  'customer_id' | 'currency' | 'ledger_balance' | 'next_sequence_number' | 'blocks'
> & {
  pending: {
    id: string;
    price_id: string;
    block_id: string;
    usage_day: string;
    amount: string;
    ending_balance: string;
  }[];
  top_up: TopUpLoadJson | null;
};

/**
 * Locks and loads every ledger these events touch, with its pending entries of their usage days
 * and its top-up, in one statement (`usage_load`).
 */
export async function loadUsageLedgers(
  em: EntityManager,
  keys: UsageLedgerKey[],
  now: Date,
): Promise<LoadedUsageLedger[]> {
  if (keys.length === 0) return [];
  const [row] = await em.execute<{ ledgers: UsageLoadRow[] }[]>(
    `select coalesce((select json_agg(row_to_json(ledger)) from usage_load(?::jsonb, ?) as ledger), '[]'::json) as ledgers`,
    [
      JSON.stringify(
        keys.map((key) => ({
          customer_id: key.customerId,
          currency: key.currency,
          usage_days: key.usageDays,
        })),
      ),
      now,
    ],
  );
  return (row?.ledgers ?? []).map(toLoadedUsageLedger);
}

function toLoadedUsageLedger(row: UsageLoadRow): LoadedUsageLedger {
  return {
    customerId: row.customer_id,
    ...toLoadedLedger(row.currency, row),
    topUp: toTopUpState(row.currency, row.top_up),
    pending: row.pending.map((entry) => ({
      id: entry.id,
      priceId: entry.price_id,
      blockId: entry.block_id,
      usageDay: entry.usage_day,
      amount: Decimal.of(entry.amount),
      endingBalance: Decimal.of(entry.ending_balance),
    })),
  };
}

/** What became of one accepted event. */
export interface AppliedEvent {
  idempotencyKey: string;
  status: 'applied' | 'unpriced' | 'invalid_quantity';
  priceId: string | null;
  /** Decimal text, for an applied event. */
  credits: string | null;
  usageDay: string | null;
}

type Decisions = { customerId: string; changes: LedgerChanges }[];

/** The five arrays `ledger_write` takes, as JSON text. */
function ledgerWriteArgs(decisions: Decisions): string[] {
  const all = <T>(pick: (customerId: string, changes: LedgerChanges) => T[]) =>
    JSON.stringify(decisions.flatMap(({ customerId, changes }) => pick(customerId, changes)));
  return [
    all((customerId, changes) => changes.newBlocks.map((block) => blockRecord(customerId, block))),
    all((customerId, changes) =>
      changes.updatedBlocks.map((block) => changedBlockRecord(customerId, block)),
    ),
    all((customerId, changes) =>
      changes.entries.map((entry) => entryRecord(customerId, null, entry)),
    ),
    all((customerId, changes) =>
      changes.grownEntries.map((entry) => ({
        id: entry.id,
        customer_id: customerId,
        amount: entry.amount.toString(),
        ending_balance: entry.endingBalance.toString(),
      })),
    ),
    all((customerId, changes) => [
      {
        customer_id: customerId,
        currency: changes.ledger.currency,
        balance: changes.ledger.balance.toString(),
        next_sequence_number: changes.ledger.nextSequenceNumber,
      },
    ]),
  ];
}

/** Only top-ups make invoices in a usage batch: rare, so one statement each is fine. */
async function saveInvoices(em: EntityManager, decisions: Decisions): Promise<void> {
  for (const { customerId, changes } of decisions)
    if (changes.invoices) await saveInvoiceChanges(em, customerId, changes);
}

/**
 * Marks the events applied (or why they price nothing) and writes the ledgers' changes, in one
 * round trip. Throws when an event was no longer accepted: something else changed it, and the
 * batch must not half-apply (the transaction rolls back).
 */
export async function saveAppliedEvents(
  em: EntityManager,
  events: AppliedEvent[],
  decisions: Decisions,
): Promise<void> {
  const marks = JSON.stringify(
    events.map((event) => ({
      k: event.idempotencyKey,
      s: event.status,
      p: event.priceId,
      c: event.credits,
      d: event.usageDay,
    })),
  );
  const mark = `update events e set status = m.s, price_id = m.p, credits = m.c, usage_day = m.d,
                       applied_at = clock_timestamp()
                  from jsonb_to_recordset(?::jsonb) as m(k text, s text, p text, c numeric, d date)
                 where e.idempotency_key = m.k and e.status = 'accepted'
                returning 1`;
  const [row] = await em.execute<{ marked: string }[]>(
    decisions.length === 0
      ? `with marked as (${mark}) select count(*)::text as marked from marked`
      : `with marked as (${mark})
         select count(*)::text as marked, ledger_write(?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb)
           from marked`,
    [marks, ...(decisions.length === 0 ? [] : ledgerWriteArgs(decisions))],
  );
  if (Number(row?.marked) !== events.length)
    throw new Error(
      `${events.length - Number(row?.marked)} of ${events.length} accepted events changed while they were applied`,
    );
  await saveInvoices(em, decisions);
}

/** Writes usage decisions (a deprecation's) in one round trip (`ledger_write`). */
export async function saveUsage(em: EntityManager, decisions: Decisions): Promise<void> {
  const [blocks, changedBlocks, entries, grownEntries, ledgers] = ledgerWriteArgs(decisions);
  await em.execute('select ledger_write(?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb)', [
    blocks,
    changedBlocks,
    entries,
    grownEntries,
    ledgers,
  ]);
  await saveInvoices(em, decisions);
}
