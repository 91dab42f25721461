/**
 * Bodies and queries of Orb's customer credit-balance alert endpoints (orb-billing
 * `resources/alerts.d.ts`): create (`AlertCreateForCustomerParams`), update (`AlertUpdateParams`)
 * and list (`AlertListParams`). A threshold `value` is a JSON number kept exactly as sent (or a
 * decimal string), of either sign: the watched balance can go below zero. Unknown keys are
 * refused; the cost-alert fields of an update (`price_filters`, `threshold_overrides`) are taken
 * only as null, since no alert here can use them.
 */
import { z } from 'zod';
import { ALERT_TYPES } from '../../domain/alerts.ts';
import { Decimal, FRACTION_DIGITS, INTEGER_DIGITS_MAX } from '../../domain/decimal.ts';
import { alertThresholdsProblem } from '../../worker/jobs/requestKinds.ts';
import { JsonNumber } from '../../worker/runtime/exactJson.ts';
import { limitQuery } from './listQueries.ts';
import { dateTime } from './primitives.ts';

/** A bound on one alert's size (its thresholds live in one jsonb value, evaluated on every write). */
export const ALERT_THRESHOLDS_MAX = 100;
const CURRENCY_LENGTH_MAX = 255;

const PARSE_ERRORS = {
  not_a_number: 'must be a finite decimal number',
  too_many_fraction_digits: `must have at most ${FRACTION_DIGITS} decimal places`,
  too_large: `must have at most ${INTEGER_DIGITS_MAX} integer digits`,
} as const;

/** A plain decimal string: an optional minus, digits, an optional fraction. */
const DECIMAL_STRING = /^-?\d+(?:\.\d+)?$/;

/** A threshold value: a JSON number (its source digits) or a decimal string; canonical text. */
const thresholdValue = z
  .union([
    z
      .custom<JsonNumber>((value) => value instanceof JsonNumber, { message: 'must be a number' })
      .meta({ type: 'number' }),
    z.string().regex(DECIMAL_STRING, 'must be a number or a decimal string such as "10.5"'),
  ])
  .transform((value, ctx) => {
    const parsed = Decimal.parse(value instanceof JsonNumber ? value.source : value);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: PARSE_ERRORS[parsed] });
      return z.NEVER;
    }
    return parsed.toString();
  });

const thresholds = z
  .array(z.strictObject({ value: thresholdValue }))
  .max(ALERT_THRESHOLDS_MAX)
  .transform((list) => list.map((threshold) => threshold.value));

export const alertCreateRequest = z
  .strictObject({
    currency: z.string().min(1).max(CURRENCY_LENGTH_MAX),
    type: z.enum(ALERT_TYPES),
    thresholds: thresholds
      .nullable()
      .optional()
      .transform((values) => values ?? []),
  })
  .superRefine((body, ctx) => {
    const problem = alertThresholdsProblem(body.type, body.thresholds);
    if (problem) ctx.addIssue({ code: 'custom', path: ['thresholds'], message: problem });
  });
export type AlertCreateRequest = z.infer<typeof alertCreateRequest>;

const onlyNull = z
  .null()
  .optional()
  .meta({ description: 'Cost alerts only: null or left out here.' });

export const alertUpdateRequest = z.strictObject({
  thresholds,
  price_filters: onlyNull,
  threshold_overrides: onlyNull,
});
export type AlertUpdateRequest = z.infer<typeof alertUpdateRequest>;

const empty = (value: unknown) => (value === '' ? undefined : value);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(empty, schema.optional());

export const alertsQuery = z.object({
  limit: limitQuery(100),
  cursor: optional(z.string()),
  customer_id: optional(z.string().min(1)),
  external_customer_id: optional(z.string().min(1)),
  subscription_id: optional(z.string()),
  'created_at[gt]': optional(dateTime),
  'created_at[gte]': optional(dateTime),
  'created_at[lt]': optional(dateTime),
  'created_at[lte]': optional(dateTime),
});
export type AlertsQuery = z.infer<typeof alertsQuery>;

/** The query Orb's SDK sends with enable and disable: a subscription only for plan alerts. */
export const alertToggleQuery = z.object({ subscription_id: optional(z.string()) });
export type AlertToggleQuery = z.infer<typeof alertToggleQuery>;
