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
    `);
  }

  override down(): void {
    // Fails while an accepted event waits: apply them first (the worker does, given time).
    this.addSql(`
      drop index events_accepted_idx;
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
