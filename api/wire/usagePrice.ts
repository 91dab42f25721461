/** A usage price (the service's own resource): `unit_amount` is a decimal string, like Orb's prices. */
import { z } from 'zod';
import type { UsagePriceView } from '../../worker/store/usagePriceViews.ts';
import { dateTime, page, type Wire } from './exactNumber.ts';

export const usagePriceSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    event_name: z.string(),
    item_id: z.string(),
    unit_amount: z.string(),
    quantity_property: z.string().nullable(),
    currency: z.string(),
    archived_at: dateTime.nullable(),
    created_at: dateTime,
  })
  .meta({
    id: 'UsagePrice',
    description: 'How events named event_name become credits: each deducts quantity × unit_amount.',
  });

export const usagePricesSchema = page(usagePriceSchema).meta({ id: 'UsagePrices' });

export function toWireUsagePrice(view: UsagePriceView): Wire<typeof usagePriceSchema> {
  return {
    id: view.id,
    name: view.name,
    event_name: view.event_name,
    item_id: view.item_id,
    unit_amount: view.unit_amount,
    quantity_property: view.quantity_property,
    currency: view.currency,
    archived_at: view.archived_at,
    created_at: view.created_at,
  };
}
