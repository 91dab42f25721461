/**
 * Webhook delivery (issue "Balance alerts and signed webhooks", worker/delivery/):
 *
 * - `webhook_endpoints`: where events go. `event_types` null means every type; `trusted` marks the
 *   endpoint configured by WEBHOOK_URL, which may point at a private or loopback address.
 *   `secrets`: the signing secrets, newest first, `[{"secret", "created_at", "expires_at"}]`; an
 *   expired one no longer signs (the overlap after a rotation).
 * - `webhook_events.target_endpoint_id`: a test event is for one endpoint only; null for all.
 *   `written_at`: the database's time when the row was written (just before its commit), which
 *   the delivery lag is measured from (`created_at` is the ledger's clock, a test clock maybe).
 * - `webhook_deliveries`: one per (event, endpoint), made with the event in its transaction, in
 *   the events' order, so `seq` orders each (endpoint, `chain`) — the chain is the event's customer, '' for account
 *   events. Only the lowest pending `seq` of a chain is sent (its head): a failing event holds
 *   back that customer's later events for that endpoint only. `leased_until` / `lease_token` are
 *   the claim of the process sending it; a lease that ran out (a killed process) is claimed again,
 *   and only the holder of the current token may mark the attempt.
 *   `window_started_at` starts the retry window, after which a delivery is `failed`.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203080000_webhookDelivery extends Migration {
  override up(): void {
    this.addSql(`
      create table webhook_endpoints (
        id text primary key,
        url text not null,
        description text,
        event_types text[],
        enabled boolean not null default true,
        trusted boolean not null default false,
        secrets jsonb not null,
        created_at timestamptz not null,
        updated_at timestamptz not null
      );
      create index webhook_endpoints_created_at_idx on webhook_endpoints (created_at, id);

      alter table webhook_events add column target_endpoint_id text,
        add column written_at timestamptz not null default clock_timestamp();
      create index webhook_events_created_at_idx on webhook_events (created_at);

      create table webhook_deliveries (
        id text primary key,
        seq bigserial not null,
        event_seq bigint not null references webhook_events (seq) on delete cascade,
        endpoint_id text not null references webhook_endpoints (id) on delete cascade,
        chain text not null,
        status text not null check (status in ('pending', 'delivered', 'failed')),
        attempts int not null default 0 check (attempts >= 0),
        next_attempt_at timestamptz not null,
        leased_until timestamptz,
        lease_token text,
        window_started_at timestamptz not null,
        last_attempt_at timestamptz,
        last_response_code int,
        last_latency_ms int,
        last_error text,
        delivered_at timestamptz,
        created_at timestamptz not null,
        unique (event_seq, endpoint_id)
      );
      create unique index webhook_deliveries_seq_uq on webhook_deliveries (seq);
      create index webhook_deliveries_chain_idx on webhook_deliveries (endpoint_id, chain, seq)
        where status = 'pending';
      create index webhook_deliveries_log_idx on webhook_deliveries (endpoint_id, seq);
      create index webhook_deliveries_pending_event_idx on webhook_deliveries (event_seq)
        where status = 'pending';
      create index webhook_deliveries_failed_idx on webhook_deliveries (endpoint_id, seq)
        where status = 'failed';

    `);
  }

  override down(): void {
    this.addSql(`
      drop table webhook_deliveries;
      drop index webhook_events_created_at_idx;
      alter table webhook_events drop column target_endpoint_id, drop column written_at;
      drop table webhook_endpoints;
    `);
  }
}
