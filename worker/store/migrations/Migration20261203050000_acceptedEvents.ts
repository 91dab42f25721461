/**
 * Acknowledged ingest is durable in Postgres (issue 13 item 5, designed for issue 15): the api
 * writes each accepted event before it answers, with status `accepted`, and the partition's job
 * only rings the worker, which reads the accepted events back in acceptance order. So a Redis
 * that loses a job (a failover to a replica that had not received it) loses no event.
 *
 * - `accepted_seq`: acceptance order, from a sequence. Drawn when the event is accepted for a
 *   customer (at ingest, or when a kept event finds its customer); a job applies the accepted
 *   events of its customers up to the sequence value it carries, so usage never overtakes a ledger
 *   write accepted after it. Rows written before this migration keep null.
 * - status `accepted`: in Postgres, not yet applied. An accepted row names its customer and its
 *   place in line (a check pairs what the worker relies on).
 * - `events_accepted_idx`: what a job reads, per customer in acceptance order. Partial: only the
 *   rows still waiting are in it once vacuum has passed.
 * - `applied_at` is null until the worker applies the event (it was written with the row, when
 *   the worker was the only writer of events): lag measurements read it.
 *
 * - The foreign keys from events to customers and to usage prices go. Each checked row takes a
 *   key-share lock on the row it names: the api's inserts now lock customer rows that the
 *   partition's worker holds `for no key update` (ledger_load), and every worker's update locks
 *   the one live price row, from many transactions at once: each new locker of a locked row makes
 *   a MultiXact. Measured with `npm run bench:ingest` (64 clients, 200 customers): Postgres CPU
 *   per applied event 134-143 µs with both keys, 86-96 without the customer's, 73 without both.
 *   Neither parent row is ever deleted (customers and prices have no delete; a price is archived),
 *   the api writes the customer it has just resolved, and the worker the price it has just read
 *   in the same transaction.
 *
 * Adding the column with no default rewrites nothing; the checks scan the table once.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203050000_acceptedEvents extends Migration {
  override up(): void {
    this.addSql(`
      create sequence events_accepted_seq;
      alter table events add column accepted_seq bigint;
      alter sequence events_accepted_seq owned by events.accepted_seq;
      alter table events
        alter column applied_at drop not null,
        alter column applied_at drop default,
        drop constraint events_status_check,
        add constraint events_status_check check (status in
          ('accepted', 'applied', 'unpriced', 'invalid_quantity', 'awaiting_customer', 'deprecated')),
        add constraint events_accepted_check check
          (status <> 'accepted' or (customer_id is not null and accepted_seq is not null and applied_at is null));
      create index events_accepted_idx on events (customer_id, accepted_seq) where status = 'accepted';
      alter table events drop constraint events_customer_id_fkey, drop constraint events_price_id_fkey;
    `);
  }

  override down(): void {
    // Fails while an accepted event waits: apply them first (the worker does, given time).
    this.addSql(`
      drop index events_accepted_idx;
      alter table events
        add constraint events_customer_id_fkey foreign key (customer_id) references customers (id),
        add constraint events_price_id_fkey foreign key (price_id) references usage_prices (id);
      update events set applied_at = ingested_at where applied_at is null;
      alter table events
        drop constraint events_accepted_check,
        drop constraint events_status_check,
        add constraint events_status_check check (status in
          ('applied', 'unpriced', 'invalid_quantity', 'awaiting_customer', 'deprecated')),
        alter column applied_at set default clock_timestamp(),
        alter column applied_at set not null;
      alter table events drop column accepted_seq;
    `);
  }
}
