/**
 * Query strings of the list endpoints. The SDK sends `key=` for unset values, so an empty value
 * means null (LEDGER_RULES.md §6). Cursors are opaque to clients.
 */
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { dateTime } from './primitives.ts';

const empty = (value: unknown) => (value === '' ? undefined : value);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(empty, schema.optional());

export const limitQuery = (maximum: number) =>
  optional(z.coerce.number().int().min(1).max(maximum)).transform((value) => value ?? 20);

const createdAtRange = {
  'created_at[gt]': optional(dateTime),
  'created_at[gte]': optional(dateTime),
  'created_at[lt]': optional(dateTime),
  'created_at[lte]': optional(dateTime),
};

export const customersQuery = z.object({
  limit: limitQuery(100),
  cursor: optional(z.string()),
  ...createdAtRange,
});

export const ledgerQuery = z.object({
  limit: limitQuery(1000),
  cursor: optional(z.string()),
  currency: optional(z.string()),
  minimum_amount: optional(z.string().regex(/^\d+(\.\d+)?$/, 'must be a non-negative decimal')),
  entry_type: optional(
    z.enum([
      'increment',
      'decrement',
      'expiration_change',
      'credit_block_expiry',
      'void',
      'void_initiated',
      'amendment',
    ]),
  ),
  entry_status: optional(z.enum(['committed', 'pending'])),
  ...createdAtRange,
});
export type LedgerQuery = z.infer<typeof ledgerQuery>;

export const creditsQuery = z.object({
  limit: limitQuery(100),
  cursor: optional(z.string()),
  currency: optional(z.string()),
  include_all_blocks: optional(z.enum(['true', 'false'])).transform((value) => value === 'true'),
  'effective_date[gt]': optional(dateTime),
  'effective_date[gte]': optional(dateTime),
  'effective_date[lt]': optional(dateTime),
  'effective_date[lte]': optional(dateTime),
});
export type CreditsQuery = z.infer<typeof creditsQuery>;

export function encodeCursor(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

const BAD_CURSOR =
  'cursor is not one this service gave out; pass pagination_metadata.next_cursor unchanged.';

/** A `created_at|id` keyset cursor. */
export function decodeKeyset(
  cursor: string | undefined,
): { createdAt: Date; id: string } | undefined {
  if (cursor === undefined) return undefined;
  const [at, id] = decodeCursor(cursor).split('|');
  const createdAt = new Date(at ?? '');
  if (!id || Number.isNaN(createdAt.getTime())) throw ApiError.validation(BAD_CURSOR);
  return { createdAt, id };
}

/** A `seq` cursor (ledger entries). */
const BIGINT_MAX = 2n ** 63n - 1n;

export function decodeSeq(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const seq = decodeCursor(cursor);
  // 19 digits may still pass Postgres' bigint (a cursor no page gave out): a 400, not a 500.
  if (!/^\d{1,19}$/.test(seq) || BigInt(seq) > BIGINT_MAX) throw ApiError.validation(BAD_CURSOR);
  return seq;
}

export function paginationMetadata(next: string | null): {
  has_more: boolean;
  next_cursor: string | null;
} {
  return { has_more: next !== null, next_cursor: next === null ? null : encodeCursor(next) };
}

type RangeKeys<P extends string> = {
  [K in `${P}[gt]` | `${P}[gte]` | `${P}[lt]` | `${P}[lte]`]?: string | undefined;
};

export function timeRange<P extends string>(
  query: RangeKeys<P>,
  prefix: P,
): { gt?: Date; gte?: Date; lt?: Date; lte?: Date } {
  const at = (key: `${P}[gt]` | `${P}[gte]` | `${P}[lt]` | `${P}[lte]`) => {
    const value = query[key];
    return value === undefined ? undefined : new Date(value);
  };
  return {
    gt: at(`${prefix}[gt]`),
    gte: at(`${prefix}[gte]`),
    lt: at(`${prefix}[lt]`),
    lte: at(`${prefix}[lte]`),
  };
}
