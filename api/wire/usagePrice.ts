/**
 * A usage price (the service's own resource, ARCHITECTURE.md): snake_case, `unit_amount` as
 * canonical decimal text (a string on the wire, like Orb's prices, so it never passes through a
 * float), instants as ISO 8601 UTC, `archived_at` null while the price is live.
 */
import { z } from 'zod';
import { Decimal } from '../../domain/decimal.ts';
import type { UsagePriceRow } from '../../worker/store/entities.ts';
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

export function toWireUsagePrice(price: UsagePriceRow): Wire<typeof usagePriceSchema> {
  return {
    id: price.id,
    name: price.name,
    event_name: price.eventName,
    item_id: price.itemId,
    unit_amount: Decimal.of(price.unitAmount).toString(),
    quantity_property: price.quantityProperty ?? null,
    currency: price.currency,
    archived_at: price.archivedAt ? price.archivedAt.toISOString() : null,
    created_at: price.createdAt.toISOString(),
  };
}
