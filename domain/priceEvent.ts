/**
 * How an event becomes credits (LEDGER_RULES.md §5): quantity × the price's unit amount, where
 * the quantity is the event's `quantity_property` (a number, or a numeric string) or 1 when the
 * price names none. Quantities arrive as decimal text, never as floats; a missing, negative or
 * non-numeric quantity prices nothing and says why.
 */
import { Decimal } from './decimal.ts';

export interface UsagePrice {
  id: string;
  itemId: string;
  unitAmount: Decimal;
  quantityProperty: string | null;
  currency: string;
}

/** A property value as the intake keeps it: numbers as their source text. */
export type PropertyValue = string | boolean | { numberText: string } | null;

export type Pricing =
  { status: 'priced'; credits: Decimal } | { status: 'invalid_quantity'; reason: string };

export function priceEvent(
  price: UsagePrice,
  properties: Readonly<Record<string, PropertyValue>>,
): Pricing {
  if (price.quantityProperty === null) return { status: 'priced', credits: price.unitAmount };
  const value = properties[price.quantityProperty];
  const text =
    typeof value === 'string'
      ? value
      : value !== null && typeof value === 'object'
        ? value.numberText
        : undefined;
  if (text === undefined)
    return {
      status: 'invalid_quantity',
      reason: `property ${price.quantityProperty} is missing or not a number`,
    };
  const quantity = Decimal.parse(text);
  if (typeof quantity === 'string' && quantity !== 'too_many_fraction_digits') {
    return {
      status: 'invalid_quantity',
      reason: `property ${price.quantityProperty} is not a number (${quantity})`,
    };
  }
  if (typeof quantity === 'string')
    return {
      status: 'invalid_quantity',
      reason: `property ${price.quantityProperty} has more than 12 decimals`,
    };
  if (quantity.isNegative())
    return { status: 'invalid_quantity', reason: `property ${price.quantityProperty} is negative` };
  return { status: 'priced', credits: quantity.timesRounded(price.unitAmount) };
}
