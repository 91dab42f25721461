/**
 * Usage: prices that turn events into credits, the events themselves (each applied once: the
 * idempotency key is the primary key), and what pending usage entries need: their price, usage
 * day and the instant they close. One pending decrement per (customer, currency, price, block,
 * usage day) is enforced by a unique index, so a redelivered batch cannot split a group.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261121020000_usage extends Migration {
  override up(): void {
    this.addSql(`
      create table usage_prices (
        id text primary key,
        name text not null check (length(name) between 1 and 500),
        event_name text not null check (length(event_name) between 1 and 500),
        item_id text not null check (length(item_id) between 1 and 500),
        unit_amount numeric(38,12) not null check (unit_amount >= 0),
        quantity_property text,
        currency text not null,
        archived_at timestamptz,
        created_at timestamptz not null
      );
      -- An event name maps to at most one live price: which one applies is never ambiguous.
      create unique index usage_prices_event_name_live_uq on usage_prices (event_name) where archived_at is null;
      create index usage_prices_created_at_idx on usage_prices (created_at, id);

      create table events (
        idempotency_key text primary key,
        customer_id text references customers (id),
        external_customer_id text,
        event_name text not null,
        timestamp timestamptz not null,
        properties jsonb not null,
        -- applied: deducted; unpriced: no live price for it; invalid_quantity: its price's quantity
        -- property is missing or not a non-negative number; awaiting_customer: its external id
        -- names no customer yet; deprecated: its deduction was reversed.
        status text not null check (status in ('applied', 'unpriced', 'invalid_quantity', 'awaiting_customer', 'deprecated')),
        price_id text references usage_prices (id),
        credits numeric(38,12),
        usage_day date,
        ingested_at timestamptz not null,
        -- When the worker wrote it: the end of the event's path, for lag measurements.
        applied_at timestamptz not null default clock_timestamp(),
        check (customer_id is not null or external_customer_id is not null)
      );
      create index events_customer_timestamp_idx on events (customer_id, timestamp);
      create index events_awaiting_idx on events (external_customer_id) where status = 'awaiting_customer';

      alter table ledger_entries
        add column price_id text references usage_prices (id),
        add column usage_day date,
        add column closes_at timestamptz;
      create unique index ledger_entries_usage_group_uq on ledger_entries (customer_id, currency, price_id, block_id, usage_day)
        where entry_status = 'pending';
      -- Pending entries whose day has closed: what the day-close sweep looks for.
      create index ledger_entries_closing_idx on ledger_entries (closes_at) where entry_status = 'pending';



    `);
  }

  override down(): void {
    this.addSql(`
      drop index ledger_entries_closing_idx; drop index ledger_entries_usage_group_uq;
      alter table ledger_entries drop column closes_at, drop column usage_day, drop column price_id;
      drop table events; drop table usage_prices;
    `);
  }
}
