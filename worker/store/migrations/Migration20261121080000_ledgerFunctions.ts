/**
 * The worker's hot statements as PL/pgSQL functions, each defined once, after every table they
 * read exists. Not for logic (the rules stay in domain/): for plan caching. Planning the
 * lock-and-load and save statements cost more than running them (0.9 ms against 0.5 ms each,
 * measured with EXPLAIN ANALYZE), and a PL/pgSQL function keeps its plans for the life of the
 * connection, which a statement sent by the driver never does. A later change to one of them is
 * an edit of its file in worker/store/functions/ (applied after the migrations, functionFiles.ts);
 * these definitions are their first versions, kept as history.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261121080000_ledgerFunctions extends Migration {
  override up(): void {
    this.addSql(`
      -- Locks the customer and loads one ledger: its head and the blocks a decision needs: live
      -- ones (balance <> 0), the overdraft candidate when it is depleted and so not live, and the
      -- block a command names (p_block_id), which may be depleted too. Numerics leave as text: a
      -- JSON number would become a float in JavaScript.
      create function ledger_load(p_customer_id text, p_currency text, p_now timestamptz, p_block_id text)
      returns table (ledger_balance text, next_sequence_number integer, blocks json)
      language plpgsql as $$
      #variable_conflict use_column
      begin
        -- A backstop behind the partition's one-job-at-a-time guarantee; "no key update" so that
        -- intake inserts (which take key-share locks on the customer) never wait on it.
        perform 1 from customers where id = p_customer_id for no key update;
        return query
        select l.balance::text, l.next_sequence_number,
               coalesce((select json_agg(json_build_object(
                   'id', b.id, 'currency', b.currency, 'balance', b.balance::text,
                   'maximum_initial_balance', b.maximum_initial_balance::text, 'effective_date', b.effective_date,
                   'expiry_date', b.expiry_date, 'per_unit_cost_basis', b.per_unit_cost_basis, 'filters', b.filters,
                   'status', b.status, 'voided_at', b.voided_at, 'created_at', b.created_at))
                  from credit_blocks b
                 where b.customer_id = p_customer_id and b.currency = p_currency
                   and (b.balance <> 0 or b.id = p_block_id or b.id = (
                     select o.id from credit_blocks o
                      where o.customer_id = p_customer_id and o.currency = p_currency
                        and o.balance = 0 and o.expiry_date is null and o.filters = '[]'::jsonb
                        and o.status = 'active' and o.voided_at is null and o.effective_date <= p_now
                      order by coalesce(o.per_unit_cost_basis::numeric, 0) desc, o.created_at desc, o.id desc
                      limit 1))), '[]'::json)
          from (select 1) as one
          left join ledgers l on l.customer_id = p_customer_id and l.currency = p_currency;
      end $$;

      -- Locks a ledger request and loads its ledger, in one round trip; for a decrement still to
      -- apply, also the ledger's top-up configuration.
      create function ledger_lock_and_load(p_request_id text, p_now timestamptz)
      returns table (id text, customer_id text, currency text, status text, payload jsonb, entry_ids jsonb, error jsonb,
                     timezone text, external_customer_id text, ledger_balance text, next_sequence_number integer, blocks json,
                     top_up json)
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
               r.external_customer_id, l.ledger_balance, l.next_sequence_number, l.blocks,
               case when r.status = 'queued' and r.payload->>'entry_type' = 'decrement'
                    then top_up_load(r.customer_id, r.currency) end
          from ledger_load(r.customer_id, r.currency, p_now, r.payload->>'block_id') as l;
      end $$;

      -- A ledger's top-up configuration as json (null when it has none), with whether an issued,
      -- unpaid top-up invoice pauses it.
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

      -- Writes the decisions of one or more ledgers: new and changed blocks, new entries (usage
      -- ones with their price, day and closing instant), grown pending entries, ledger heads.
      create function ledger_write(p_new_blocks jsonb, p_changed_blocks jsonb, p_entries jsonb,
                                   p_grown_entries jsonb, p_heads jsonb)
      returns void language plpgsql as $$
      begin
        insert into credit_blocks select * from jsonb_populate_recordset(null::credit_blocks, p_new_blocks);
        -- A changed-block record without a status keeps the stored one.
        update credit_blocks b set balance = u.balance, voided_at = u.voided_at, status = coalesce(u.status, b.status)
          from jsonb_to_recordset(p_changed_blocks) as u(id text, balance numeric, voided_at timestamptz, status text)
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
      -- and loads each ledger with the pending usage entries of the days the batch touches, and
      -- its top-up configuration.
      create function usage_load(p_ledgers jsonb, p_now timestamptz)
      returns table (customer_id text, currency text, ledger_balance text, next_sequence_number integer, blocks json,
                     pending json, top_up json)
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
                              and e.usage_day = any (k.usage_days)), '[]'::json),
                 top_up_load(k.customer_id, k.currency)
            from ledger_load(k.customer_id, k.currency, p_now, null) as l;
        end loop;
      end $$;
    `);
  }

  override down(): void {
    this.addSql(`
      drop function usage_load; drop function ledger_save; drop function ledger_write;
      drop function top_up_load; drop function ledger_lock_and_load; drop function ledger_load;
    `);
  }
}
