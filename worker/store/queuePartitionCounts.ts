/**
 * The partition count each queue prefix last started with (table `queue_partition_counts`), kept
 * by the Postgres queue store (worker/jobs/queueStore.ts) where Redis keeps a key. The table lives
 * beside BullMQ's schema rather than in the ledger's migrations: only the zero-install store needs
 * it, and it makes it on opening.
 */
import type pg from 'pg';

export async function createQueuePartitionCounts(pool: pg.Pool): Promise<void> {
  await pool.query(
    `create table if not exists queue_partition_counts (prefix text primary key, partitions integer not null)`,
  );
}

export async function readQueuePartitionCount(
  pool: pg.Pool,
  prefix: string,
): Promise<number | undefined> {
  const result = await pool.query<{ partitions: number }>(
    'select partitions from queue_partition_counts where prefix = $1',
    [prefix],
  );
  return result.rows[0]?.partitions;
}

export async function writeQueuePartitionCount(
  pool: pg.Pool,
  prefix: string,
  partitions: number,
): Promise<void> {
  await pool.query(
    `insert into queue_partition_counts (prefix, partitions) values ($1, $2)
     on conflict (prefix) do update set partitions = excluded.partitions`,
    [prefix, partitions],
  );
}
