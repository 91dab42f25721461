/**
 * The body of `POST /v1/invoices/{id}/mark_paid` (Orb's MarkAsPaidRequestParams): the date the
 * payment was received (YYYY-MM-DD, read in the customer's timezone) and optional external id and
 * notes. Unknown keys are refused, as Orb's schema does (`additionalProperties: false`).
 */
import { DateTime } from 'luxon';
import { z } from 'zod';

/** Free text is bounded like every input; Orb documents no limit, this one is generous. */
const PAYMENT_TEXT_LENGTH_MAX = 4000;

export const markPaidRequest = z.strictObject({
  payment_received_date: z
    .string()
    .refine(
      (text) => /^\d{4}-\d{2}-\d{2}$/.test(text) && DateTime.fromISO(text).isValid,
      'must be a date (YYYY-MM-DD)',
    ),
  external_id: z.string().max(PAYMENT_TEXT_LENGTH_MAX).nullable().optional(),
  notes: z.string().max(PAYMENT_TEXT_LENGTH_MAX).nullable().optional(),
});
export type MarkPaidRequest = z.infer<typeof markPaidRequest>;
