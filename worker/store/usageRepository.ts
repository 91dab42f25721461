/**
 * What the usage processor loads and saves, in the transaction it runs in, in three round trips
 * whatever the batch holds: live prices with customer timezones; the event insert (which says
 * which events are new) with every ledger it may touch and its pending entries; one write. Each
 * round trip counts: under load a transaction waits for the worker's event loop between its
 * statements, holding its customers' locks.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Decimal } from '../../domain/decimal.ts';
import type { UsagePrice } from '../../domain/priceEvent.ts';
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

export interface PricingContext {
  /** Live prices by event name. */
  prices: Map<string, UsagePrice>;
  /** Customer timezones by customer id. */
  timezones: Map<string, string>;
}

/** The live prices of these event names and the timezones of these customers, in one round trip. */
export async function loadPricingContext(
  em: EntityManager,
  eventNames: string[],
  customerIds: string[],
): Promise<PricingContext> {
  const [row] = await em.execute<
    {
      prices: {
        id: string;
        event_name: string;
        item_id: string;
        unit_amount: string;
        quantity_property: string | null;
        currency: string;
      }[];
      timezones: { id: string; timezone: string }[];
    }[]
  >(
    `select coalesce((select json_agg(json_build_object('id', id, 'event_name', event_name, 'item_id', item_id,
                        'unit_amount', unit_amount::text, 'quantity_property', quantity_property, 'currency', currency))
                        from usage_prices
                       where archived_at is null and event_name in (select jsonb_array_elements_text(?::jsonb))), '[]'::json) as prices,
            coalesce((select json_agg(json_build_object('id', id, 'timezone', timezone))
                        from customers where id in (select jsonb_array_elements_text(?::jsonb))), '[]'::json) as timezones`,
    [JSON.stringify(eventNames), JSON.stringify(customerIds)],
  );
  return {
    prices: new Map(
      (row?.prices ?? []).map((price) => [
        price.event_name,
        {
          id: price.id,
          itemId: price.item_id,
          unitAmount: Decimal.of(price.unit_amount),
          quantityProperty: price.quantity_property,
          currency: price.currency,
        },
      ]),
    ),
    timezones: new Map((row?.timezones ?? []).map((customer) => [customer.id, customer.timezone])),
  };
}

export interface EventRecord {
  idempotency_key: string;
  customer_id: string | null;
  external_customer_id: string | null;
  event_name: string;
  timestamp: string;
  /** Parsed with exact numbers; the records are written with `stringifyExactJson`. */
  properties: unknown;
  status: 'applied' | 'unpriced' | 'invalid_quantity' | 'awaiting_customer';
  price_id: string | null;
  credits: string | null;
  usage_day: string | null;
  ingested_at: string;
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
 * Inserts the events not seen before and loads the ledgers they may touch, in one statement:
 * answers the keys it inserted (repeats are dropped) and the ledgers. `keys` names every ledger
 * the batch's priced events belong to, repeats included (the insert decides which are new), so
 * a ledger may be loaded (and locked) that no new event touches; the caller leaves it be. The
 * ledgers' rows are not the events', so the insert's rows being invisible to the rest of the
 * statement changes nothing.
 */
export async function insertEventsAndLoadLedgers(
  em: EntityManager,
  recordsJson: string,
  keys: UsageLedgerKey[],
  now: Date,
): Promise<{ inserted: Set<string>; ledgers: LoadedUsageLedger[] }> {
  const [row] = await em.execute<{ inserted: string[]; ledgers: UsageLoadRow[] }[]>(
    `with inserted as (
       insert into events (idempotency_key, customer_id, external_customer_id, event_name, timestamp, properties,
                           status, price_id, credits, usage_day, ingested_at)
       select idempotency_key, customer_id, external_customer_id, event_name, timestamp, properties,
              status, price_id, credits, usage_day, ingested_at
         from jsonb_populate_recordset(null::events, ?::jsonb)
       -- An event kept while its external customer id named no customer is applied now, once.
       on conflict (idempotency_key) do update
         set customer_id = excluded.customer_id, status = excluded.status, price_id = excluded.price_id,
             credits = excluded.credits, usage_day = excluded.usage_day, ingested_at = excluded.ingested_at,
             applied_at = clock_timestamp()
         where events.status = 'awaiting_customer' and excluded.status <> 'awaiting_customer'
       returning idempotency_key)
     select coalesce((select json_agg(idempotency_key) from inserted), '[]'::json) as inserted,
            coalesce((select json_agg(row_to_json(ledger)) from usage_load(?::jsonb, ?) as ledger), '[]'::json) as ledgers`,
    [
      recordsJson,
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
  return {
    inserted: new Set(row?.inserted ?? []),
    ledgers: (row?.ledgers ?? []).map(toLoadedUsageLedger),
  };
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

/** Writes the usage decisions of every ledger of a batch in one round trip (`ledger_write`). */
export async function saveUsage(
  em: EntityManager,
  decisions: { customerId: string; changes: LedgerChanges }[],
): Promise<void> {
  const all = <T>(pick: (customerId: string, changes: LedgerChanges) => T[]) =>
    JSON.stringify(decisions.flatMap(({ customerId, changes }) => pick(customerId, changes)));
  await em.execute('select ledger_write(?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb)', [
    all((customerId, changes) => changes.newBlocks.map((block) => blockRecord(customerId, block))),
    all((_, changes) => changes.updatedBlocks.map(changedBlockRecord)),
    all((customerId, changes) =>
      changes.entries.map((entry) => entryRecord(customerId, null, entry)),
    ),
    all((_, changes) =>
      changes.grownEntries.map((entry) => ({
        id: entry.id,
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
  ]);
  // Only top-ups make invoices in a usage batch: rare, so one statement each is fine.
  for (const { customerId, changes } of decisions)
    if (changes.invoices) await saveInvoiceChanges(em, customerId, changes);
}
