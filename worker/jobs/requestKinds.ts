/**
 * The catalog of request kinds (ARCHITECTURE.md, "The path of a write"): every write accepted on a
 * customer's partition is a request of one of these kinds, recorded in `requests` with its payload
 * and applied by the one processor shell (worker/processors/applyRequests.ts). A kind contributes
 * its payload schema here and its parse-and-decide in worker/processors/kinds/.
 *
 * Payloads are `unknown` when read back and parsed again: a request may have been stored by older
 * code (test/fixtures/queuedPayloads/).
 */
import { z } from 'zod';
import { ALERT_TYPES, type AlertType } from '../../domain/alerts.ts';
import { Decimal } from '../../domain/decimal.ts';
import { ledgerRequestPayload } from './ledgerRequestPayload.ts';

export const REQUEST_KINDS = [
  'ledger_entry',
  'balance_transaction',
  'invoice_change',
  'event_deprecation',
  'top_up_create',
  'top_up_delete',
  'alert_change',
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/**
 * Creates with no customer to queue behind: recorded as requests too, but applied at once by the
 * api in the transaction that records them, outside the partitions (api/intake/idempotency.ts).
 */
export const IMMEDIATE_KINDS = [
  'customer_create',
  'usage_price_create',
  'webhook_endpoint_create',
] as const;
export type ImmediateKind = (typeof IMMEDIATE_KINDS)[number];

const decimalText = z
  .string()
  .refine((text) => typeof Decimal.parse(text) !== 'string', 'a decimal');

/** A customer balance request (Orb's `POST /customers/{id}/balance_transactions`). */
export const balanceRequestPayload = z.object({
  type: z.enum(['increment', 'decrement']),
  amount: decimalText,
  description: z.string().nullable(),
});
export type BalanceRequestPayload = z.infer<typeof balanceRequestPayload>;

/** Orb's `POST /invoices/{id}/mark_paid` or `/void`, for an invoice of this customer. */
export const invoiceChangePayload = z.object({
  invoice_id: z.string().min(1),
  action: z.discriminatedUnion('type', [
    z.object({
      type: z.literal('mark_paid'),
      payment_received_date: z.iso.date(),
      external_id: z.string().nullable(),
      notes: z.string().nullable(),
    }),
    z.object({ type: z.literal('void') }),
  ]),
});
export type InvoiceChangePayload = z.infer<typeof invoiceChangePayload>;

/** Orb's `PUT /events/{id}/deprecate`, for an event of this customer. */
export const eventDeprecationPayload = z.object({ event_id: z.string().min(1) });
export type EventDeprecationPayload = z.infer<typeof eventDeprecationPayload>;

/**
 * Orb's `POST .../credits/top_ups`, checked by the api (the customer's invoicing currency, an exact
 * invoice total, `active_from` no more than 10 days back): the top-up row to write, its id chosen
 * at acceptance so that the answer can be given again from the request alone.
 */
export const topUpCreatePayload = z.object({
  top_up_id: z.string().min(1),
  currency: z.string().min(1),
  amount: decimalText,
  threshold: decimalText,
  per_unit_cost_basis: decimalText,
  invoice_currency: z.string().regex(/^[A-Z]{3}$/),
  auto_collection: z.boolean(),
  net_terms: z.number().int().nonnegative(),
  memo: z.string().nullable(),
  require_successful_payment: z.boolean(),
  expires_after: z.number().int().positive().nullable(),
  expires_after_unit: z.enum(['day', 'month']).nullable(),
  active_from: z.iso.datetime({ offset: true }).nullable(),
});
export type TopUpCreatePayload = z.infer<typeof topUpCreatePayload>;

/** Orb's `DELETE .../credits/top_ups/{id}`. */
export const topUpDeletePayload = z.object({ top_up_id: z.string().min(1) });

const alertId = z.string().min(1);
/** Threshold values as canonical decimal text (the api parsed them exactly). */
const alertThresholdValues = z.array(decimalText);

/**
 * Orb's customer credit-balance alert writes (`/v1/alerts...`), on the customer's partition so
 * that an alert's state is set in order with the ledger writes around it. A create's id is chosen
 * at acceptance, so that a replay answers the same alert. `thresholds` of a create are what was
 * sent (checked by the api against its type); an update's are checked against the alert's type
 * by the worker, which alone knows it for certain.
 */
export const alertChangePayload = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('create'),
    alert_id: alertId,
    currency: z.string().min(1),
    type: z.enum(ALERT_TYPES),
    thresholds: alertThresholdValues,
  }),
  z.object({
    action: z.literal('update_thresholds'),
    alert_id: alertId,
    thresholds: alertThresholdValues,
  }),
  z.object({ action: z.literal('enable'), alert_id: alertId }),
  z.object({ action: z.literal('disable'), alert_id: alertId }),
  z.object({ action: z.literal('delete'), alert_id: alertId }),
]);
export type AlertChangePayload = z.infer<typeof alertChangePayload>;

/**
 * What is wrong with these thresholds for an alert of `type`, or null: a dropped alert needs at
 * least one; depleted and recovered watch the one threshold 0, so they take none, or only 0
 * (refused rather than ignored, so that nobody believes a depleted alert watches 10).
 */
export function alertThresholdsProblem(type: AlertType, values: readonly string[]): string | null {
  if (type === 'credit_balance_dropped')
    return values.length === 0
      ? 'a credit_balance_dropped alert needs at least one threshold'
      : null;
  return values.every((value) => Decimal.of(value).isZero())
    ? null
    : `a ${type} alert watches the balance against 0 only: leave thresholds out, or use a credit_balance_dropped alert for other thresholds`;
}

export const requestPayloads = {
  ledger_entry: ledgerRequestPayload,
  balance_transaction: balanceRequestPayload,
  invoice_change: invoiceChangePayload,
  event_deprecation: eventDeprecationPayload,
  top_up_create: topUpCreatePayload,
  top_up_delete: topUpDeletePayload,
  alert_change: alertChangePayload,
} as const satisfies Record<RequestKind, z.ZodType>;

export type RequestPayload<K extends RequestKind> = z.infer<(typeof requestPayloads)[K]>;
