/**
 * What the usage processor loads and saves, in the transaction it runs in, in a fixed number of
 * round trips whatever the batch holds: live prices, customer timezones, the event insert (which
 * says which events are new), every touched ledger with its pending entries, one write.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Decimal } from '../../domain/decimal.ts';
import type { UsagePrice } from '../../domain/priceEvent.ts';
import type { TopUpState } from '../../domain/decideTopUp.ts';
import type { LedgerChanges, PendingUsageEntry } from '../../domain/types.ts';
import { saveInvoiceChanges } from './invoices.ts';
import { blockRecord, changedBlockRecord, entryRecord, toLoadedLedger, type LoadedLedger, type LoadSqlRow } from './ledgerRepository.ts';
import { toTopUpState, type TopUpLoadJson } from './topUps.ts';

export async function loadLivePrices(em: EntityManager, eventNames: string[]): Promise<Map<string, UsagePrice>> {
  if (eventNames.length === 0) return new Map();
  const rows = await em.execute<
    { id: string; event_name: string; item_id: string; unit_amount: string; quantity_property: string | null; currency: string }[]
  >(
    `select id, event_name, item_id, unit_amount::text as unit_amount, quantity_property, currency
       from usage_prices where archived_at is null and event_name in (select jsonb_array_elements_text(?::jsonb))`,
    [JSON.stringify(eventNames)],
  );
  return new Map(
    rows.map((row) => [
      row.event_name,
      { id: row.id, itemId: row.item_id, unitAmount: Decimal.of(row.unit_amount), quantityProperty: row.quantity_property, currency: row.currency },
    ]),
  );
}

export async function loadTimezones(em: EntityManager, customerIds: string[]): Promise<Map<string, string>> {
  const rows = await em.execute<{ id: string; timezone: string }[]>('select id, timezone from customers where id in (select jsonb_array_elements_text(?::jsonb))', [
    JSON.stringify(customerIds),
  ]);
  return new Map(rows.map((row) => [row.id, row.timezone]));
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

/** Inserts the events not seen before; answers the keys it inserted (repeats are dropped). */
export async function insertEvents(em: EntityManager, recordsJson: string): Promise<Set<string>> {
  const rows = await em.execute<{ idempotency_key: string }[]>(
    `insert into events (idempotency_key, customer_id, external_customer_id, event_name, timestamp, properties,
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
     returning idempotency_key`,
    [recordsJson],
  );
  return new Set(rows.map((row) => row.idempotency_key));
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

export async function loadUsageLedgers(em: EntityManager, keys: UsageLedgerKey[], now: Date): Promise<LoadedUsageLedger[]> {
  const rows = await em.execute<
    (Pick<LoadSqlRow, 'customer_id' | 'currency' | 'ledger_balance' | 'next_sequence_number' | 'blocks'> & {
      pending: { id: string; price_id: string; block_id: string; usage_day: string; amount: string; ending_balance: string }[];
      top_up: TopUpLoadJson | null;
    })[]
  >('select * from usage_load(?::jsonb, ?)', [
    JSON.stringify(keys.map((key) => ({ customer_id: key.customerId, currency: key.currency, usage_days: key.usageDays }))),
    now,
  ]);
  return rows.map((row) => ({
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
  }));
}

/** Writes the usage decisions of every ledger of a batch in one round trip (`ledger_write`). */
export async function saveUsage(em: EntityManager, decisions: { customerId: string; changes: LedgerChanges }[]): Promise<void> {
  const all = <T>(pick: (customerId: string, changes: LedgerChanges) => T[]) =>
    JSON.stringify(decisions.flatMap(({ customerId, changes }) => pick(customerId, changes)));
  await em.execute('select ledger_write(?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb)', [
    all((customerId, changes) => changes.newBlocks.map((block) => blockRecord(customerId, block))),
    all((_, changes) => changes.updatedBlocks.map(changedBlockRecord)),
    all((customerId, changes) => changes.entries.map((entry) => entryRecord(customerId, null, entry))),
    all((_, changes) => changes.grownEntries.map((entry) => ({ id: entry.id, amount: entry.amount.toString(), ending_balance: entry.endingBalance.toString() }))),
    all((customerId, changes) => [
      { customer_id: customerId, currency: changes.ledger.currency, balance: changes.ledger.balance.toString(), next_sequence_number: changes.ledger.nextSequenceNumber },
    ]),
  ]);
  // Only top-ups make invoices in a usage batch: rare, so one statement each is fine.
  for (const { customerId, changes } of decisions) if (changes.invoices) await saveInvoiceChanges(em, customerId, changes);
}
