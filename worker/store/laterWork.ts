/**
 * What redrive needs from Postgres (worker/jobs/failedJobs.ts): when a failed job's work was accepted,
 * and how much work of the same customers, accepted after it, has been applied since. Every time
 * compared here is the service's clock at acceptance (requests' and events' own columns), so the
 * comparison holds under CLOCK=manual too.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** When the request was accepted and where it stands; undefined when there is no such request. */
export async function acceptedRequest(
  em: EntityManager,
  requestId: string,
): Promise<{ createdAt: Date; status: string } | undefined> {
  const rows = await em.execute<{ created_at: Date; status: string }[]>(
    'select created_at, status from requests where id = ?',
    [requestId],
  );
  const row = rows[0];
  return row && { createdAt: new Date(row.created_at), status: row.status };
}

/**
 * Committed requests, and applied usage events, of `customerIds` accepted
 * after `after`: work that a re-driven job would now be applied behind.
 */
export async function laterCommittedWork(
  em: EntityManager,
  customerIds: readonly string[],
  after: Date,
): Promise<number> {
  if (customerIds.length === 0) return 0;
  const ids = JSON.stringify(customerIds);
  const [row] = await em.execute<{ later: string }[]>(
    `with customers as (select jsonb_array_elements_text(?::jsonb) as id)
     select (select count(*) from requests where customer_id in (select id from customers) and status = 'committed' and created_at > ?)
          + (select count(*) from events where customer_id in (select id from customers) and status in ('applied', 'deprecated') and ingested_at > ?) as later`,
    [ids, after, after],
  );
  return Number(row?.later ?? 0);
}
