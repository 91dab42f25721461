/**
 * Acceptance order comes from Postgres, not from the queue a job sits in (issue 15):
 *
 * - `requests.accepted_seq`: every request's place in one global line, drawn when the intake
 *   records it. A group applies each customer's requests in this order and first takes every
 *   earlier one still `queued`, wherever its job is (worker/store/functions/group_lock_and_load.sql),
 *   so a request whose job Redis lost, or that waits on another partition after PARTITIONS
 *   changed, never lets a later one of its customer pass it. The rows already there are numbered
 *   by `created_at` (then id), their acceptance as far as it is known; new rows draw from the
 *   identity. `requests_queued_customer_idx` serves the per-customer read of the queued ones.
 * - `partition_layouts`: the partition count each queue prefix runs with, in Postgres rather than
 *   Redis (a Redis restart without AOF, or a failover, loses a key; the count must not be lost
 *   with it). Every process compares its PARTITIONS with it at start and every second after
 *   (worker/jobs/partitionGuard.ts); `npm run partitions` changes it.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203110000_acceptanceOrder extends Migration {
  override up(): void {
    this.addSql(`
      alter table requests add column accepted_seq bigint;
      update requests r set accepted_seq = o.n
        from (select id, row_number() over (order by created_at, id) as n from requests) o
       where o.id = r.id;
      alter table requests alter column accepted_seq set not null;
      alter table requests alter column accepted_seq add generated always as identity;
      select setval(pg_get_serial_sequence('requests', 'accepted_seq'),
                    coalesce((select max(accepted_seq) from requests), 0) + 1, false);
      create index requests_queued_customer_idx on requests (customer_id, accepted_seq)
       where status = 'queued';
    `);
    this.addSql(`
      create table partition_layouts (
        queue_prefix text primary key,
        partitions integer not null check (partitions between 1 and 1024),
        changed_at timestamptz not null
      );
    `);
  }

  override down(): void {
    this.addSql('drop table partition_layouts;');
    this.addSql(`
      drop index requests_queued_customer_idx;
      alter table requests drop column accepted_seq;
    `);
  }
}
