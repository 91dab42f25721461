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

      -- Writes the decisions of one or more ledgers: new and changed blocks, new entries (usage
      -- ones with their price, day and closing instant), grown pending entries, ledger heads.
      create function ledger_write(p_new_blocks jsonb, p_changed_blocks jsonb, p_entries jsonb,
                                   p_grown_entries jsonb, p_heads jsonb)
      returns void language plpgsql as $$
      begin
        insert into credit_blocks select * from jsonb_populate_recordset(null::credit_blocks, p_new_blocks);
        update credit_blocks b set balance = u.balance, voided_at = u.voided_at
          from jsonb_to_recordset(p_changed_blocks) as u(id text, balance numeric, voided_at timestamptz)
         where b.id = u.id;
        insert into ledger_entries (id, customer_id, currency, ledger_sequence_number, entry_type, entry_status, amount,
                                    starting_balance, ending_balance, block_id, request_id, description, metadata,
                                    created_at, void_reason, void_amount, new_block_expiry_date, price_id, usage_day, closes_at)
        select id, customer_id, currency, ledger_sequence_number, entry_type, entry_status, amount,
               starting_balance, ending_balance, block_id, request_id, description, metadata,
               created_at, void_reason, void_amount, new_block_expiry_date, price_id, usage_day, closes_at
          from jsonb_populate_recordset(null::ledger_entries, p_entries);
        -- A pending entry grows only while pending: a closed day never changes again (§5).
        update ledger_entries e set amount = g.amount, ending_balance = g.ending_balance
          from jsonb_to_recordset(p_grown_entries) as g(id text, amount numeric, ending_balance numeric)
         where e.id = g.id and e.entry_status = 'pending';
        insert into ledgers (customer_id, currency, balance, next_sequence_number)
        select customer_id, currency, balance, next_sequence_number
          from jsonb_to_recordset(p_heads) as h(customer_id text, currency text, balance numeric, next_sequence_number integer)
        on conflict (customer_id, currency)
        do update set balance = excluded.balance, next_sequence_number = excluded.next_sequence_number;
      end $$;

      -- Writes one ledger's decision and, when a request asked for it, marks the request committed.
      create function ledger_save(p_request_id text, p_customer_id text, p_currency text, p_new_blocks jsonb,
                                             p_changed_blocks jsonb, p_entries jsonb, p_balance numeric,
                                             p_next_sequence_number integer, p_entry_ids jsonb, p_now timestamptz)
      returns void language plpgsql as $$
      begin
        perform ledger_write(p_new_blocks, p_changed_blocks, p_entries, '[]'::jsonb,
          jsonb_build_array(jsonb_build_object('customer_id', p_customer_id, 'currency', p_currency,
            'balance', p_balance, 'next_sequence_number', p_next_sequence_number)));
        if p_request_id is not null then
          update ledger_requests set status = 'committed', entry_ids = p_entry_ids, completed_at = p_now
           where id = p_request_id and status = 'queued';
          if not found then
            raise exception 'ledger request % is not queued', p_request_id using errcode = 'P0001';
          end if;
        end if;
      end $$;

      -- Locks the customers of a usage batch (in id order, so that two batches cannot deadlock)
      -- and loads each ledger with the pending usage entries of the days the batch touches.
      create function usage_load(p_ledgers jsonb, p_now timestamptz)
      returns table (customer_id text, currency text, ledger_balance text, next_sequence_number integer, blocks json, pending json)
      language plpgsql as $$
      #variable_conflict use_column
      declare
        k record;
      begin
        for k in select distinct x.customer_id, x.currency, x.usage_days
                   from jsonb_to_recordset(p_ledgers) as x(customer_id text, currency text, usage_days date[])
                  order by x.customer_id, x.currency loop
          return query
          select k.customer_id, k.currency, l.ledger_balance, l.next_sequence_number, l.blocks,
                 coalesce((select json_agg(json_build_object('id', e.id, 'price_id', e.price_id, 'block_id', e.block_id,
                                    'usage_day', e.usage_day, 'amount', e.amount::text, 'ending_balance', e.ending_balance::text))
                             from ledger_entries e
                            where e.customer_id = k.customer_id and e.currency = k.currency and e.entry_status = 'pending'
                              and e.usage_day = any (k.usage_days)), '[]'::json)
            from ledger_load(k.customer_id, k.currency, p_now, null) as l;
        end loop;
      end $$;
    `);
  }

  override down(): void {
    this.addSql(`
      drop function usage_load; drop function ledger_save; drop function ledger_write;
      drop index ledger_entries_closing_idx; drop index ledger_entries_usage_group_uq;
      alter table ledger_entries drop column closes_at, drop column usage_day, drop column price_id;
      drop table events; drop table usage_prices;
    `);
  }
}
