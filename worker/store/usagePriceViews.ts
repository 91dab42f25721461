/**
 * How a usage price looks on the wire (ARCHITECTURE.md, the service's own endpoints): snake_case,
 * `unit_amount` as canonical decimal text (a string on the wire, like Orb's prices, so it never
 * passes through a float), instants as ISO 8601 UTC, `archived_at` null while the price is live.
 */
import { Decimal } from '../../domain/decimal.ts';
import type { UsagePriceRow } from './entities.ts';

export function usagePriceView(price: UsagePriceRow) {
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
export type UsagePriceView = ReturnType<typeof usagePriceView>;
