/**
 * The events table for `POST /v1/events/search` and `PUT /v1/events/{id}/deprecate`: the reads
 * api/ makes (never locking, committed data only) and what the deprecation processor locks, loads
 * and writes inside its transaction. Properties leave Postgres as jsonb text so that numbers keep
 * their digits (worker/runtime/exactJson.ts); amounts leave as text.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Decimal } from '../../domain/decimal.ts';
import type { Block, PendingUsageEntry } from '../../domain/types.ts';
import { toBlock, type BlockSqlRow } from './ledgerRepository.ts';

/** Raw rows bypass MikroORM's hydration: timestamps may arrive as text. */
type Instant = Date | string;
const toDate = (value: Instant) => (value instanceof Date ? value : new Date(value));

/** `accepted`: in Postgres, waiting for the worker to apply it (worker/store/acceptedEvents.ts). */
export type EventStatus =
  'accepted' | 'applied' | 'unpriced' | 'invalid_quantity' | 'awaiting_customer' | 'deprecated';

export interface SearchedEvent {
  id: string;
  /** The event's customer, or for an event still awaiting its customer, the one its external id names now. */
  customerId: string | null;
  externalCustomerId: string | null;
  eventName: string;
  /** jsonb text: parse with `parseExactJson`. */
  propertiesText: string;
  timestamp: Date;
  status: EventStatus;
}

/** The events among `eventIds` whose timestamp is in [from, to), oldest first. */
export async function searchEvents(
  em: EntityManager,
  eventIds: readonly string[],
  from: Date,
  to: Date,
): Promise<SearchedEvent[]> {
  const rows = await em.execute<
    {
      id: string;
      customer_id: string | null;
      external_customer_id: string | null;
      event_name: string;
      properties_text: string;
      timestamp: Instant;
      status: EventStatus;
    }[]
  >(
    `select e.idempotency_key as id, coalesce(e.customer_id, x.id) as customer_id,
            coalesce(e.external_customer_id, c.external_customer_id) as external_customer_id,
            e.event_name, e.properties::text as properties_text, e.timestamp, e.status
       from events e
       left join customers c on c.id = e.customer_id
       left join customers x on e.customer_id is null and x.external_customer_id = e.external_customer_id
      where e.idempotency_key in (select jsonb_array_elements_text(?::jsonb))
        and e.timestamp >= ? and e.timestamp < ?
      order by e.timestamp, e.idempotency_key`,
    [JSON.stringify(eventIds), from, to],
  );
  return rows.map((row) => ({
    id: row.id,
    customerId: row.customer_id,
    externalCustomerId: row.external_customer_id,
    eventName: row.event_name,
    propertiesText: row.properties_text,
    timestamp: toDate(row.timestamp),
    status: row.status,
  }));
}

export interface EventOwner {
  status: EventStatus;
  /** The event's customer, or the one its external id names now; null when it names none. */
  customerId: string | null;
}

/** Who an event belongs to, for routing its deprecation to the customer's partition. */
export async function findEventOwner(
  em: EntityManager,
  eventId: string,
): Promise<EventOwner | undefined> {
  const [row] = await em.execute<{ status: EventStatus; customer_id: string | null }[]>(
    `select e.status, coalesce(e.customer_id, x.id) as customer_id
       from events e
       left join customers x on e.customer_id is null and x.external_customer_id = e.external_customer_id
      where e.idempotency_key = ?`,
    [eventId],
  );
  return row ? { status: row.status, customerId: row.customer_id } : undefined;
}

export interface LockedEvent {
  id: string;
  /** Null while the event still awaits its customer (it is found by external id). */
  customerId: string | null;
  externalCustomerId: string | null;
  timestamp: Date;
  status: EventStatus;
  priceId: string | null;
  /** The currency of its price: the ledger its credits were taken from. */
  currency: string | null;
  credits: Decimal | null;
  usageDay: string | null;
}

/**
 * Locks an event row for its deprecation. Rows first, customer second: the same order as the usage
 * processor (event insert, then `usage_load`), so the two can never deadlock.
 */
export async function lockEvent(
  em: EntityManager,
  eventId: string,
): Promise<LockedEvent | undefined> {
  const [row] = await em.execute<
    {
      id: string;
      customer_id: string | null;
      external_customer_id: string | null;
      timestamp: Instant;
      status: EventStatus;
      price_id: string | null;
      currency: string | null;
      credits: string | null;
      usage_day: string | null;
    }[]
  >(
    `select e.idempotency_key as id, e.customer_id, e.external_customer_id, e.timestamp, e.status, e.price_id,
            p.currency, e.credits::text as credits, to_char(e.usage_day, 'YYYY-MM-DD') as usage_day
       from events e left join usage_prices p on p.id = e.price_id
      where e.idempotency_key = ?
        for no key update of e`,
    [eventId],
  );
  if (!row) return undefined;
  return {
    id: row.id,
    customerId: row.customer_id,
    externalCustomerId: row.external_customer_id,
    timestamp: toDate(row.timestamp),
    status: row.status,
    priceId: row.price_id,
    currency: row.currency,
    credits: row.credits === null ? null : Decimal.of(row.credits),
    usageDay: row.usage_day,
  };
}

export async function customerTimezone(
  em: EntityManager,
  customerId: string,
): Promise<{ timezone: string; externalCustomerId: string | null } | undefined> {
  const [row] = await em.execute<{ timezone: string; external_customer_id: string | null }[]>(
    'select timezone, external_customer_id from customers where id = ?',
    [customerId],
  );
  return row ? { timezone: row.timezone, externalCustomerId: row.external_customer_id } : undefined;
}

export interface UsageGroupEntry extends PendingUsageEntry {
  status: 'pending' | 'committed';
  closesAt: Date;
}

/** Every usage decrement of one group (customer, currency, price, usage day), pending or committed. */
export async function loadUsageGroupEntries(
  em: EntityManager,
  group: { customerId: string; currency: string; priceId: string; usageDay: string },
): Promise<UsageGroupEntry[]> {
  const rows = await em.execute<
    {
      id: string;
      block_id: string;
      amount: string;
      ending_balance: string;
      entry_status: 'pending' | 'committed';
      closes_at: Instant;
    }[]
  >(
    `select id, block_id, amount::text as amount, ending_balance::text as ending_balance, entry_status, closes_at
       from ledger_entries
      where customer_id = ? and currency = ? and price_id = ? and usage_day = ?::date and entry_type = 'decrement'
      order by ledger_sequence_number`,
    [group.customerId, group.currency, group.priceId, group.usageDay],
  );
  return rows.map((row) => ({
    id: row.id,
    priceId: group.priceId,
    blockId: row.block_id,
    usageDay: group.usageDay,
    amount: Decimal.of(row.amount),
    endingBalance: Decimal.of(row.ending_balance),
    status: row.entry_status,
    closesAt: toDate(row.closes_at),
  }));
}

/**
 * Blocks by id, whatever their balance: a block the usage drained to 0 is not live, so the ledger
 * load leaves it out, but it is where the credits go back to.
 */
export async function loadBlocksById(
  em: EntityManager,
  customerId: string,
  blockIds: readonly string[],
): Promise<Block[]> {
  if (blockIds.length === 0) return [];
  const rows = await em.execute<BlockSqlRow[]>(
    `select id, currency, balance::text as balance, maximum_initial_balance::text as maximum_initial_balance, effective_date,
            expiry_date, per_unit_cost_basis, filters, status, voided_at, created_at, creation_sequence
       from credit_blocks
      where customer_id = ? and id in (select jsonb_array_elements_text(?::jsonb))`,
    [customerId, JSON.stringify(blockIds)],
  );
  return rows.map(toBlock);
}

/** Marks the event deprecated; only from a state the caller has just checked under its lock. */
export async function markDeprecated(
  em: EntityManager,
  eventId: string,
  from: EventStatus,
): Promise<void> {
  const rows = await em.execute<{ idempotency_key: string }[]>(
    `update events set status = 'deprecated' where idempotency_key = ? and status = ? returning idempotency_key`,
    [eventId, from],
  );
  if (rows.length !== 1) throw new Error(`event ${eventId} was not ${from} when it was deprecated`);
}
