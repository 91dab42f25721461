/**
 * Resolves the customer named in a path, by Orb id or by external id. What a write needs of a
 * customer (id, external id, timezone) never changes after creation, so found customers are kept
 * in a bounded in-process cache and a hot customer costs no query per request.
 */
import type { Orm } from '../worker/store/orm.ts';
import { findCustomer } from '../worker/store/readQueries.ts';
import { ApiError } from './errors.ts';

export interface CustomerKey {
  id: string;
  externalCustomerId: string | null;
  timezone: string;
  currency: string | null;
}

export type CustomerPath = { customerId: string } | { externalCustomerId: string };

const CACHE_ENTRIES_MAX = 100_000;

/** The 404 for a path naming no customer. */
export function customerNotFound(path: CustomerPath): ApiError {
  return ApiError.notFound(
    'customerId' in path
      ? `Customer with id ${path.customerId} does not exist.`
      : `Customer with external_customer_id ${path.externalCustomerId} does not exist.`,
  );
}

export class CustomerResolver {
  private readonly orm: Orm;
  private readonly cache = new Map<string, CustomerKey>();

  constructor(orm: Orm) {
    this.orm = orm;
  }

  async resolve(path: CustomerPath): Promise<CustomerKey> {
    const cacheKey =
      'customerId' in path ? `id:${path.customerId}` : `ext:${path.externalCustomerId}`;
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    const row = await findCustomer(this.orm.em.fork(), path);
    if (!row) throw customerNotFound(path);
    const key: CustomerKey = {
      id: row.id,
      externalCustomerId: row.externalCustomerId ?? null,
      timezone: row.timezone,
      currency: row.currency ?? null,
    };
    if (this.cache.size >= CACHE_ENTRIES_MAX) this.cache.clear();
    this.cache.set(`id:${key.id}`, key);
    if (key.externalCustomerId) this.cache.set(`ext:${key.externalCustomerId}`, key);
    return key;
  }
}
