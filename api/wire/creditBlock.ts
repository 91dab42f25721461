/**
 * Orb's CreditBlock (`GET /v1/credit_blocks/{id}`) and CustomerCreditBalance (the items of
 * `GET …/credits`), built from the store's block view: `balance` and `maximum_initial_balance`
 * are exact JSON numbers, `metadata` is copied as stored.
 */
import { z } from 'zod';
import type { CreditBlockReadRow } from '../../worker/store/creditReads.ts';
import type { CreditBlockView } from '../../worker/store/views.ts';
import {
  dateTime,
  exact,
  exactNumber,
  isoInstant,
  metadata,
  page,
  type Wire,
} from './exactNumber.ts';
import { priceFilterSchema } from './ledgerEntry.ts';

export const creditBlockSchema = z
  .object({
    id: z.string(),
    balance: exactNumber,
    effective_date: dateTime.nullable(),
    expiry_date: dateTime.nullable(),
    per_unit_cost_basis: z.string().nullable(),
    status: z.enum(['active', 'pending_payment']),
    maximum_initial_balance: exactNumber.nullable(),
    filters: z.array(priceFilterSchema),
    credit_block_source: z.enum(['allocation', 'top_up', 'commitment', 'manual']),
    credit_allocation: z.record(z.string(), z.unknown()).nullable(),
    credit_commitment: z.record(z.string(), z.unknown()).nullable(),
    metadata,
  })
  .meta({ id: 'CreditBlock' });

export const customerCreditBalancesSchema = page(creditBlockSchema).meta({
  id: 'CustomerCreditBalances',
});

export function toWireCreditBlock(block: CreditBlockView): Wire<typeof creditBlockSchema> {
  return {
    id: block.id,
    balance: exact(block.balance),
    effective_date: block.effective_date,
    expiry_date: block.expiry_date,
    per_unit_cost_basis: block.per_unit_cost_basis,
    status: creditBlockSchema.shape.status.parse(block.status),
    maximum_initial_balance: exact(block.maximum_initial_balance),
    filters: block.filters,
    credit_block_source: creditBlockSchema.shape.credit_block_source.parse(
      block.credit_block_source,
    ),
    credit_allocation: block.credit_allocation,
    credit_commitment: block.credit_commitment,
    metadata: block.metadata,
  };
}

type BlockStatus = Wire<typeof creditBlockSchema>['status'];
type BlockSource = Wire<typeof creditBlockSchema>['credit_block_source'];
const BLOCK_STATUSES: ReadonlySet<string> = new Set(creditBlockSchema.shape.status.options);
const BLOCK_SOURCES: ReadonlySet<string> = new Set(
  creditBlockSchema.shape.credit_block_source.options,
);

/** One of an enum's values, checked as zod's `parse` would, without its per-call cost. */
function oneOf<Value extends string>(allowed: ReadonlySet<string>, value: string, what: string) {
  if (!allowed.has(value)) throw new Error(`unknown ${what} ${value}`);
  return value as Value;
}

/** The same shape straight from a read row (worker/store/creditReads.ts): amounts stay text. */
export function creditBlockFromRow(row: CreditBlockReadRow): Wire<typeof creditBlockSchema> {
  return {
    id: row.id,
    balance: exact(row.balance),
    effective_date: isoInstant(row.effective_date),
    expiry_date: row.expiry_date === null ? null : isoInstant(row.expiry_date),
    per_unit_cost_basis: row.per_unit_cost_basis,
    status: oneOf<BlockStatus>(BLOCK_STATUSES, row.status, 'block status'),
    maximum_initial_balance: exact(row.maximum_initial_balance),
    filters: row.filters,
    credit_block_source: oneOf<BlockSource>(BLOCK_SOURCES, row.source, 'block source'),
    credit_allocation: null,
    credit_commitment: null,
    metadata: row.metadata,
  };
}
