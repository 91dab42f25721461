/**
 * Orb's TopUp: `threshold`, `amount` and `per_unit_cost_basis` are decimal strings in Orb's schema;
 * with the `active_from` it was created with (Orb's TopUp schema does not list it; returned so that
 * a client can read back when its top-up starts).
 */
import { z } from 'zod';
import { Decimal } from '../../domain/decimal.ts';
import type { TopUpRecord } from '../../worker/store/topUps.ts';
import { dateTime, page, type Wire } from './exactNumber.ts';

export const topUpSchema = z
  .object({
    id: z.string(),
    currency: z.string(),
    threshold: z.string(),
    amount: z.string(),
    per_unit_cost_basis: z.string(),
    invoice_settings: z.object({
      auto_collection: z.boolean(),
      net_terms: z.number().int(),
      memo: z.string().nullable(),
      require_successful_payment: z.boolean(),
    }),
    expires_after: z.number().int().nullable(),
    expires_after_unit: z.enum(['day', 'month']).nullable(),
    /** Not in Orb's TopUp schema: when the top-up starts acting (null: at once). */
    active_from: dateTime.nullable(),
  })
  .meta({ id: 'TopUp' });

export const topUpsSchema = page(topUpSchema).meta({ id: 'TopUps' });

export function toWireTopUp(row: TopUpRecord): Wire<typeof topUpSchema> {
  return {
    id: row.id,
    currency: row.currency,
    threshold: Decimal.of(row.threshold).toString(),
    amount: Decimal.of(row.amount).toString(),
    per_unit_cost_basis: row.per_unit_cost_basis,
    invoice_settings: {
      auto_collection: row.auto_collection,
      net_terms: row.net_terms,
      memo: row.memo,
      require_successful_payment: row.require_successful_payment,
    },
    expires_after: row.expires_after,
    expires_after_unit: row.expires_after_unit,
    active_from: row.active_from === null ? null : new Date(row.active_from).toISOString(),
  };
}
