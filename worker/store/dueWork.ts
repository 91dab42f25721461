/**
 * The sweeps' reads of work that has come due (worker/sweeps/): which customers have a usage day
 * to close, which ledgers hold credit past its expiry, which requests were accepted but their job
 * is gone. Each is bounded; the next sweep continues where the backlog stands.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Customers with pending usage entries whose day has closed by `now`. */
export async function customersWithClosedDays(
  em: EntityManager,
  now: Date,
  limit: number,
): Promise<string[]> {
  const rows = await em.execute<{ customer_id: string }[]>(
    `select distinct customer_id from ledger_entries where entry_status = 'pending' and closes_at <= ? limit ?`,
    [now, limit],
  );
  return rows.map((row) => row.customer_id);
}

/** Ledgers with a block whose expiry has passed by `now` while it still holds credit. */
export async function ledgersWithDueExpiries(
  em: EntityManager,
  now: Date,
  limit: number,
): Promise<{ customerId: string; currency: string }[]> {
  const rows = await em.execute<{ customer_id: string; currency: string }[]>(
    `select distinct customer_id, currency from credit_blocks
      where expiry_date <= ? and balance > 0 and voided_at is null
      limit ?`,
    [now, limit],
  );
  return rows.map((row) => ({ customerId: row.customer_id, currency: row.currency }));
}

/** The ledgers whose alerts wait for a block that is effective by `now` (`alerts.recheck_at`). */
export async function ledgersWithAlertRechecksDue(
  em: EntityManager,
  now: Date,
  limit: number,
): Promise<{ customerId: string; currency: string }[]> {
  const rows = await em.execute<{ customer_id: string; currency: string }[]>(
    `select distinct customer_id, currency from alerts where recheck_at <= ? limit ?`,
    [now, limit],
  );
  return rows.map((row) => ({ customerId: row.customer_id, currency: row.currency }));
}

/** Requests still `queued` that were accepted before `acceptedBefore`, oldest first. */
export async function requestsQueuedSince(
  em: EntityManager,
  acceptedBefore: Date,
  limit: number,
): Promise<{ id: string; customerId: string }[]> {
  const rows = await em.execute<{ id: string; customer_id: string }[]>(
    `select id, customer_id from requests where status = 'queued' and created_at < ? order by created_at limit ?`,
    [acceptedBefore, limit],
  );
  return rows.map((row) => ({ id: row.id, customerId: row.customer_id }));
}
