/**
 * Invoices for purchased credits (LEDGER_RULES.md §7): one-off invoices, each for the credits of
 * one block (unique block_id), numbered per customer. The constraints pair the domain's rules:
 * the total is exactly quantity × unit price (numeric multiplication is exact), the due date is
 * not before the invoice date, and the timestamps agree with the status.
 *
 * Paying an invoice changes its block's status (`pending_payment` → `active`), so `ledger_write`
 * now also writes the status of changed blocks. It is replaced in place, with the same signature;
 * a changed-block record without a status (older callers) keeps the stored one.
 */
import { Migration } from '@mikro-orm/migrations';

const LEDGER_WRITE_HEAD = `
  create or replace function ledger_write(p_new_blocks jsonb, p_changed_blocks jsonb, p_entries jsonb,
                                          p_grown_entries jsonb, p_heads jsonb)
  returns void language plpgsql as $$
  begin
    insert into credit_blocks select * from jsonb_populate_recordset(null::credit_blocks, p_new_blocks);`;

const LEDGER_WRITE_TAIL = `
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
  end $$;`;

export class Migration20261121050000_invoices extends Migration {
  override up(): void {
    this.addSql(`
      create table invoices (
        id text primary key,
        customer_id text not null references customers (id),
        block_id text not null references credit_blocks (id) deferrable initially deferred,
        -- Per customer, from 1: the invoice_number on the wire is made from it.
        number integer not null check (number > 0),
        currency text not null check (currency ~ '^[A-Z]{3}$'),
        status text not null check (status in ('issued', 'paid', 'void')),
        quantity numeric(38,12) not null check (quantity > 0),
        unit_price numeric(38,12) not null check (unit_price >= 0),
        total numeric(38,12) not null,
        invoice_date timestamptz not null,
        due_date timestamptz not null,
        memo text,
        item_id text,
        auto_collection boolean not null,
        require_successful_payment boolean not null,
        issued_at timestamptz not null,
        paid_at timestamptz,
        voided_at timestamptz,
        payment_received_date date,
        payment_external_id text,
        payment_notes text,
        created_at timestamptz not null,
        constraint invoices_total_exact check (total = quantity * unit_price),
        constraint invoices_due_after_date check (due_date >= invoice_date),
        constraint invoices_paid_at check ((status = 'paid') = (paid_at is not null)),
        constraint invoices_voided_at check ((status = 'void') = (voided_at is not null))
      );
      create unique index invoices_block_uq on invoices (block_id);
      create unique index invoices_customer_number_uq on invoices (customer_id, number);
      ${LEDGER_WRITE_HEAD}
        update credit_blocks b set balance = u.balance, voided_at = u.voided_at, status = coalesce(u.status, b.status)
          from jsonb_to_recordset(p_changed_blocks) as u(id text, balance numeric, voided_at timestamptz, status text)
         where b.id = u.id;${LEDGER_WRITE_TAIL}
    `);
  }

  override down(): void {
    this.addSql(`
      ${LEDGER_WRITE_HEAD}
        update credit_blocks b set balance = u.balance, voided_at = u.voided_at
          from jsonb_to_recordset(p_changed_blocks) as u(id text, balance numeric, voided_at timestamptz)
         where b.id = u.id;${LEDGER_WRITE_TAIL}
      drop table invoices;
    `);
  }
}
