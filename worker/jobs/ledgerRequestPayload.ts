/**
 * A ledger request as stored in `ledger_requests.payload` and parsed again by the worker: the
 * validated Orb body in a JSON-safe form (amounts as decimal text, dates as given). `toCommand`
 * turns it into the domain's command, resolving dates in the customer's timezone. An increment's
 * invoice_settings carry the customer's invoicing `currency` as it was when the request was
 * accepted (the worker does not load the customer's currency).
 *
 * Requests still queued across an upgrade were written by older versions: the schema accepts every
 * shape a released version stored (test/fixtures/queuedPayloads/ledgerRequests.json, applied by
 * test/integration/worker/queuedPayloads.test.ts). Amounts have always been decimal text; a JSON
 * number here would be a float, so it is refused rather than rounded.
 */
import { z } from 'zod';
import { Decimal } from '../../domain/decimal.ts';
import { resolveInstant } from '../../domain/instant.ts';
import { ledgerError, type LedgerError } from '../../domain/ledgerError.ts';
import type { InvoiceSettings, LedgerCommand } from '../../domain/types.ts';

export const DEFAULT_CURRENCY = 'credits';

const decimalText = z
  .string()
  .refine((text) => typeof Decimal.parse(text) !== 'string', 'a decimal');
const metadata = z.record(z.string(), z.string());
const filter = z.object({
  field: z.literal('item_id'),
  operator: z.enum(['includes', 'excludes']),
  values: z.array(z.string()),
});

/** Orb's IncrementCreditLedgerEntryInvoiceSettings with every key present, plus the invoice currency. */
const invoiceSettings = z.object({
  currency: z.string(),
  auto_collection: z.boolean(),
  net_terms: z.number().int().nullable(),
  custom_due_date: z.string().nullable(),
  invoice_date: z.string().nullable(),
  memo: z.string().nullable(),
  item_id: z.string().nullable(),
  mark_as_paid: z.boolean(),
  require_successful_payment: z.boolean(),
});

const common = {
  amount: decimalText,
  currency: z.string().nullable(),
  description: z.string().nullable(),
  metadata,
};

export const ledgerRequestPayload = z.discriminatedUnion('entry_type', [
  z.object({
    entry_type: z.literal('increment'),
    ...common,
    expiry_date: z.string().nullable(),
    effective_date: z.string().nullable(),
    per_unit_cost_basis: z.string().nullable(),
    filters: z.array(filter),
    // Absent from payloads stored before invoices existed.
    invoice_settings: invoiceSettings.nullable().optional(),
  }),
  z.object({ entry_type: z.literal('decrement'), ...common }),
  z.object({
    entry_type: z.literal('expiration_change'),
    ...common,
    amount: decimalText.nullable(),
    expiry_date: z.string().nullable(),
    block_id: z.string().nullable(),
    target_expiry_date: z.string(),
  }),
  z.object({
    entry_type: z.literal('void'),
    ...common,
    block_id: z.string(),
    void_reason: z.literal('refund').nullable(),
  }),
  z.object({ entry_type: z.literal('amendment'), ...common, block_id: z.string() }),
]);
export type LedgerRequestPayload = z.infer<typeof ledgerRequestPayload>;

function instantOrError(name: string, text: string, timezone: string): Date | LedgerError {
  return (
    resolveInstant(text, timezone) ??
    ledgerError('date_invalid', `${name} ${text} is not a valid date`)
  );
}

const isError = (value: unknown): value is LedgerError =>
  typeof value === 'object' && value !== null && 'kind' in value;

type IncrementPayload = Extract<LedgerRequestPayload, { entry_type: 'increment' }>;

function toInvoiceSettings(
  settings: NonNullable<IncrementPayload['invoice_settings']>,
  timezone: string,
): InvoiceSettings | LedgerError {
  const invoiceAt =
    settings.invoice_date === null
      ? null
      : instantOrError('invoice_settings.invoice_date', settings.invoice_date, timezone);
  const customDueAt =
    settings.custom_due_date === null
      ? null
      : instantOrError('invoice_settings.custom_due_date', settings.custom_due_date, timezone);
  if (isError(invoiceAt)) return invoiceAt;
  if (isError(customDueAt)) return customDueAt;
  return {
    currency: settings.currency,
    timezone,
    autoCollection: settings.auto_collection,
    netTermsDays: settings.net_terms,
    customDueAt,
    invoiceAt,
    memo: settings.memo,
    itemId: settings.item_id,
    markAsPaid: settings.mark_as_paid,
    requireSuccessfulPayment: settings.require_successful_payment,
  };
}

function toIncrement(
  payload: IncrementPayload,
  currency: string,
  timezone: string,
): LedgerCommand | LedgerError {
  const expiresAt =
    payload.expiry_date === null
      ? null
      : instantOrError('expiry_date', payload.expiry_date, timezone);
  const effectiveAt =
    payload.effective_date === null
      ? null
      : instantOrError('effective_date', payload.effective_date, timezone);
  if (isError(expiresAt)) return expiresAt;
  if (isError(effectiveAt)) return effectiveAt;
  if (expiresAt && effectiveAt && expiresAt.getTime() <= effectiveAt.getTime()) {
    return ledgerError('expiry_not_after_effective', 'expiry_date must be after effective_date');
  }
  const invoice = payload.invoice_settings
    ? toInvoiceSettings(payload.invoice_settings, timezone)
    : null;
  if (isError(invoice)) return invoice;
  return {
    type: 'increment',
    currency,
    amount: Decimal.of(payload.amount),
    expiresAt,
    effectiveAt,
    perUnitCostBasis: payload.per_unit_cost_basis,
    filters: payload.filters,
    description: payload.description,
    metadata: payload.metadata,
    invoice,
    // Versions before invoices (f104fdc, 4cd6596) wrote no invoice_settings key; every later one
    // writes it (null for none). Their increments keep the promise they were accepted with.
    ...(payload.invoice_settings === undefined && { acceptedBeforeInvoices: true as const }),
  };
}

function toExpirationChange(
  payload: Extract<LedgerRequestPayload, { entry_type: 'expiration_change' }>,
  currency: string,
  timezone: string,
): LedgerCommand | LedgerError {
  const targetExpiresAt = instantOrError(
    'target_expiry_date',
    payload.target_expiry_date,
    timezone,
  );
  const sourceExpiresAt =
    payload.expiry_date === null
      ? null
      : instantOrError('expiry_date', payload.expiry_date, timezone);
  if (isError(targetExpiresAt)) return targetExpiresAt;
  if (isError(sourceExpiresAt)) return sourceExpiresAt;
  if (payload.block_id === null && sourceExpiresAt === null) {
    return ledgerError(
      'source_block_unnamed',
      'expiration_change needs block_id or expiry_date to name the source block',
    );
  }
  return {
    type: 'expiration_change',
    currency,
    amount: payload.amount === null ? null : Decimal.of(payload.amount),
    blockId: payload.block_id,
    sourceExpiresAt,
    targetExpiresAt,
    description: payload.description,
    metadata: payload.metadata,
  };
}

/** The domain command for a stored request; dates resolve in the customer's timezone. */
export function toCommand(
  payload: LedgerRequestPayload,
  timezone: string,
): LedgerCommand | LedgerError {
  const currency = payload.currency ?? DEFAULT_CURRENCY;
  const { description, metadata } = payload;
  switch (payload.entry_type) {
    case 'increment':
      return toIncrement(payload, currency, timezone);
    case 'decrement':
      return {
        type: 'decrement',
        currency,
        amount: Decimal.of(payload.amount),
        description,
        metadata,
      };
    case 'expiration_change':
      return toExpirationChange(payload, currency, timezone);
    case 'void':
      return {
        type: 'void',
        currency,
        blockId: payload.block_id,
        amount: Decimal.of(payload.amount),
        voidReason: payload.void_reason,
        description,
        metadata,
      };
    case 'amendment':
      return {
        type: 'amendment',
        currency,
        blockId: payload.block_id,
        amount: Decimal.of(payload.amount),
        description,
        metadata,
      };
    default: {
      const unreachable: never = payload;
      throw new Error(`unknown entry type ${JSON.stringify(unreachable)}`);
    }
  }
}
