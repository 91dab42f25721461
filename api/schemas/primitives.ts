/**
 * Building blocks of the request schemas, in Orb's wire format: exact decimal amounts read from
 * the number's source text (or from a plain decimal string), ISO dates and date-times, metadata
 * with null meaning "no key".
 */
import { DateTime, IANAZone } from 'luxon';
import { z } from 'zod';
import { Decimal, FRACTION_DIGITS, INTEGER_DIGITS_MAX } from '../../domain/decimal.ts';
import { JsonNumber } from '../../worker/runtime/exactJson.ts';

// `meta` tells the OpenAPI document what the custom check accepts (api/openApi.ts).
const jsonNumber = z
  .custom<JsonNumber>((value) => value instanceof JsonNumber, { message: 'must be a number' })
  .meta({ type: 'number' });

function decimalFrom(text: string, ctx: z.RefinementCtx): Decimal | typeof z.NEVER {
  const parsed = Decimal.parse(text);
  if (parsed === 'too_many_fraction_digits') {
    ctx.addIssue({
      code: 'custom',
      message: `must have at most ${FRACTION_DIGITS} decimal places`,
    });
    return z.NEVER;
  }
  if (parsed === 'too_large') {
    ctx.addIssue({
      code: 'custom',
      message: `must have at most ${INTEGER_DIGITS_MAX} integer digits`,
    });
    return z.NEVER;
  }
  if (parsed === 'not_a_number') {
    ctx.addIssue({ code: 'custom', message: 'must be a finite decimal number' });
    return z.NEVER;
  }
  return parsed;
}

/**
 * A decimal string as exact-money clients send an amount (LEDGER_RULES.md §1): digits with an
 * optional fraction, nothing else. `Decimal.parse` alone is too lenient for a string (it reads
 * exponents, signs and surrounding spaces, which a JSON number's grammar already rules out).
 */
const DECIMAL_AMOUNT_STRING = /^\d+(?:\.\d+)?$/;

/** The source text of an amount sent as a JSON number or as a decimal string; the digits as sent. */
const amountText = z.union([jsonNumber, z.string()]).transform((value, ctx) => {
  if (value instanceof JsonNumber) return value.source;
  if (!DECIMAL_AMOUNT_STRING.test(value)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be a number or a decimal string of digits with an optional fraction, such as "2.5" (no sign, exponent or spaces)',
    });
    return z.NEVER;
  }
  return value;
});

/**
 * A request `amount`: a JSON number or a decimal string, exact, strictly positive; output as
 * canonical decimal text.
 */
export const positiveAmount = amountText.transform((source, ctx) => {
  const decimal = decimalFrom(source, ctx);
  if (decimal === z.NEVER) return z.NEVER;
  if (!decimal.isPositive()) {
    ctx.addIssue({ code: 'custom', message: 'must be greater than 0' });
    return z.NEVER;
  }
  return decimal.toString();
});

/** A decimal carried as a string on Orb's wire (e.g. `per_unit_cost_basis: "0.20"`), kept as written. */
export const decimalString = z.string().transform((text, ctx) => {
  const decimal = decimalFrom(text, ctx);
  if (decimal === z.NEVER) return z.NEVER;
  if (decimal.isNegative()) {
    ctx.addIssue({ code: 'custom', message: 'must not be negative' });
    return z.NEVER;
  }
  return text.trim();
});

export const jsonInteger = jsonNumber.transform((value, ctx) => {
  if (!/^-?\d+$/.test(value.source) || !Number.isSafeInteger(Number(value.source))) {
    ctx.addIssue({ code: 'custom', message: 'must be an integer' });
    return z.NEVER;
  }
  return Number(value.source);
});

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Luxon reads UTC offsets of any size ("+25:00"), which RFC 3339 and JS `Date` refuse: such a
 * date-time passed validation and then failed as an Invalid Date deep in a query (a 500), or was
 * stored as a nonsense instant (found by the fuzzer, scripts/fuzz.ts). Offsets stay within ±23:59.
 */
const OFFSET_MINUTES_MAX = 23 * 60 + 59;

/** An ISO 8601 date-time (it has a `T`), read with its own offset; undefined when it is not one. */
function isoDateTime(text: string, options: { zone?: string } = {}): DateTime | undefined {
  if (!/T/.test(text)) return undefined;
  const parsed = DateTime.fromISO(text, { ...options, setZone: true });
  return parsed.isValid && Math.abs(parsed.offset) <= OFFSET_MINUTES_MAX ? parsed : undefined;
}

/** "2026-12-28" (midnight in the customer's timezone, resolved later) or an ISO date-time. */
export const dateOrDateTime = z
  .string()
  .refine(
    (text) =>
      DATE_ONLY.test(text) ? DateTime.fromISO(text).isValid : isoDateTime(text) !== undefined,
    'must be an ISO 8601 date (YYYY-MM-DD) or date-time',
  );

/**
 * An ISO 8601 date-time as an instant, in canonical UTC form ("…Z"). A date-time without an
 * offset is UTC, as Orb documents for event timestamps, never the server's local time.
 */
export const utcInstant = z.string().transform((text, ctx) => {
  const parsed = isoDateTime(text, { zone: 'utc' });
  if (!parsed) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO 8601 date-time such as 2026-11-21T19:00:00Z',
    });
    return z.NEVER;
  }
  return parsed.toUTC().toISO() ?? '';
});

/**
 * An ISO 8601 date-time, handed on in canonical UTC form ("…Z") so that every reader's
 * `new Date(…)` can read it: luxon accepts ISO forms `Date` does not (week dates, "T10Z"), which
 * used to reach the queries as Invalid Dates (a 500; found by the fuzzer).
 */
export const dateTime = z.string().transform((text, ctx) => {
  const parsed = isoDateTime(text);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 date-time' });
    return z.NEVER;
  }
  return parsed.toUTC().toISO() ?? '';
});

export const timezone = z
  .string()
  .refine(
    (zone) => IANAZone.isValidZone(zone),
    'must be an IANA timezone such as America/Los_Angeles',
  );

export const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD');

/** Orb's metadata input: values may be null, meaning "no such key". */
export const metadataInput = z
  .record(z.string(), z.string().nullable())
  .nullable()
  .optional()
  .transform((metadata) =>
    Object.fromEntries(
      Object.entries(metadata ?? {}).filter((pair): pair is [string, string] => pair[1] !== null),
    ),
  );

export const nullableString = z
  .string()
  .nullable()
  .optional()
  .transform((value) => value ?? null);
