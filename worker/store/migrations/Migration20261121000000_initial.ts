/**
 * The initial schema. Constraints pair the domain's assertions (TigerBeetle's "pair assertions"):
 * what the rules promise is also what the database refuses to store. Unique indexes make
 * re-delivery harmless: a request id, an idempotency key and a ledger sequence number can each
 * be written once.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261121000000_initial extends Migration {
  override up(): void {
    this.addSql(`
      create table customers (
        id text primary key,
        external_customer_id text unique,
        name text not null check (length(name) between 1 and 500),
        email text not null,
        timezone text not null,
        currency text check (currency ~ '^[A-Z]{3}$'),
        metadata jsonb not null default '{}',
        balance numeric(38,12) not null default 0,
        auto_collection boolean not null default false,
        email_delivery boolean not null default true,
        payment_provider text,
        payment_provider_id text,
        additional_emails jsonb not null default '[]',
        created_at timestamptz not null
      );
      create index customers_created_at_idx on customers (created_at, id);

      create table ledgers (
        customer_id text not null references customers (id),
        currency text not null,
        balance numeric(38,12) not null,
        next_sequence_number integer not null check (next_sequence_number >= 0),
        primary key (customer_id, currency)
      );

      create table credit_blocks (
        id text primary key,
        customer_id text not null references customers (id),
        currency text not null,
        balance numeric(38,12) not null,
        maximum_initial_balance numeric(38,12) not null check (maximum_initial_balance >= 0),
        effective_date timestamptz not null,
        expiry_date timestamptz,
        per_unit_cost_basis text,
        filters jsonb not null default '[]',
        status text not null check (status in ('active', 'pending_payment')),
        voided_at timestamptz,
        metadata jsonb not null default '{}',
        created_at timestamptz not null,
        -- Only the overdraft block (never expiring, unfiltered) may go below zero (LEDGER_RULES §4).
        constraint credit_blocks_negative_only_overdraft
          check (balance >= 0 or (expiry_date is null and filters = '[]'::jsonb)),
        constraint credit_blocks_balance_within_initial check (balance <= maximum_initial_balance)
      );
      -- Live blocks: what every decision loads. Depleted history is never scanned.
      create index credit_blocks_live_idx on credit_blocks (customer_id, currency) where balance <> 0;
      -- Blocks that will need a credit_block_expiry entry: what the expiry sweep scans.
      create index credit_blocks_expiring_idx on credit_blocks (expiry_date) where balance > 0 and expiry_date is not null;
      create index credit_blocks_customer_idx on credit_blocks (customer_id, currency, created_at, id);

      create table ledger_entries (
        seq bigint generated always as identity,
        id text primary key,
        customer_id text not null references customers (id),
        currency text not null,
        ledger_sequence_number integer not null check (ledger_sequence_number >= 0),
        entry_type text not null check (entry_type in ('increment', 'decrement', 'expiration_change',
          'credit_block_expiry', 'void', 'void_initiated', 'amendment')),
        entry_status text not null check (entry_status in ('committed', 'pending')),
        amount numeric(38,12) not null,
        starting_balance numeric(38,12) not null,
        ending_balance numeric(38,12) not null,
        block_id text not null references credit_blocks (id) deferrable initially deferred,
        request_id text,
        description text,
        metadata jsonb not null default '{}',
        created_at timestamptz not null,
        void_reason text,
        void_amount numeric(38,12) check (void_amount > 0),
        new_block_expiry_date timestamptz,
        constraint ledger_entries_balance_arithmetic check (
          (entry_type in ('expiration_change', 'void_initiated') and ending_balance = starting_balance)
          or (entry_type not in ('expiration_change', 'void_initiated') and ending_balance = starting_balance + amount)),
        constraint ledger_entries_sign check (
          (entry_type in ('increment', 'amendment', 'expiration_change', 'void_initiated') and amount > 0)
          or (entry_type in ('decrement', 'credit_block_expiry', 'void') and amount < 0))
      );
      create unique index ledger_entries_sequence_uq on ledger_entries (customer_id, currency, ledger_sequence_number);
      create index ledger_entries_customer_seq_idx on ledger_entries (customer_id, seq desc);

      create table ledger_requests (
        id text primary key,
        customer_id text not null references customers (id),
        partition integer not null,
        -- The ledger the request writes to, so that the worker locks and loads in one statement.
        currency text not null,
        payload jsonb not null,
        status text not null check (status in ('queued', 'committed', 'failed')),
        entry_ids jsonb not null default '[]',
        error jsonb,
        created_at timestamptz not null,
        completed_at timestamptz
      );
      -- Requests accepted but not yet applied: what a sweeper re-enqueues after a Redis loss.
      create index ledger_requests_queued_idx on ledger_requests (created_at) where status = 'queued';

      create table idempotency_keys (
        key text primary key,
        fingerprint text not null,
        request_id text references ledger_requests (id),
        response_status integer,
        response_body jsonb,
        created_at timestamptz not null
      );
    `);
  }

  override down(): void {
    this.addSql(
      `drop table idempotency_keys, ledger_requests, ledger_entries, credit_blocks, ledgers, customers;`,
    );
  }
}
