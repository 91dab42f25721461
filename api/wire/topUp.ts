/** Orb's TopUp: `threshold`, `amount` and `per_unit_cost_basis` are decimal strings in Orb's schema. */
import { z } from 'zod';
import type { topUpView } from '../../worker/store/topUps.ts';
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

export function toWireTopUp(view: ReturnType<typeof topUpView>): Wire<typeof topUpSchema> {
  return {
    id: view.id,
    currency: view.currency,
    threshold: view.threshold,
    amount: view.amount,
    per_unit_cost_basis: view.per_unit_cost_basis,
    invoice_settings: {
      auto_collection: view.invoice_settings.auto_collection,
      net_terms: view.invoice_settings.net_terms,
      memo: view.invoice_settings.memo,
      require_successful_payment: view.invoice_settings.require_successful_payment,
    },
    expires_after: view.expires_after,
    expires_after_unit: view.expires_after_unit,
    active_from: view.active_from,
  };
}
