/**
 * Automatic top-ups (Orb `credits/top_ups`; issue 5 item 5). `top_ups` holds at most one
 * configuration per (customer, currency): creating one replaces the previous (a plain
 * configuration write, like customers). Invoices made by top-ups are flagged `top_up`, so that an
 * issued, unpaid one is found by a partial index and pauses further top-ups of its ledger.
 *
 * The worker needs the configuration with the ledger it decides on, in the same round trip:
 * `top_up_load` gives it as json (null when the ledger has no top-up), and `ledger_lock_and_load`
 * (for decrements only) and `usage_load` are recreated with a `top_up` column that carries it.
 */
import { Migration } from '@mikro-orm/migrations';

const LEDGER_LOCK_AND_LOAD = (withTopUp: boolean) => `
  create function ledger_lock_and_load(p_request_id text, p_now timestamptz)
  returns table (id text, customer_id text, currency text, status text, payload jsonb, entry_ids jsonb, error jsonb,
                 timezone text, external_customer_id text, ledger_balance text, next_sequence_number integer, blocks json${withTopUp ? ', top_up json' : ''})
  language plpgsql as $$
  #variable_conflict use_column
  declare
    r record;
  begin
    select q.id, q.customer_id, q.currency, q.status, q.payload, q.entry_ids, q.error, c.timezone, c.external_customer_id
      into r
      from ledger_requests q join customers c on c.id = q.customer_id
     where q.id = p_request_id for no key update of q;
    if not found then
      return;
    end if;
    return query
    select r.id, r.customer_id, r.currency, r.status, r.payload, r.entry_ids, r.error, r.timezone,
           r.external_customer_id, l.ledger_balance, l.next_sequence_number, l.blocks${
             withTopUp
               ? `,
           case when r.status = 'queued' and r.payload->>'entry_type' = 'decrement'
                then top_up_load(r.customer_id, r.currency) end`
               : ''
           }
      from ledger_load(r.customer_id, r.currency, p_now, r.payload->>'block_id') as l;
  end $$;`;

const USAGE_LOAD = (withTopUp: boolean) => `
  create function usage_load(p_ledgers jsonb, p_now timestamptz)
  returns table (customer_id text, currency text, ledger_balance text, next_sequence_number integer, blocks json, pending json${withTopUp ? ', top_up json' : ''})
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
                          and e.usage_day = any (k.usage_days)), '[]'::json)${withTopUp ? `,
             top_up_load(k.customer_id, k.currency)` : ''}
        from ledger_load(k.customer_id, k.currency, p_now, null) as l;
    end loop;
  end $$;`;

export class Migration20261121060000_topUps extends Migration {
  override up(): void {
    this.addSql(`
      create table top_ups (
        id text primary key,
        customer_id text not null references customers (id),
        currency text not null,
        amount numeric(38,12) not null check (amount > 0),
        threshold numeric(38,12) not null,
        per_unit_cost_basis text not null,
        -- The customer's invoicing currency when the top-up was made: its invoices are in it.
        invoice_currency text not null check (invoice_currency ~ '^[A-Z]{3}$'),
        auto_collection boolean not null,
        net_terms integer not null check (net_terms >= 0),
        memo text,
        require_successful_payment boolean not null,
        expires_after integer check (expires_after > 0),
        expires_after_unit text check (expires_after_unit in ('day', 'month')),
        created_at timestamptz not null,
        constraint top_ups_expiry_unit check ((expires_after is null) = (expires_after_unit is null))
      );
      create unique index top_ups_ledger_uq on top_ups (customer_id, currency);

      alter table invoices add column top_up boolean not null default false;
      create index invoices_unpaid_top_up_idx on invoices (customer_id) where top_up and status = 'issued';

      create function top_up_load(p_customer_id text, p_currency text) returns json language sql stable as $$
        select json_build_object(
                 'amount', t.amount::text, 'threshold', t.threshold::text, 'per_unit_cost_basis', t.per_unit_cost_basis,
                 'invoice_currency', t.invoice_currency, 'timezone', c.timezone, 'auto_collection', t.auto_collection,
                 'net_terms', t.net_terms, 'memo', t.memo, 'require_successful_payment', t.require_successful_payment,
                 'expires_after', t.expires_after, 'expires_after_unit', t.expires_after_unit,
                 'unpaid', exists (select 1 from invoices i join credit_blocks b on b.id = i.block_id
                                    where i.customer_id = p_customer_id and i.top_up and i.status = 'issued'
                                      and b.currency = p_currency))
          from top_ups t join customers c on c.id = t.customer_id
         where t.customer_id = p_customer_id and t.currency = p_currency
      $$;

      drop function ledger_lock_and_load;
      ${LEDGER_LOCK_AND_LOAD(true)}
      drop function usage_load;
      ${USAGE_LOAD(true)}
    `);
  }

  override down(): void {
    this.addSql(`
      drop function ledger_lock_and_load;
      ${LEDGER_LOCK_AND_LOAD(false)}
      drop function usage_load;
      ${USAGE_LOAD(false)}
      drop function top_up_load;
      drop index invoices_unpaid_top_up_idx;
      alter table invoices drop column top_up;
      drop table top_ups;
    `);
  }
}
