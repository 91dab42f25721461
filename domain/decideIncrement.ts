/**
 * increment (LEDGER_RULES.md §4): one new block and one committed entry of `+amount`. When the
 * new block is active and effective now, it first raises the ledger's negative blocks toward zero,
 * oldest first, in creation order (seed 001: "Orb will always first increment any negative balance in existing
 * blocks"); the new block keeps the rest. With invoice_settings it also makes the block's invoice
 * (domain/invoiceFor.ts), and a block that must wait for payment starts `pending_payment`.
 * INCREMENT_CHECKS run first, in order, and the draft is touched only once they all hold.
 */
import { Decimal } from './decimal.ts';
import { compareCreation } from './drawdown.ts';
import {
  amountNotPositive,
  balanceOutOfRange,
  firstRefusal,
  unless,
  type Check,
} from './firstRefusal.ts';
import type { LedgerDraft } from './ledgerDraft.ts';
import {
  blockStatusFor,
  INVOICE_SETTINGS_CHECKS,
  invoiceDueBeforeInvoiceDate,
  invoiceFor,
  invoiceTotalInexact,
  invoiceTotalOutOfRange,
  type InvoiceSettingsInput,
} from './invoiceFor.ts';
import type { LedgerError } from './ledgerError.ts';
import type { DecisionContext, IncrementCommand } from './types.ts';

interface IncrementInput extends InvoiceSettingsInput {
  command: IncrementCommand;
  /** The block's effective date: the command's, else now. */
  effectiveAt: Date;
  now: Date;
  balance: Decimal;
}

export const INCREMENT_CHECKS: readonly Check<IncrementInput>[] = [
  { code: 'amount_not_positive', broken: ({ command }) => amountNotPositive(command.amount) },
  // A request accepted before invoices existed was promised its cost basis with no invoice.
  ...unless<IncrementInput>(
    ({ command }) => command.acceptedBeforeInvoices === true,
    INVOICE_SETTINGS_CHECKS,
  ),
  {
    // Credit that is expired on arrival would be written off at once (choice: refuse it instead).
    code: 'expiry_not_future',
    broken: ({ command: { expiresAt }, now }) =>
      expiresAt !== null && expiresAt.getTime() <= now.getTime()
        ? `expiry_date ${expiresAt.toISOString()} must be after now (${now.toISOString()}).`
        : undefined,
  },
  {
    code: 'expiry_not_after_effective',
    broken: ({ command: { expiresAt }, effectiveAt }) =>
      expiresAt !== null && expiresAt.getTime() <= effectiveAt.getTime()
        ? `expiry_date ${expiresAt.toISOString()} must be after effective_date ${effectiveAt.toISOString()}.`
        : undefined,
  },
  {
    code: 'invoice_due_before_invoice_date',
    broken: ({ command, effectiveAt }) =>
      command.invoice ? invoiceDueBeforeInvoiceDate(command.invoice, effectiveAt) : undefined,
  },
  {
    code: 'invoice_total_inexact',
    broken: ({ command }) =>
      command.invoice && command.perUnitCostBasis !== null
        ? invoiceTotalInexact(command.amount, command.perUnitCostBasis)
        : undefined,
  },
  {
    code: 'invoice_total_out_of_range',
    broken: ({ command }) =>
      command.invoice && command.perUnitCostBasis !== null
        ? invoiceTotalOutOfRange(command.amount, command.perUnitCostBasis)
        : undefined,
  },
  {
    code: 'balance_out_of_range',
    broken: ({ command, balance }) =>
      balanceOutOfRange(balance, command.amount, 'this increment would take the balance'),
  },
];

function checkInput(
  command: IncrementCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): IncrementInput {
  const settings = command.invoice ?? null;
  return {
    command,
    perUnitCostBasis: command.perUnitCostBasis,
    settings: settings && {
      netTermsDays: settings.netTermsDays,
      hasCustomDueDate: settings.customDueAt !== null,
    },
    effectiveAt: command.effectiveAt ?? context.now,
    now: context.now,
    balance: draft.balance,
  };
}

export function decideIncrement(
  command: IncrementCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  const input = checkInput(command, draft, context);
  const refusal = firstRefusal(INCREMENT_CHECKS, input);
  if (refusal) return refusal;
  const { effectiveAt } = input;
  const settings = command.invoice ?? null;
  const status = blockStatusFor(settings);
  let remaining = command.amount;
  if (status === 'active' && effectiveAt.getTime() <= context.now.getTime()) {
    const negative = draft
      .allBlocks()
      .filter((block) => block.balance.isNegative() && block.voidedAt === null)
      .sort(compareCreation);
    for (const block of negative) {
      if (!remaining.isPositive()) break;
      const repaid = Decimal.min(block.balance.negated(), remaining);
      draft.setBlockBalance(block, block.balance.plus(repaid));
      remaining = remaining.minus(repaid);
    }
  }
  const block = draft.addBlock({
    id: context.newId(),
    currency: command.currency,
    balance: remaining,
    maximumInitialBalance: command.amount,
    effectiveAt,
    expiresAt: command.expiresAt,
    perUnitCostBasis: command.perUnitCostBasis,
    filters: command.filters,
    status,
    voidedAt: null,
    createdAt: context.now,
    ...(command.source && { source: command.source }),
  });
  draft.appendEntry({
    entryType: 'increment',
    block,
    amount: command.amount,
    description: command.description,
    metadata: command.metadata,
  });
  if (settings) draft.addInvoice(invoiceFor(settings, block, command.amount, context));
  return undefined;
}
