/**
 * customer_id in every growing table's keys (SCALING.md "Distribution by customer"): Citus only
 * distributes a table whose primary key and unique keys contain the distribution column, and only
 * allows a foreign key between distributed tables that joins them on it. The rows stay as they are;
 * only keys, foreign keys and indexes change.
 *
 * Column order: the table's own id first, then customer_id. Citus routes by the statement's
 * predicates, not by index order, so either order satisfies it; this one keeps the lookups that
 * know only the id (Orb's `GET /v1/credit_blocks/{id}`, `/v1/invoices/{id}`, the ORM's finds by
 * id, an invoice by its block) on the same index, where `(customer_id, id)` would need a second
 * index on id. The unique keys follow the same rule: `(request_id, customer_id)`,
 * `(block_id, customer_id)`.
 *
 * Customers: the external id's uniqueness moves to `customer_external_ids` (external id → customer
 * id), which Citus distributes by the external id (SCALING.md); the customer create inserts its
 * row in the create's transaction, and a duplicate loses on that table's primary key. customers
 * keeps a plain index on external_customer_id for the lookups that read it there. The parent
 * foreign key goes: a hierarchy links two customers, i.e. two shards; the create that sets a parent
 * locks and re-reads it (worker/store/customerHierarchy.ts) and customers are never deleted.
 *
 * Each key is rebuilt under the table's lock, in the migration's transaction. On a large live
 * database, build the new unique indexes first with `create unique index concurrently` and attach
 * them with `add constraint … primary key using index`.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203120000_customerKeys extends Migration {
  override up(): void {
    this.addSql(`
      alter table ledger_entries drop constraint ledger_entries_block_id_fkey;
      alter table invoices drop constraint invoices_block_id_fkey;

      alter table credit_blocks drop constraint credit_blocks_pkey;
      alter table credit_blocks add constraint credit_blocks_pkey primary key (id, customer_id);

      alter table ledger_entries drop constraint ledger_entries_pkey;
      alter table ledger_entries add constraint ledger_entries_pkey primary key (id, customer_id);
      alter table ledger_entries add constraint ledger_entries_block_id_fkey
        foreign key (customer_id, block_id) references credit_blocks (customer_id, id)
        deferrable initially deferred;

      alter table balance_transactions drop constraint balance_transactions_pkey;
      alter table balance_transactions add constraint balance_transactions_pkey primary key (id, customer_id);
      alter table balance_transactions drop constraint balance_transactions_request_id_key;
      alter table balance_transactions add constraint balance_transactions_request_id_key
        unique (request_id, customer_id);

      alter table invoices drop constraint invoices_pkey;
      alter table invoices add constraint invoices_pkey primary key (id, customer_id);
      drop index invoices_block_uq;
      create unique index invoices_block_uq on invoices (block_id, customer_id);
      alter table invoices add constraint invoices_block_id_fkey
        foreign key (customer_id, block_id) references credit_blocks (customer_id, id)
        deferrable initially deferred;

      alter table top_ups drop constraint top_ups_pkey;
      alter table top_ups add constraint top_ups_pkey primary key (id, customer_id);

      alter table alerts drop constraint alerts_pkey;
      alter table alerts add constraint alerts_pkey primary key (id, customer_id);

      create table customer_external_ids (
        external_customer_id text primary key,
        customer_id text not null
      );
      insert into customer_external_ids (external_customer_id, customer_id)
      select external_customer_id, id from customers where external_customer_id is not null;
      alter table customers drop constraint customers_external_customer_id_key;
      create index customers_external_customer_id_idx on customers (external_customer_id);
      alter table customers drop constraint customers_parent_customer_id_fkey;
    `);
  }

  override down(): void {
    this.addSql(`
      alter table customers add constraint customers_parent_customer_id_fkey
        foreign key (parent_customer_id) references customers (id);
      drop index customers_external_customer_id_idx;
      alter table customers add constraint customers_external_customer_id_key unique (external_customer_id);
      drop table customer_external_ids;

      alter table alerts drop constraint alerts_pkey;
      alter table alerts add constraint alerts_pkey primary key (id);
      alter table top_ups drop constraint top_ups_pkey;
      alter table top_ups add constraint top_ups_pkey primary key (id);

      alter table invoices drop constraint invoices_block_id_fkey;
      alter table ledger_entries drop constraint ledger_entries_block_id_fkey;

      drop index invoices_block_uq;
      create unique index invoices_block_uq on invoices (block_id);
      alter table invoices drop constraint invoices_pkey;
      alter table invoices add constraint invoices_pkey primary key (id);

      alter table balance_transactions drop constraint balance_transactions_request_id_key;
      alter table balance_transactions add constraint balance_transactions_request_id_key unique (request_id);
      alter table balance_transactions drop constraint balance_transactions_pkey;
      alter table balance_transactions add constraint balance_transactions_pkey primary key (id);

      alter table ledger_entries drop constraint ledger_entries_pkey;
      alter table ledger_entries add constraint ledger_entries_pkey primary key (id);
      alter table credit_blocks drop constraint credit_blocks_pkey;
      alter table credit_blocks add constraint credit_blocks_pkey primary key (id);

      alter table ledger_entries add constraint ledger_entries_block_id_fkey
        foreign key (block_id) references credit_blocks (id) deferrable initially deferred;
      alter table invoices add constraint invoices_block_id_fkey
        foreign key (block_id) references credit_blocks (id) deferrable initially deferred;
    `);
  }
}
