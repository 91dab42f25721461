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
  return JSON.rawJSON(canonicalDecimal(decimalText)) as ExactNumber;
}

/**
 * Decimal text as Postgres writes a numeric(38,12) column: no exponent, no leading zeros, within
 * the range `Decimal` holds (26 integer and 12 fractional digits).
 */
const DATABASE_DECIMAL = /^-?(?:0|[1-9]\d{0,25})(?:\.\d{1,12})?$/;
const ZERO_CHAR = 48;
const POINT_CHAR = 46;

/**
 * `Decimal.of(text).toString()`: what every amount of a read goes through, several per item, so
 * the database's own text is trimmed as text (its trailing fractional zeros dropped) rather than
 * parsed into a bigint and printed again; anything else takes the `Decimal` path and its refusals.
 */
export function canonicalDecimal(text: string): string {
  if (!DATABASE_DECIMAL.test(text)) return Decimal.of(text).toString();
  let end = text.length;
  if (text.includes('.')) {
    while (text.charCodeAt(end - 1) === ZERO_CHAR) end -= 1;
    if (text.charCodeAt(end - 1) === POINT_CHAR) end -= 1;
  }
  const trimmed = end === text.length ? text : text.slice(0, end);
  return trimmed === '-0' ? '0' : trimmed;
}

/**
 * Postgres' text of a `timestamptz` in a UTC session ("2026-01-02 03:04:05.678901+00"), which is
 * how the ORM's pool hands timestamps over (as text, unparsed).
 */
const DATABASE_UTC_INSTANT = /^([1-9]\d{3}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\+00$/;

/**
 * `new Date(instant).toISOString()` (millisecond precision, `Z`), rewritten as text when the
 * database wrote it in UTC: a balance read formats two instants per block, and parsing each into
 * a Date to print it again was a measurable part of the read. Other forms (a Date, another
 * offset, a year past 9999) take the Date path.
 */
export function isoInstant(instant: Date | string): string {
  if (typeof instant === 'string') {
    const match = DATABASE_UTC_INSTANT.exec(instant);
    if (match) return `${match[1]}T${match[2]}.${(match[3] ?? '').padEnd(3, '0').slice(0, 3)}Z`;
  }
  return new Date(instant).toISOString();
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
