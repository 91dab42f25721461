/**
 * Automatic top-ups (Orb `credits/top_ups`; issue 5 item 5). `top_ups` holds at most one
 * configuration per (customer, currency): creating one replaces the previous (a plain
 * configuration write, like customers). Invoices made by top-ups are flagged `top_up`, so that an
 * issued, unpaid one is found by a partial index and pauses further top-ups of its ledger.
 * The worker reads the configuration with the ledger it decides on, in the same round trip
 * (`top_up_load`, in the ledger functions migration).
 */
import { Migration } from '@mikro-orm/migrations';

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


    `);
  }

  override down(): void {
    this.addSql(`
      drop index invoices_unpaid_top_up_idx;
      alter table invoices drop column top_up;
      drop table top_ups;
    `);
  }
}
