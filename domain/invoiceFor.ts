/**
 * The invoice an increment makes (LEDGER_RULES.md §4, §7; seed 001 "Invoicing for credits"):
 * quantity = the credits added, unit price = `per_unit_cost_basis`, total = their product, exact
 * (a product that needs more than 12 fractional digits is refused, never rounded). The invoice is
 * dated at `invoice_date` or else the block's effective date and due `net_terms` calendar days
 * later in the customer's timezone, or at `custom_due_date`. `mark_as_paid` issues it paid; with
 * `require_successful_payment` and unpaid, the block waits in `pending_payment`.
 *
 * INVOICE_SETTINGS_CHECKS is the one statement of which combinations are valid: the api asks it at
 * intake through `invoiceSettingsProblem` (to answer 400 before anything is queued) and
 * decideIncrement runs it again, with the checks that need the dates and the amount.
 */
import { DateTime } from 'luxon';
import { Decimal, FRACTION_DIGITS, INTEGER_DIGITS_MAX } from './decimal.ts';
import { firstRefusal, type Check } from './firstRefusal.ts';
import type { Block, BlockStatus, DecisionContext, Invoice, InvoiceSettings } from './types.ts';

/** Net terms beyond ten years are a typo, not terms. */
export const NET_TERMS_DAYS_MAX = 3650;
const SCALE = 10n ** BigInt(FRACTION_DIGITS);
const LIMIT_UNITS = 10n ** BigInt(INTEGER_DIGITS_MAX + FRACTION_DIGITS);

/** What the rules look at, in the shape both the request and the command can give. */
export interface InvoiceSettingsShape {
  netTermsDays: number | null;
  hasCustomDueDate: boolean;
}

export interface InvoiceSettingsInput {
  perUnitCostBasis: string | null;
  settings: InvoiceSettingsShape | null;
}

/** The cost basis as a decimal; null when absent, undefined when it is not a decimal. */
function costOf(perUnitCostBasis: string | null): Decimal | null | undefined {
  if (perUnitCostBasis === null) return null;
  const cost = Decimal.parse(perUnitCostBasis);
  return typeof cost === 'string' ? undefined : cost;
}

const COST_BASIS_REQUIRED =
  'invoice_settings requires per_unit_cost_basis: the invoice total is amount × per_unit_cost_basis.';

/** Which combinations of cost basis and invoice settings are valid, in precedence order. */
export const INVOICE_SETTINGS_CHECKS: readonly Check<InvoiceSettingsInput>[] = [
  {
    code: 'cost_basis_invalid',
    broken: ({ perUnitCostBasis }) =>
      costOf(perUnitCostBasis) === undefined
        ? `per_unit_cost_basis ${perUnitCostBasis} is not a decimal.`
        : undefined,
  },
  {
    code: 'invoice_settings_required',
    broken: ({ perUnitCostBasis, settings }) =>
      settings === null && costOf(perUnitCostBasis)?.isPositive() === true
        ? `per_unit_cost_basis ${perUnitCostBasis} charges for the credits, so invoice_settings is required; ` +
          'pass invoice_settings to invoice them, or omit per_unit_cost_basis (or send "0") to add credits without an invoice.'
        : undefined,
  },
  {
    code: 'cost_basis_required',
    broken: ({ perUnitCostBasis, settings }) =>
      settings !== null && perUnitCostBasis === null ? COST_BASIS_REQUIRED : undefined,
  },
  {
    code: 'due_date_ambiguous',
    broken: ({ settings }) =>
      settings !== null && settings.netTermsDays !== null && settings.hasCustomDueDate
        ? 'invoice_settings takes net_terms or custom_due_date, not both.'
        : undefined,
  },
  {
    code: 'due_date_missing',
    broken: ({ settings }) =>
      settings !== null && settings.netTermsDays === null && !settings.hasCustomDueDate
        ? 'invoice_settings needs net_terms or custom_due_date to set the due date (net_terms 0: due on the invoice date).'
        : undefined,
  },
  {
    code: 'net_terms_out_of_range',
    broken: ({ settings }) =>
      settings?.netTermsDays != null &&
      (settings.netTermsDays < 0 || settings.netTermsDays > NET_TERMS_DAYS_MAX)
        ? `invoice_settings.net_terms must be a whole number of days from 0 to ${NET_TERMS_DAYS_MAX}, not ${settings.netTermsDays}.`
        : undefined,
  },
];

/** Why this cost basis and these settings do not go together, or undefined when they do. */
export function invoiceSettingsProblem(
  perUnitCostBasis: string | null,
  settings: InvoiceSettingsShape | null,
): string | undefined {
  return firstRefusal(INVOICE_SETTINGS_CHECKS, { perUnitCostBasis, settings })?.detail;
}

/** The invoice date (`invoice_date`, else the block's effective date) and the due date. */
export function invoiceDates(
  settings: InvoiceSettings,
  effectiveAt: Date,
): { invoiceAt: Date; dueAt: Date } {
  const invoiceAt = settings.invoiceAt ?? effectiveAt;
  const dueAt =
    settings.customDueAt ??
    DateTime.fromJSDate(invoiceAt, { zone: settings.timezone })
      .plus({ days: settings.netTermsDays ?? 0 })
      .toJSDate();
  return { invoiceAt, dueAt };
}

/** invoice_due_before_invoice_date: a custom due date before the invoice date. */
export function invoiceDueBeforeInvoiceDate(
  settings: InvoiceSettings,
  effectiveAt: Date,
): string | undefined {
  const { invoiceAt, dueAt } = invoiceDates(settings, effectiveAt);
  return dueAt.getTime() < invoiceAt.getTime()
    ? `invoice_settings.custom_due_date ${dueAt.toISOString()} is before the invoice date ${invoiceAt.toISOString()}.`
    : undefined;
}

/** invoice_total_inexact: amount × cost basis needs more than 12 fractional digits. */
export function invoiceTotalInexact(amount: Decimal, perUnitCostBasis: string): string | undefined {
  const unitPrice = Decimal.of(perUnitCostBasis);
  return (amount.units * unitPrice.units) % SCALE !== 0n
    ? `the invoice total ${amount.toString()} × ${unitPrice.toString()} needs more than ${FRACTION_DIGITS} decimal places; ` +
        'use an amount or per_unit_cost_basis with fewer, so that the total is exact.'
    : undefined;
}

/** invoice_total_out_of_range: an exact amount × cost basis past what numeric(38,12) holds. */
export function invoiceTotalOutOfRange(
  amount: Decimal,
  perUnitCostBasis: string,
): string | undefined {
  const unitPrice = Decimal.of(perUnitCostBasis);
  const units = (amount.units * unitPrice.units) / SCALE;
  return units >= LIMIT_UNITS || units <= -LIMIT_UNITS
    ? `the invoice total ${amount.toString()} × ${unitPrice.toString()} has more than ${INTEGER_DIGITS_MAX} integer digits.`
    : undefined;
}

/** A block waits for payment only when asked to and not already paid. */
export function blockStatusFor(settings: InvoiceSettings | null | undefined): BlockStatus {
  return settings?.requireSuccessfulPayment === true && !settings.markAsPaid
    ? 'pending_payment'
    : 'active';
}

/** a × b when it fits 12 fractional digits; undefined when it would have to be rounded. */
export function exactProduct(a: Decimal, b: Decimal): Decimal | undefined {
  const units = a.units * b.units;
  if (units % SCALE !== 0n) return undefined;
  return Decimal.fromUnits(units / SCALE);
}

/**
 * The invoice for `block`, just made by an increment of `amount` with these settings. The
 * increment's checks (cost_basis_required, invoice_due_before_invoice_date, invoice_total_inexact)
 * ran before the block was made, so a failure here is a broken invariant, not a refusal.
 */
export function invoiceFor(
  settings: InvoiceSettings,
  block: Block,
  amount: Decimal,
  context: DecisionContext,
): Invoice {
  if (block.perUnitCostBasis === null) throw new Error(`block ${block.id}: ${COST_BASIS_REQUIRED}`);
  const unitPrice = Decimal.of(block.perUnitCostBasis);
  const total = exactProduct(amount, unitPrice);
  if (total === undefined)
    throw new Error(
      `block ${block.id}: the invoice total ${amount.toString()} × ${unitPrice.toString()} is not exact`,
    );
  const { invoiceAt, dueAt } = invoiceDates(settings, block.effectiveAt);
  return {
    id: context.newId(),
    blockId: block.id,
    currency: settings.currency,
    status: settings.markAsPaid ? 'paid' : 'issued',
    quantity: amount,
    unitPrice,
    total,
    invoiceAt,
    dueAt,
    memo: settings.memo,
    itemId: settings.itemId,
    autoCollection: settings.autoCollection,
    requireSuccessfulPayment: settings.requireSuccessfulPayment,
    issuedAt: context.now,
    paidAt: settings.markAsPaid ? context.now : null,
    createdAt: context.now,
    ...(settings.topUp === true && { topUp: true }),
  };
}
