/**
 * The partition count each queue prefix runs with (table `partition_layouts`): the one every
 * process must agree with (worker/jobs/partitionGuard.ts). In Postgres, durable like the requests,
 * where a Redis key could be lost with the jobs (a restart without AOF, a failover to a lagging
 * replica) and let one process quietly lay the queues out anew.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** The recorded count, or undefined when nothing has started under this prefix yet. */
export async function recordedPartitions(
  em: EntityManager,
  queuePrefix: string,
): Promise<number | undefined> {
  const [row] = await em.execute<{ partitions: number }[]>(
    'select partitions from partition_layouts where queue_prefix = ?',
    [queuePrefix],
  );
  return row?.partitions;
}

/**
 * Records `partitions` unless a count is recorded already; answers the one recorded now, or
 * undefined when another process recorded one at the same moment (this statement waited for its
 * commit and cannot see it: read it again).
 */
export async function recordPartitionsOnce(
  em: EntityManager,
  queuePrefix: string,
  partitions: number,
): Promise<number | undefined> {
  const [row] = await em.execute<{ partitions: number }[]>(
    `with made as (
       insert into partition_layouts (queue_prefix, partitions, changed_at) values (?, ?, now())
       on conflict (queue_prefix) do nothing returning partitions)
     select partitions from made
     union all
     select partitions from partition_layouts where queue_prefix = ? and not exists (select 1 from made)`,
    [queuePrefix, partitions, queuePrefix],
  );
  return row?.partitions;
}

/** Sets the recorded count (the operator's change, `npm run partitions`); answers the one before. */
export async function changeRecordedPartitions(
  em: EntityManager,
  queuePrefix: string,
  partitions: number,
): Promise<number | undefined> {
  const [row] = await em.execute<{ before: number | null }[]>(
    `with before as (select partitions from partition_layouts where queue_prefix = ? for update),
     changed as (
       insert into partition_layouts (queue_prefix, partitions, changed_at) values (?, ?, now())
       on conflict (queue_prefix) do update set partitions = excluded.partitions, changed_at = now())
     select (select partitions from before) as before`,
    [queuePrefix, queuePrefix, partitions],
  );
  return row?.before ?? undefined;
}
