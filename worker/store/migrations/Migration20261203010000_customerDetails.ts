/**
 * The rest of Orb's Customer (issue 12 §3): addresses, tax id and configuration, reporting,
 * accounting-sync and payment configuration are kept as given (jsonb, in the shape Orb answers
 * with), `auto_issuance` as a nullable boolean, and the hierarchy as each customer's parent.
 * Hierarchies are two levels deep (Orb: a parent "must not be a child of another customer"):
 * the api checks it under row locks; the schema keeps a customer from being its own parent.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203010000_customerDetails extends Migration {
  override up(): void {
    this.addSql(`
      alter table customers
        add column billing_address jsonb,
        add column shipping_address jsonb,
        add column tax_id jsonb,
        add column tax_configuration jsonb,
        add column reporting_configuration jsonb,
        add column accounting_sync_configuration jsonb,
        add column payment_configuration jsonb,
        add column auto_issuance boolean,
        add column parent_customer_id text references customers (id),
        add constraint customers_parent_not_self check (parent_customer_id <> id);
      create index customers_parent_idx on customers (parent_customer_id) where parent_customer_id is not null;
    `);
  }

  override down(): void {
    this.addSql(`
      drop index customers_parent_idx;
      alter table customers
        drop column parent_customer_id, drop column auto_issuance, drop column payment_configuration,
        drop column accounting_sync_configuration, drop column reporting_configuration, drop column tax_configuration,
        drop column tax_id, drop column shipping_address, drop column billing_address;
    `);
  }
}
