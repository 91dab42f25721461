/**
 * What lets worker processes take over from each other safely and visibly (worker/partitionFence.ts):
 *
 * - `partition_fences`: one row per partition, made on first use. `epoch` is the fencing token:
 *   a worker that takes a partition over sets it to a fresh value from `partition_fence_epochs`
 *   (a sequence, so a value drawn by a transaction that rolled back is never handed out again),
 *   and every applying transaction locks the row and checks it still holds the current epoch.
 *   `holder` names the worker process that took it last (its heartbeat's worker_id).
 *   `progressed_at` is when the partition's last applying transaction began (it is written by
 *   that transaction, so a rolled-back one leaves it alone): `/metrics` shows a stuck partition.
 * - `worker_heartbeats`: one row per running worker process, refreshed every second; the api's
 *   readiness counts the ones seen in the last few seconds. The database's clock dates both, so
 *   the machines' clocks never need to agree.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203030000_partitionFences extends Migration {
  override up(): void {
    this.addSql(`create sequence partition_fence_epochs;`);
    this.addSql(`
      create table partition_fences (
        partition integer primary key,
        epoch bigint not null,
        holder text,
        progressed_at timestamptz not null
      );
    `);
    this.addSql(`
      create table worker_heartbeats (
        worker_id text primary key,
        started_at timestamptz not null,
        seen_at timestamptz not null,
        partitions integer not null
      );
    `);
  }

  override down(): void {
    this.addSql('drop table worker_heartbeats;');
    this.addSql('drop table partition_fences;');
    this.addSql('drop sequence partition_fence_epochs;');
  }
}
