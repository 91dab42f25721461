/**
 * The webhook outbox in Postgres (`webhook_events`, Migration20261203070000_alertsAndOutbox):
 * what the outbox writer needs in the writing transaction (the rows a body is rendered from, one
 * insert for all the events, the wake-up notification that Postgres delivers at commit) and the
 * reads of the feed. Every statement runs through the caller's EntityManager, so it joins the
 * caller's transaction: an event exists exactly when the change that made it committed.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { WEBHOOK_EVENTS_CHANNEL, type InvoicePayment } from '../jobs/webhookEvents.ts';
import type { BalanceTransactionRecord } from './balanceTransactions.ts';
import { hierarchiesOf } from './customerHierarchy.ts';
import { Customer, type CustomerRow } from './entities.ts';
import type { CustomerHierarchyView } from './views.ts';

/** One rendered event as stored. */
export interface WebhookEventRow {
  id: string;
  type: string;
  customerId: string | null;
  ledgerSequenceNumber: number | null;
  createdAt: Date;
  body: string;
  /** Only this endpoint gets it; null: every enabled endpoint subscribed to its type. */
  targetEndpointId: string | null;
}

/**
 * The deliveries of the events a statement just wrote (`source`: a CTE of the new rows' `seq`,
 * `type`, `customer_id`, `target_endpoint_id`): one per enabled endpoint subscribed to the type, in
 * the events' order, so each (endpoint, customer) chain is in commit order. Made in the writing
 * transaction, they need no later pass over the outbox: a customer's transactions commit one at a
 * time (its partition), so a chain's order is its commit order whatever else is running.
 */
export function deliveriesOf(source: string): string {
  return `insert into webhook_deliveries
              (id, event_seq, endpoint_id, chain, status, next_attempt_at, window_started_at, created_at)
       select replace(gen_random_uuid()::text, '-', ''), n.seq, p.id, coalesce(n.customer_id, ''),
              'pending', clock_timestamp(), clock_timestamp(), clock_timestamp()
         from ${source} n join webhook_endpoints p
           on p.enabled and (p.event_types is null or n.type = any (p.event_types))
          and (n.target_endpoint_id is null or n.target_endpoint_id = p.id)
        order by n.seq, p.id`;
}

/**
 * Inserts the events and their deliveries in one statement, `seq` following the given order (the
 * insert numbers the rows as the ordered select yields them), and notifies the delivery loop,
 * which hears it when the transaction commits and never if it rolls back.
 */
export async function insertWebhookEvents(
  em: EntityManager,
  events: readonly WebhookEventRow[],
): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((event, index) => ({
    ord: index,
    id: event.id,
    type: event.type,
    customer_id: event.customerId,
    ledger_sequence_number: event.ledgerSequenceNumber,
    created_at: event.createdAt.toISOString(),
    body: event.body,
    target_endpoint_id: event.targetEndpointId,
  }));
  await em.execute(
    `with written as (
       insert into webhook_events
              (id, type, customer_id, ledger_sequence_number, created_at, body, target_endpoint_id)
       select r.id, r.type, r.customer_id, r.ledger_sequence_number, r.created_at, r.body,
              r.target_endpoint_id
         from jsonb_to_recordset(?::jsonb) as r(ord int, id text, type text, customer_id text,
              ledger_sequence_number bigint, created_at timestamptz, body text, target_endpoint_id text)
        order by r.ord
       returning seq, type, customer_id, target_endpoint_id),
     delivered as (${deliveriesOf('written')} returning 1)
     select pg_notify(?, '') from (select 1) as once where exists (select 1 from delivered)`,
    [JSON.stringify(rows), WEBHOOK_EVENTS_CHANNEL],
  );
}

/**
 * The customers events are about, with their hierarchies, read afresh (`refresh`) so that a row
 * the transaction changed with SQL (a balance) is seen as it now stands, not as first loaded.
 */
export async function customersWithHierarchy(
  em: EntityManager,
  customerIds: readonly string[],
): Promise<Map<string, { row: CustomerRow; hierarchy: CustomerHierarchyView }>> {
  const found = new Map<string, { row: CustomerRow; hierarchy: CustomerHierarchyView }>();
  if (customerIds.length === 0) return found;
  const rows = await em.find(
    Customer,
    { id: { $in: [...new Set(customerIds)] } },
    { refresh: true },
  );
  const hierarchies = await hierarchiesOf(em, rows);
  for (const row of rows) found.set(row.id, { row, hierarchy: hierarchies.get(row.id)! });
  return found;
}

/** Balance transactions by id, as the api answers them (amounts as Postgres' decimal text). */
export async function balanceTransactionsById(
  em: EntityManager,
  ids: readonly string[],
): Promise<Map<string, BalanceTransactionRecord>> {
  const found = new Map<string, BalanceTransactionRecord>();
  if (ids.length === 0) return found;
  const rows = await em.execute<
    {
      id: string;
      type: string;
      amount: string;
      starting_balance: string;
      ending_balance: string;
      description: string | null;
      created_at: Date | string;
    }[]
  >(
    `select id, type, amount::text as amount, starting_balance::text as starting_balance,
            ending_balance::text as ending_balance, description, created_at
       from balance_transactions where id in (select jsonb_array_elements_text(?::jsonb))`,
    [JSON.stringify([...new Set(ids)])],
  );
  for (const row of rows)
    found.set(row.id, {
      id: row.id,
      type: row.type === 'decrement' ? 'decrement' : 'increment',
      amount: row.amount,
      starting_balance: row.starting_balance,
      ending_balance: row.ending_balance,
      description: row.description,
      created_at: new Date(row.created_at).toISOString(),
    });
  return found;
}

/** The payment an invoice was marked paid with; null when there is no such invoice. */
export async function invoicePayment(
  em: EntityManager,
  invoiceId: string,
): Promise<InvoicePayment | null> {
  const [row] = await em.execute<
    { external_id: string | null; notes: string | null; received_date: string | null }[]
  >(
    `select payment_external_id as external_id, payment_notes as notes,
            to_char(payment_received_date, 'YYYY-MM-DD') as received_date
       from invoices where id = ?`,
    [invoiceId],
  );
  if (!row) return null;
  return { externalId: row.external_id, notes: row.notes, receivedDate: row.received_date };
}

export interface WebhookFeedQuery {
  limit: number;
  /** The `(txid, seq)` of the last event already seen. */
  after?: { txid: string; seq: string };
  customerId?: string;
  type?: string;
}

/**
 * A page of the feed in commit order. Across customers, only events whose transaction is older
 * than every one still running, so a page never misses an event that commits later with a smaller
 * `seq` (a long write transaction anywhere on the server holds the whole feed back until it ends).
 * One customer's feed needs no such wait: its transactions commit one at a time (its partition),
 * so its events' order is their commit order. Up to `limit + 1` rows; bodies as stored.
 */
export async function readWebhookEventPage(
  em: EntityManager,
  query: WebhookFeedQuery,
): Promise<{ txid: string; seq: string; body: string }[]> {
  return em.execute<{ txid: string; seq: string; body: string }[]>(
    `select txid::text as txid, seq::text as seq, body from webhook_events
      where (?::text is not null or txid < pg_snapshot_xmin(pg_current_snapshot()))
        and (?::xid8 is null or (txid, seq) > (?::xid8, ?::bigint))
        and (?::text is null or customer_id = ?::text)
        and (?::text is null or type = ?::text)
      order by txid, seq limit ?`,
    [
      query.customerId ?? null,
      query.after?.txid ?? null,
      query.after?.txid ?? null,
      query.after?.seq ?? null,
      query.customerId ?? null,
      query.customerId ?? null,
      query.type ?? null,
      query.type ?? null,
      query.limit + 1,
    ],
  );
}
