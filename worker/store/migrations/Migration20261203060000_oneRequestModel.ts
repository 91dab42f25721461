/**
 * One request model (ARCHITECTURE.md, "The path of a write"): every write the service accepts on a
 * customer's partition is a row of `requests` — its kind, customer, partition, payload, status and
 * outcome — whatever it changes. `ledger_requests` becomes `requests` with a `kind`; the balance
 * requests that had their own table move into it with their ids (so jobs still queued under the
 * old `balance.apply` name find them), and their Idempotency-Keys move to the one reference.
 *
 * `currency` names the credit ledger a ledger-entry request writes to (the worker locks and loads
 * by it); the other kinds write elsewhere (a balance, an invoice, an event, a top-up
 * configuration), so it is null there.
 * Their outcome needs no column of its own: a committed balance request is named by its
 * transaction's `request_id`; an invoice change or a deprecation by the invoice or event its
 * payload names. Creates with no customer to queue behind (customers, usage prices) are requests
 * too, applied at once outside the partitions (no partition; committed in the transaction that
 * records them, with what they made in `result`).
 *
 * `ledger_save` marks a request and names the table by text (a rename does not follow into a
 * PL/pgSQL body): its current text is worker/store/functions/ledger_save.sql, applied right after
 * the migrations (functionFiles.ts), before anything calls it. `ledger_lock_and_load` served the
 * one-request path, which is now a group of one, and goes.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203060000_oneRequestModel extends Migration {
  override up(): void {
    this.addSql(`
      alter table ledger_requests rename to requests;
      alter table requests add column kind text not null default 'ledger_entry'
        check (kind in ('ledger_entry', 'balance_transaction', 'invoice_change', 'event_deprecation',
                       'top_up_create', 'top_up_delete', 'customer_create', 'usage_price_create'));
      -- The creates with no customer to queue behind apply at once, outside the partitions.
      alter table requests alter column customer_id drop not null;
      alter table requests alter column partition drop not null;
      alter table requests add constraint requests_partitioned
        check ((kind in ('customer_create', 'usage_price_create')) = (partition is null)
               and (partition is null or customer_id is not null));
      -- What an immediate create made ({"customer_id": …} or {"usage_price_id": …}).
      alter table requests add column result jsonb;
      alter table requests alter column currency drop not null;
      alter table requests add constraint requests_ledger_currency
        check ((kind = 'ledger_entry') = (currency is not null));

      insert into requests (id, kind, customer_id, partition, currency, payload, status, error, created_at, completed_at)
      select id, 'balance_transaction', customer_id, partition, null, payload, status, error, created_at, completed_at
        from balance_transaction_requests;
      update idempotency_keys set request_id = balance_transaction_request_id
       where balance_transaction_request_id is not null;
      alter table idempotency_keys drop column balance_transaction_request_id;
      drop table balance_transaction_requests;

      -- The one-request path is a group of one now (worker/processors/applyRequests.ts).
      drop function ledger_lock_and_load;

    `);
  }

  override down(): void {
    // Refuses (a check fails) once an invoice change or a deprecation has been recorded.
    this.addSql(`
      create table balance_transaction_requests (
        id text primary key,
        customer_id text not null references customers (id),
        partition integer not null,
        payload jsonb not null,
        status text not null check (status in ('queued', 'committed', 'failed')),
        error jsonb,
        created_at timestamptz not null,
        completed_at timestamptz,
        check ((status = 'queued') = (completed_at is null))
      );
      create index balance_transaction_requests_queued_idx on balance_transaction_requests (created_at) where status = 'queued';
      create index balance_transaction_requests_finished_idx on balance_transaction_requests (created_at) where status <> 'queued';
      insert into balance_transaction_requests
      select id, customer_id, partition, payload, status, error, created_at, completed_at
        from requests where kind = 'balance_transaction';
      alter table idempotency_keys add column balance_transaction_request_id text references balance_transaction_requests (id);
      create index idempotency_keys_balance_request_idx on idempotency_keys (balance_transaction_request_id)
       where balance_transaction_request_id is not null;
      update idempotency_keys k set balance_transaction_request_id = k.request_id, request_id = null
        from requests r where r.id = k.request_id and r.kind = 'balance_transaction';
      update idempotency_keys k set request_id = null
        from requests r where r.id = k.request_id and r.kind in ('customer_create', 'usage_price_create');
      delete from requests where kind in ('balance_transaction', 'customer_create', 'usage_price_create');
      alter table requests drop column result;
      alter table requests drop constraint requests_partitioned;
      alter table requests alter column partition set not null;
      alter table requests alter column customer_id set not null;
      alter table requests drop constraint requests_ledger_currency;
      alter table requests alter column currency set not null;
      alter table requests drop column kind;
      alter table requests rename to ledger_requests;
      create or replace function ledger_lock_and_load(p_request_id text, p_now timestamptz)
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
      create or replace function ledger_save(p_request_id text, p_customer_id text, p_currency text, p_new_blocks jsonb,
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
    `);
  }
}
