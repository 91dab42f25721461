/**
 * Customer balance transactions (LEDGER_RULES.md §7, seed 003): a balance in the customer's
 * invoicing currency, apart from credits, kept on `customers.balance` (which exists since the
 * initial schema) and explained by an immutable list of transactions.
 *
 * Their requests have their own table rather than ledger_requests: a ledger request writes ledger
 * entries in a credit ledger (its `currency`, its `entry_ids`, `ledger_lock_and_load`, the
 * verifier's "a committed request made entries"), and none of that holds for a balance request.
 * The Idempotency-Key table gains a second, nullable reference for them.
 *
 * The constraints pair the domain's assertions: the amount is a magnitude > 0, the ending balance
 * is the starting balance moved by it in the transaction's direction, and a request makes at most
 * one transaction (so a redelivered job cannot apply twice).
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261121040000_balanceTransactions extends Migration {
  override up(): void {
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
      -- Requests accepted but not yet applied: what a sweeper re-enqueues after a Redis loss.
      create index balance_transaction_requests_queued_idx on balance_transaction_requests (created_at) where status = 'queued';

      create table balance_transactions (
        -- Insertion order, which for one customer is the order applied: the list's order and cursor.
        seq bigint generated always as identity,
        id text primary key,
        customer_id text not null references customers (id),
        -- Null for transactions no request asked for (invoices will make some).
        request_id text unique references balance_transaction_requests (id),
        currency text not null check (currency ~ '^[A-Z]{3}$'),
        action text not null check (action in ('manual_adjustment')),
        type text not null check (type in ('increment', 'decrement')),
        amount numeric(38,12) not null check (amount > 0),
        starting_balance numeric(38,12) not null,
        ending_balance numeric(38,12) not null,
        description text,
        created_at timestamptz not null,
        constraint balance_transactions_arithmetic check (
          (type = 'increment' and ending_balance = starting_balance + amount)
          or (type = 'decrement' and ending_balance = starting_balance - amount))
      );
      create index balance_transactions_customer_seq_idx on balance_transactions (customer_id, seq desc);

      alter table idempotency_keys add column balance_transaction_request_id text references balance_transaction_requests (id);
    `);
  }

  override down(): void {
    this.addSql(`
      alter table idempotency_keys drop column balance_transaction_request_id;
      drop table balance_transactions, balance_transaction_requests;
    `);
  }
}
