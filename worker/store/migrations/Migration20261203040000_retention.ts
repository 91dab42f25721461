/**
 * What the retention sweep (worker/sweeps/retentionSweep.ts, SQL in worker/store/retention.ts) needs to
 * delete old requests and Idempotency-Keys in small batches without scanning whole tables:
 *
 * - `idempotency_keys (created_at)`: the keys past IDEMPOTENCY_KEY_RETENTION, oldest first.
 * - `<requests> (created_at) where status <> 'queued'`: the finished requests past
 *   REQUEST_RETENTION, oldest first; queued ones are never candidates, so they are not indexed.
 * - `idempotency_keys (request_id)`, `(balance_transaction_request_id)`: deleting a request checks
 *   its foreign keys from idempotency_keys (and the sweep asks "is a key still naming it?"); without
 *   these indexes each deleted request would scan the whole key table.
 *
 * And `balance_transactions.request_id` stops being a foreign key: a transaction is part of the
 * ledger and is never swept, while its request is. It keeps naming its request the way
 * `ledger_entries.request_id` always has (plain text, still unique, so a redelivered request
 * cannot apply twice).
 *
 * Plain `create index` (not concurrently): migrations run in one transaction; on a large
 * deployment the index builds hold writes to these tables for as long as they take.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203040000_retention extends Migration {
  override up(): void {
    this.addSql(`
      create index idempotency_keys_created_at_idx on idempotency_keys (created_at);
      create index idempotency_keys_request_idx on idempotency_keys (request_id) where request_id is not null;
      create index idempotency_keys_balance_request_idx on idempotency_keys (balance_transaction_request_id)
       where balance_transaction_request_id is not null;
      create index ledger_requests_finished_idx on ledger_requests (created_at) where status <> 'queued';
      create index balance_transaction_requests_finished_idx on balance_transaction_requests (created_at)
       where status <> 'queued';
      alter table balance_transactions drop constraint balance_transactions_request_id_fkey;
    `);
  }

  override down(): void {
    // Fails once a swept request's transaction remains: its request no longer exists.
    this.addSql(`
      alter table balance_transactions add constraint balance_transactions_request_id_fkey
        foreign key (request_id) references balance_transaction_requests (id);
      drop index balance_transaction_requests_finished_idx;
      drop index ledger_requests_finished_idx;
      drop index idempotency_keys_balance_request_idx;
      drop index idempotency_keys_request_idx;
      drop index idempotency_keys_created_at_idx;
    `);
  }
}
