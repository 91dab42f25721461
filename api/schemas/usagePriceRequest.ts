/**
 * The body of `POST /v1/usage_prices` and the query of `GET /v1/usage_prices` (ARCHITECTURE.md,
 * the service's own endpoints; LEDGER_RULES.md §5). `unit_amount` is credits per unit, taken as a
 * decimal string (Orb's prices carry amounts as strings) or a JSON number, read exactly from its
 * source text and handed on as canonical decimal text; it may be 0 but never negative. Unknown
 * keys are refused, so a misspelt `quantity_property` cannot silently mean "1 per event".
 */
import { z } from 'zod';
import { Decimal, FRACTION_DIGITS, INTEGER_DIGITS_MAX } from '../../domain/decimal.ts';
import { JsonNumber } from '../../worker/runtime/exactJson.ts';
import { limitQuery } from './listQueries.ts';

/** Postgres checks the same bound on name, event_name and item_id. */
const TEXT_LENGTH_MAX = 500;
const CURRENCY_LENGTH_MAX = 255;
export const CURRENCY_DEFAULT = 'credits';

const PARSE_ERRORS = {
  not_a_number: 'must be a finite decimal number',
  too_many_fraction_digits: `must have at most ${FRACTION_DIGITS} decimal places`,
  too_large: `must have at most ${INTEGER_DIGITS_MAX} integer digits`,
} as const;

const decimalSource = z.union([
  z.string(),
  z
    .custom<JsonNumber>((value) => value instanceof JsonNumber, {
      message: 'must be a decimal string or a number',
    })
    .meta({ type: 'number' }),
]);

/** Credits per unit: "0.002" or 0.002, at least 0, output as canonical decimal text ("0.0020" → "0.002"). */
export const unitAmount = decimalSource.transform((value, ctx) => {
  const parsed = Decimal.parse(typeof value === 'string' ? value : value.source);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: PARSE_ERRORS[parsed] });
    return z.NEVER;
  }
  if (parsed.isNegative()) {
    ctx.addIssue({ code: 'custom', message: 'must not be negative' });
    return z.NEVER;
  }
  return parsed.toString();
});

const text = z.string().min(1).max(TEXT_LENGTH_MAX);

export const usagePriceRequest = z.strictObject({
  name: text,
  event_name: text,
  item_id: text,
  unit_amount: unitAmount,
  quantity_property: text
    .nullable()
    .optional()
    .transform((value) => value ?? null),
  currency: z
    .string()
    .min(1)
    .max(CURRENCY_LENGTH_MAX)
    .nullable()
    .optional()
    .transform((value) => value ?? CURRENCY_DEFAULT),
});
export type UsagePriceRequest = z.infer<typeof usagePriceRequest>;

/** The SDK sends `key=` for unset values: an empty value means "not given". */
const empty = (value: unknown) => (value === '' ? undefined : value);

export const usagePricesQuery = z.object({
  limit: limitQuery(100),
  cursor: z.preprocess(empty, z.string().optional()),
  include_archived: z
    .preprocess(empty, z.enum(['true', 'false']).optional())
    .transform((value) => value === 'true'),
  event_name: z.preprocess(empty, text.optional()),
});
export type UsagePricesQuery = z.infer<typeof usagePricesQuery>;
