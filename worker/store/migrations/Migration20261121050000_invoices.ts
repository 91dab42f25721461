/**
 * Invoices for purchased credits (LEDGER_RULES.md §7): one-off invoices, each for the credits of
 * one block (unique block_id), numbered per customer. The constraints pair the domain's rules:
 * the total is exactly quantity × unit price (numeric multiplication is exact), the due date is
 * not before the invoice date, and the timestamps agree with the status.
 *
 * Paying an invoice changes its block's status (`pending_payment` → `active`), which is why
 * `ledger_write` writes the status of changed blocks too.
 */
import { Migration } from '@mikro-orm/migrations';

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
    `);
  }

  override down(): void {
    this.addSql(`
      drop table invoices;
    `);
  }
}
