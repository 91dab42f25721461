/**
 * The body of `POST .../credits/top_ups` (Orb's AddCreditTopUpRequestParams) and the list query.
 * Amounts are decimal strings on Orb's wire; unknown keys are refused (`additionalProperties:
 * false`). `active_from` is an ISO date-time (canonical UTC) or null, "from its creation".
 */
import { z } from 'zod';
import { Decimal, FRACTION_DIGITS, INTEGER_DIGITS_MAX } from '../../domain/decimal.ts';
import { NET_TERMS_DAYS_MAX } from '../../domain/invoiceFor.ts';
import { limitQuery } from './listQueries.ts';
import { dateTime, jsonInteger } from './primitives.ts';

const PARSE_ERRORS = {
  not_a_number: 'must be a finite decimal number',
  too_many_fraction_digits: `must have at most ${FRACTION_DIGITS} decimal places`,
  too_large: `must have at most ${INTEGER_DIGITS_MAX} integer digits`,
} as const;

/** A decimal string, checked with `ok`, output as canonical decimal text. */
const decimalText = (ok: (value: Decimal) => boolean, message: string) =>
  z.string().transform((text, ctx) => {
    const parsed = Decimal.parse(text.trim());
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: PARSE_ERRORS[parsed] });
      return z.NEVER;
    }
    if (!ok(parsed)) {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return parsed.toString();
  });

const CURRENCY_LENGTH_MAX = 255;
const MEMO_LENGTH_MAX = 4000;

export const topUpRequest = z.strictObject({
  currency: z.string().min(1).max(CURRENCY_LENGTH_MAX),
  threshold: decimalText(() => true, ''),
  amount: decimalText((value) => value.isPositive(), 'must be greater than 0'),
  per_unit_cost_basis: decimalText((value) => !value.isNegative(), 'must not be negative'),
  invoice_settings: z.strictObject({
    auto_collection: z.boolean(),
    net_terms: jsonInteger.refine(
      (days) => days >= 0 && days <= NET_TERMS_DAYS_MAX,
      `must be a whole number of days from 0 to ${NET_TERMS_DAYS_MAX}`,
    ),
    memo: z
      .string()
      .max(MEMO_LENGTH_MAX)
      .nullable()
      .optional()
      .transform((value) => value ?? null),
    require_successful_payment: z
      .boolean()
      .optional()
      .transform((value) => value ?? false),
  }),
  expires_after: jsonInteger
    .refine((value) => value > 0, 'must be at least 1')
    .nullable()
    .optional()
    .transform((value) => value ?? null),
  expires_after_unit: z
    .enum(['day', 'month'])
    .nullable()
    .optional()
    .transform((value) => value ?? null),
  active_from: dateTime
    .nullable()
    .optional()
    .transform((value) => value ?? null),
});
export type TopUpRequest = z.infer<typeof topUpRequest>;

const empty = (value: unknown) => (value === '' ? undefined : value);

export const topUpsQuery = z.object({
  limit: limitQuery(100),
  cursor: z.preprocess(empty, z.string().optional()),
});
export type TopUpsQuery = z.infer<typeof topUpsQuery>;
