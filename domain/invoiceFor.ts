/**
 * The invoice an increment makes (LEDGER_RULES.md §4, §7; seed 001 "Invoicing for credits"):
 * quantity = the credits added, unit price = `per_unit_cost_basis`, total = their product, exact
 * (a product that needs more than 12 fractional digits is refused, never rounded). The invoice is
 * dated at `invoice_date` or else the block's effective date and due `net_terms` calendar days
 * later in the customer's timezone, or at `custom_due_date`. `mark_as_paid` issues it paid; with
 * `require_successful_payment` and unpaid, the block waits in `pending_payment`.
 *
 * `invoiceSettingsProblem` is the one statement of which combinations are valid; the api asks it
 * at intake (to answer 400 before anything is queued) and decideIncrement asks it again.
 */
import { DateTime } from 'luxon';
import { Decimal, FRACTION_DIGITS } from './decimal.ts';
import { ledgerError, type LedgerError } from './ledgerError.ts';
import type { Block, BlockStatus, DecisionContext, Invoice, InvoiceSettings } from './types.ts';

/** Net terms beyond ten years are a typo, not terms. */
export const NET_TERMS_DAYS_MAX = 3650;
const SCALE = 10n ** BigInt(FRACTION_DIGITS);

/** What the rules look at, in the shape both the request and the command can give. */
export interface InvoiceSettingsShape {
  netTermsDays: number | null;
  hasCustomDueDate: boolean;
}

/** Why this cost basis and these settings do not go together, or undefined when they do. */
export function invoiceSettingsProblem(
  perUnitCostBasis: string | null,
  settings: InvoiceSettingsShape | null,
): string | undefined {
  const cost = perUnitCostBasis === null ? null : Decimal.parse(perUnitCostBasis);
  if (typeof cost === 'string') return `per_unit_cost_basis ${perUnitCostBasis} is not a decimal.`;
  if (settings === null) {
    if (cost === null || !cost.isPositive()) return undefined;
    return (
      `per_unit_cost_basis ${perUnitCostBasis} charges for the credits, so invoice_settings is required; ` +
      'pass invoice_settings to invoice them, or omit per_unit_cost_basis (or send "0") to add credits without an invoice.'
    );
  }
  if (cost === null)
    return 'invoice_settings requires per_unit_cost_basis: the invoice total is amount × per_unit_cost_basis.';
  if (settings.netTermsDays !== null && settings.hasCustomDueDate) {
    return 'invoice_settings takes net_terms or custom_due_date, not both.';
  }
  if (settings.netTermsDays === null && !settings.hasCustomDueDate) {
    return 'invoice_settings needs net_terms or custom_due_date to set the due date (net_terms 0: due on the invoice date).';
  }
  if (
    settings.netTermsDays !== null &&
    (settings.netTermsDays < 0 || settings.netTermsDays > NET_TERMS_DAYS_MAX)
  ) {
    return `invoice_settings.net_terms must be a whole number of days from 0 to ${NET_TERMS_DAYS_MAX}, not ${settings.netTermsDays}.`;
  }
  return undefined;
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

/** The invoice for `block`, just made by an increment of `amount` with these settings. */
export function invoiceFor(
  settings: InvoiceSettings,
  block: Block,
  amount: Decimal,
  context: DecisionContext,
): Invoice | LedgerError {
  if (block.perUnitCostBasis === null) {
    return ledgerError(
      'request_validation',
      'invoice_settings requires per_unit_cost_basis: the invoice total is amount × per_unit_cost_basis.',
    );
  }
  const unitPrice = Decimal.of(block.perUnitCostBasis);
  const total = exactProduct(amount, unitPrice);
  if (total === undefined) {
    return ledgerError(
      'request_validation',
      `the invoice total ${amount.toString()} × ${unitPrice.toString()} needs more than ${FRACTION_DIGITS} decimal places; ` +
        'use an amount or per_unit_cost_basis with fewer, so that the total is exact.',
    );
  }
  const invoiceAt = settings.invoiceAt ?? block.effectiveAt;
  const dueAt =
    settings.customDueAt ??
    DateTime.fromJSDate(invoiceAt, { zone: settings.timezone })
      .plus({ days: settings.netTermsDays ?? 0 })
      .toJSDate();
  if (dueAt.getTime() < invoiceAt.getTime()) {
    return ledgerError(
      'request_validation',
      `invoice_settings.custom_due_date ${dueAt.toISOString()} is before the invoice date ${invoiceAt.toISOString()}.`,
    );
  }
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
