/**
 * The deleting statements of the retention sweep (worker/sweeps/retentionSweep.ts). Each statement
 * deletes at most `batch` rows, oldest first, in its own short transaction, and answers how many
 * it deleted: the caller loops while a batch comes back full, so no statement holds locks on
 * more than one batch. What is never deleted here:
 *
 * - a key whose request is still queued (a replay must not enqueue the write a second time);
 * - a queued request (its write has not been applied yet), or a request a kept key still names
 *   (its replay answers from it);
 * - anything of the ledger: entries, blocks, events, balance transactions, invoices.
 *
 * The indexes these statements walk come with Migration20261203040000_retention.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Deletes up to `batch` Idempotency-Keys made before `before`; answers how many. */
export async function deleteIdempotencyKeysBefore(
  em: EntityManager,
  before: Date,
  batch: number,
): Promise<number> {
  const rows = await em.execute<{ deleted: number }[]>(
    `with doomed as (
       select k.key from idempotency_keys k
        where k.created_at < ?
          and not exists (select 1 from requests r where r.id = k.request_id and r.status = 'queued')
        order by k.created_at
        limit ?
        for update of k skip locked
     ), deleted as (
       delete from idempotency_keys k using doomed d where k.key = d.key returning 1
     )
     select count(*)::int as deleted from deleted`,
    [before, batch],
  );
  return rows[0]?.deleted ?? 0;
}

/**
 * Deletes up to `batch` finished (committed or failed) requests accepted before `before` that no
 * Idempotency-Key names any more; answers how many.
 */
export async function deleteFinishedRequestsBefore(
  em: EntityManager,
  before: Date,
  batch: number,
): Promise<number> {
  const rows = await em.execute<{ deleted: number }[]>(
    // `status <> 'queued'` as written matches the partial index's predicate.
    `with doomed as (
       select r.id from requests r
        where r.status <> 'queued' and r.created_at < ?
          and not exists (select 1 from idempotency_keys k where k.request_id = r.id)
        order by r.created_at
        limit ?
        for update of r skip locked
     ), deleted as (
       delete from requests r using doomed d where r.id = d.id returning 1
     )
     select count(*)::int as deleted from deleted`,
    [before, batch],
  );
  return rows[0]?.deleted ?? 0;
}
