/**
 * Balance alerts and the webhook outbox (issue "Balance alerts and signed webhooks").
 *
 * - `alerts`: Orb's customer credit-balance alerts, one of each type per (customer, currency).
 *   `thresholds` is the alert's state as well as its configuration: one element per threshold,
 *   `{"value": "<decimal string>", "at_or_below": <bool>}` — whether the watched balance is at or
 *   below the value now. Depleted and recovered alerts have the one threshold "0". Written only
 *   on the customer's partition (alert requests and every ledger change), so it is ordered with
 *   the ledger.
 * - `webhook_events`: the transactional outbox. A row is written in the transaction that made the
 *   change, with its body already rendered (fixed at commit: every delivery attempt and the feed
 *   send the same bytes). `txid` is the writing transaction's id: the feed reads
 *   only rows whose transaction is older than every transaction still running
 *   (`txid < pg_snapshot_xmin(pg_current_snapshot())`) in `(txid, seq)` order, so a reader's
 *   cursor never skips a row that commits later with a smaller `seq`.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203070000_alertsAndOutbox extends Migration {
  override up(): void {
    this.addSql(`
      create table alerts (
        id text primary key,
        customer_id text not null references customers (id),
        currency text not null,
        type text not null check (type in
          ('credit_balance_depleted', 'credit_balance_dropped', 'credit_balance_recovered')),
        thresholds jsonb not null,
        enabled boolean not null default true,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        unique (customer_id, currency, type)
      );
      create index alerts_created_at_idx on alerts (created_at, id);

      create table webhook_events (
        seq bigserial primary key,
        id text not null unique,
        txid xid8 not null default pg_current_xact_id(),
        type text not null,
        customer_id text,
        ledger_sequence_number bigint,
        created_at timestamptz not null,
        body text not null
      );
      create index webhook_events_feed_idx on webhook_events (txid, seq);
      create index webhook_events_customer_idx on webhook_events (customer_id, txid, seq)
        where customer_id is not null;
    `);
  }

  override down(): void {
    this.addSql(`
      drop table webhook_events;
      drop table alerts;
    `);
  }
}
