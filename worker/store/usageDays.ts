/**
 * Closing usage days (LEDGER_RULES.md §5): a customer's pending usage entries whose day has closed
 * (end of the usage day plus the grace period) become committed, and never change again.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/** Commits this customer's pending usage entries that closed at or before `now`; answers how many. */
export async function commitClosedUsageDays(
  em: EntityManager,
  customerId: string,
  now: Date,
): Promise<number> {
  const rows = await em.execute<{ id: string }[]>(
    `update ledger_entries set entry_status = 'committed'
      where customer_id = ? and entry_status = 'pending' and closes_at <= ?
      returning id`,
    [customerId, now],
  );
  return rows.length;
}
