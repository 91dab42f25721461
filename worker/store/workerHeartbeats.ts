/**
 * Worker processes' heartbeats (table `worker_heartbeats`): each running worker process refreshes
 * its row every second; the api's readiness and `/metrics` count the rows seen recently. The
 * database's clock dates them, so the machines' clocks never need to agree.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** How often a worker process beats. */
export const HEARTBEAT_EVERY_MS = 1_000;
/** A worker process not seen for this long counts as gone (readiness, `/metrics`). */
export const WORKER_SEEN_WITHIN_MS = 5_000;
/** Rows of processes gone this long are deleted by the next beat of any worker. */
const HEARTBEATS_KEPT_SECONDS = 3_600;

export async function recordHeartbeat(
  em: EntityManager,
  workerId: string,
  partitions: number,
): Promise<void> {
  await em.execute(
    `with forgotten as (delete from worker_heartbeats where seen_at < now() - make_interval(secs => ?))
     insert into worker_heartbeats (worker_id, started_at, seen_at, partitions) values (?, now(), now(), ?)
     on conflict (worker_id) do update set seen_at = excluded.seen_at, partitions = excluded.partitions`,
    [HEARTBEATS_KEPT_SECONDS, workerId, partitions],
  );
}

export async function removeHeartbeat(em: EntityManager, workerId: string): Promise<void> {
  await em.execute('delete from worker_heartbeats where worker_id = ?', [workerId]);
}

export interface LiveWorker {
  workerId: string;
  /** Seconds since its last beat. */
  seenSecondsAgo: number;
}

/** The worker processes that beat within the last `withinMs`. */
export async function liveWorkers(em: EntityManager, withinMs: number): Promise<LiveWorker[]> {
  const rows = await em.execute<{ worker_id: string; age_seconds: number | string }[]>(
    `select worker_id, extract(epoch from now() - seen_at)::float8 as age_seconds
       from worker_heartbeats where seen_at > now() - make_interval(secs => ?) order by worker_id`,
    [withinMs / 1000],
  );
  return rows.map((row) => ({
    workerId: row.worker_id,
    seenSecondsAgo: Math.max(0, Number(row.age_seconds)),
  }));
}
