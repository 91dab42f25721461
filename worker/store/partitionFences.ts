/**
 * The partition fences' SQL (table `partition_fences`, worker/partitionFence.ts says how they are
 * used). Epochs are bigints and travel as text, compared as strings: only equality matters.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * First statement of every applying transaction: bounds how long this transaction may sit idle
 * (a stopped worker's open transaction is ended by the server, releasing its locks), locks the
 * partition's fence row until commit (so a successor's takeover waits for this transaction and
 * this transaction waits for a takeover in progress), records the progress, and answers the
 * current epoch. A partition seen for the first time gets a row with epoch 0, which nobody holds.
 */
export async function lockPartitionFence(
  em: EntityManager,
  partition: number,
  idleTimeoutMs: number,
): Promise<string> {
  const [row] = await em.execute<{ epoch: string }[]>(
    `insert into partition_fences as fence (partition, epoch, progressed_at)
     select ?, 0, now() from (select set_config('idle_in_transaction_session_timeout', ?, true)) as session_settings
     on conflict (partition) do update set progressed_at = excluded.progressed_at
     returning fence.epoch::text as epoch`,
    [partition, String(idleTimeoutMs)],
  );
  if (!row) throw new Error(`partition ${partition} has no fence row`);
  return row.epoch;
}

/** Takes the partition over: a fresh epoch, never handed out before (the row is already locked). */
export async function advancePartitionFence(
  em: EntityManager,
  partition: number,
  holder: string,
): Promise<string> {
  const [row] = await em.execute<{ epoch: string }[]>(
    `update partition_fences set epoch = nextval('partition_fence_epochs'), holder = ? where partition = ? returning epoch::text as epoch`,
    [holder, partition],
  );
  if (!row) throw new Error(`partition ${partition} has no fence row`);
  return row.epoch;
}

/** Seconds since each partition's last applying transaction began, on the database's clock. */
export async function partitionProgressAges(em: EntityManager): Promise<Map<number, number>> {
  const rows = await em.execute<{ partition: number; age_seconds: number | string }[]>(
    `select partition, extract(epoch from now() - progressed_at)::float8 as age_seconds from partition_fences`,
  );
  return new Map(rows.map((row) => [row.partition, Math.max(0, Number(row.age_seconds))]));
}
