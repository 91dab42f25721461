/**
 * The body of `POST .../credits/ledger_entry`: exactly Orb's five variants
 * (AddCreditLedgerEntryRequestParams), unknown keys rejected. The output is the stored payload
 * the worker parses again (worker/jobs/ledgerRequestPayload.ts).
 */
import { z } from 'zod';
import {
  dateOrDateTime,
  decimalString,
  jsonInteger,
  metadataInput,
  nullableString,
  positiveAmount,
} from './primitives.ts';

const common = {
  metadata: metadataInput,
  currency: nullableString,
  description: nullableString,
};

const blockFilter = z.strictObject({
  field: z.literal('item_id'),
  operator: z.enum(['includes', 'excludes']),
  values: z
    .array(z.string())
    .refine((values) => new Set(values).size === values.length, 'values must be unique'),
});

const invoiceSettings = z.strictObject({
  auto_collection: z.boolean(),
  net_terms: jsonInteger.nullable().optional(),
  memo: z.string().nullable().optional(),
  require_successful_payment: z.boolean().optional(),
  invoice_date: dateOrDateTime.nullable().optional(),
  custom_due_date: dateOrDateTime.nullable().optional(),
  item_id: z.string().nullable().optional(),
  mark_as_paid: z.boolean().optional(),
});

export const incrementRequest = z.strictObject({
  entry_type: z.literal('increment'),
  amount: positiveAmount,
  ...common,
  expiry_date: dateOrDateTime
    .nullable()
    .optional()
    .transform((value) => value ?? null),
  effective_date: dateOrDateTime
    .nullable()
    .optional()
    .transform((value) => value ?? null),
  per_unit_cost_basis: decimalString
    .nullable()
    .optional()
    .transform((value) => value ?? null),
  invoice_settings: invoiceSettings.nullable().optional(),
  filters: z
    .array(blockFilter)
    .nullable()
    .optional()
    .transform((value) => value ?? []),
});

export const decrementRequest = z.strictObject({
  entry_type: z.literal('decrement'),
  amount: positiveAmount,
  ...common,
});

export const expirationChangeRequest = z.strictObject({
  entry_type: z.literal('expiration_change'),
  amount: positiveAmount.nullable().optional(),
  ...common,
  expiry_date: dateOrDateTime.nullable().optional(),
  block_id: z.string().nullable().optional(),
  target_expiry_date: dateOrDateTime,
});

export const voidRequest = z.strictObject({
  entry_type: z.literal('void'),
  amount: positiveAmount,
  ...common,
  block_id: z.string(),
  void_reason: z.enum(['refund']).nullable().optional(),
});

export const amendmentRequest = z.strictObject({
  entry_type: z.literal('amendment'),
  amount: positiveAmount,
  ...common,
  block_id: z.string(),
});

export const ledgerEntryRequest = z.discriminatedUnion('entry_type', [
  incrementRequest,
  decrementRequest,
  expirationChangeRequest,
  voidRequest,
  amendmentRequest,
]);
export type LedgerEntryRequest = z.infer<typeof ledgerEntryRequest>;
