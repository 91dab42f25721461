/**
 * The building blocks of the typed wire shapes (api/wire/*): a field that Orb's schema types as a
 * number is declared `exactNumber` and built with `exact(text)`, which sends the stored decimal
 * text as a raw JSON number (`JSON.rawJSON`), so 12345678901234567890.000000000001 keeps every
 * digit and no amount ever passes through a float. Which fields are numbers is said by the
 * schemas alone, never by a field's name; `WireOf` gives a schema's type with its exact numbers
 * as raw JSON, so a `toWire…` function that forgets one does not compile.
 */
import { z } from 'zod';
import { Decimal } from '../../domain/decimal.ts';

declare const exactNumberBrand: unique symbol;
/** A decimal as raw JSON number text (what `JSON.stringify` writes digit for digit). */
export type ExactNumber = { readonly [exactNumberBrand]: true };

/** A number field of Orb's schema, sent with every digit of the stored decimal. */
export const exactNumber = z.number().brand<'ExactNumber'>().meta({
  description:
    'An exact decimal sent as a JSON number with every digit (up to 38); parse it without a float to keep them.',
});

/** The decimal text of a stored amount as an exact JSON number ("-20.000000000000" → -20). */
export function exact(decimalText: string): ExactNumber {
  return JSON.rawJSON(Decimal.of(decimalText).toString()) as ExactNumber;
}

/** A schema's output type as it is built for the wire: its exact numbers are raw JSON. */
export type WireOf<T> =
  T extends z.core.$brand<'ExactNumber'>
    ? ExactNumber
    : T extends readonly (infer Item)[]
      ? WireOf<Item>[]
      : T extends object
        ? { [Key in keyof T]: WireOf<T[Key]> }
        : T;

/** The type a `toWire…` function returns for a schema. */
export type Wire<Schema extends z.ZodType> = WireOf<z.output<Schema>>;

/** User metadata, an object of strings, copied as stored: never looked into. */
export const metadata = z.record(z.string(), z.string()).meta({
  description:
    'User specified key-value pairs, returned exactly as stored (an empty object when none).',
});

export const dateTime = z.string().meta({ format: 'date-time' });

/** Orb's PaginationMetadata, and a page of items in it. */
export const paginationMetadata = z
  .object({ has_more: z.boolean(), next_cursor: z.string().nullable() })
  .meta({ id: 'PaginationMetadata' });

export function page<Item extends z.ZodType>(item: Item) {
  return z.object({ data: z.array(item), pagination_metadata: paginationMetadata });
}
