/**
 * Customer balance transactions on Orb's wire (NewCustomerBalanceTransaction, unknown keys
 * rejected): `amount` is a decimal STRING here, unlike the credit ledger's numbers, > 0 with at
 * most 12 decimal places, and leaves as canonical decimal text ("10.50" → "10.5"). The list's
 * query takes Orb's `operation_time[gt|gte|lt|lte]` and cursor pagination (limit ≤ 100).
 */
import { z } from 'zod';
import { Decimal, FRACTION_DIGITS, INTEGER_DIGITS_MAX } from '../../domain/decimal.ts';
import { limitQuery } from './listQueries.ts';
import { dateTime, nullableString } from './primitives.ts';

const PARSE_ERRORS = {
  not_a_number: 'must be a decimal number written as a string, such as "10.50"',
  too_many_fraction_digits: `must have at most ${FRACTION_DIGITS} decimal places`,
  too_large: `must have at most ${INTEGER_DIGITS_MAX} integer digits`,
} as const;

/** A positive decimal string, output as canonical decimal text. */
export const balanceAmount = z
  .string({ error: 'must be a decimal string such as "10.50" (Orb sends this amount as a string)' })
  .transform((text, ctx) => {
    const parsed = Decimal.parse(text);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: PARSE_ERRORS[parsed] });
      return z.NEVER;
    }
    if (!parsed.isPositive()) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be greater than 0; the direction is given by type',
      });
      return z.NEVER;
    }
    return parsed.toString();
  });

export const balanceTransactionRequest = z.strictObject({
  amount: balanceAmount,
  type: z.enum(['increment', 'decrement']),
  description: nullableString,
});
export type BalanceTransactionRequest = z.infer<typeof balanceTransactionRequest>;

/** The SDK sends `key=` for unset values, so an empty value means null (LEDGER_RULES.md §6). */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

export const balanceTransactionsQuery = z.object({
  limit: limitQuery(100),
  cursor: optional(z.string()),
  'operation_time[gt]': optional(dateTime),
  'operation_time[gte]': optional(dateTime),
  'operation_time[lt]': optional(dateTime),
  'operation_time[lte]': optional(dateTime),
});
export type BalanceTransactionsQuery = z.infer<typeof balanceTransactionsQuery>;
