/**
 * Reads and the one update of usage prices for api/. Lists are newest first with a
 * `created_at|id` keyset (the same cursor format as the other lists); archived prices are left
 * out unless asked for. Archiving only ever sets `archived_at` once, so a repeat is a no-op that
 * returns the price as first archived.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { UsagePrice, type UsagePriceRow } from './entities.ts';
import type { Page } from './readQueries.ts';

export interface UsagePriceFilter {
  limit: number;
  /** `created_at|id` of the last price already seen; the page continues with older ones. */
  after?: { createdAt: Date; id: string };
  includeArchived: boolean;
  eventName?: string;
}

export async function findUsagePrice(em: EntityManager, id: string): Promise<UsagePriceRow | null> {
  return em.findOne(UsagePrice, { id });
}

/** The price an event name maps to now, if any (the schema allows at most one). */
export async function findLiveUsagePrice(
  em: EntityManager,
  eventName: string,
): Promise<UsagePriceRow | null> {
  return em.findOne(UsagePrice, { eventName, archivedAt: null });
}

export async function listUsagePrices(
  em: EntityManager,
  filter: UsagePriceFilter,
): Promise<Page<UsagePriceRow>> {
  const where: Record<string, unknown>[] = [];
  if (!filter.includeArchived) where.push({ archivedAt: null });
  if (filter.eventName !== undefined) where.push({ eventName: filter.eventName });
  if (filter.after) {
    const { createdAt, id } = filter.after;
    where.push({ $or: [{ createdAt: { $lt: createdAt } }, { createdAt, id: { $lt: id } }] });
  }
  const rows = await em.find(UsagePrice, where.length ? { $and: where } : {}, {
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    limit: filter.limit + 1,
  });
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return {
    data: page,
    next: rows.length > filter.limit && last ? `${last.createdAt.toISOString()}|${last.id}` : null,
  };
}

/** Sets `archived_at` if it is not set yet; null when no price has this id. */
export async function archiveUsagePrice(
  em: EntityManager,
  id: string,
  now: Date,
): Promise<UsagePriceRow | null> {
  await em.nativeUpdate(UsagePrice, { id, archivedAt: null }, { archivedAt: now });
  return em.findOne(UsagePrice, { id }, { refresh: true });
}
