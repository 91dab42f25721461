/**
 * increment (LEDGER_RULES.md §4): one new block and one committed entry of `+amount`. When the
 * new block is active and effective now, it first raises the ledger's negative blocks toward zero,
 * oldest first, in creation order (seed 001: "Orb will always first increment any negative balance in existing
 * blocks"); the new block keeps the rest. With invoice_settings it also makes the block's invoice
 * (domain/invoiceFor.ts), and a block that must wait for payment starts `pending_payment`.
 */
import { Decimal } from './decimal.ts';
import { compareCreation } from './drawdown.ts';
import type { LedgerDraft } from './ledgerDraft.ts';
import { blockStatusFor, invoiceFor, invoiceSettingsProblem } from './invoiceFor.ts';
import { ledgerError, type LedgerError } from './ledgerError.ts';
import type { DecisionContext, IncrementCommand } from './types.ts';

export function decideIncrement(
  command: IncrementCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  const effectiveAt = command.effectiveAt ?? context.now;
  const settings = command.invoice ?? null;
  // A request accepted before invoices existed was promised its cost basis with no invoice.
  const problem = command.acceptedBeforeInvoices
    ? undefined
    : invoiceSettingsProblem(
        command.perUnitCostBasis,
        settings && {
          netTermsDays: settings.netTermsDays,
          hasCustomDueDate: settings.customDueAt !== null,
        },
      );
  if (problem) return ledgerError('request_validation', problem);
  const status = blockStatusFor(settings);
  // Credit that is expired on arrival would be written off at once (choice: refuse it instead).
  if (
    command.expiresAt !== null &&
    command.expiresAt.getTime() <= Math.max(context.now.getTime(), effectiveAt.getTime())
  ) {
    return ledgerError(
      'request_validation',
      `expiry_date ${command.expiresAt.toISOString()} must be after now and after effective_date.`,
    );
  }
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
  if (settings) {
    const invoice = invoiceFor(settings, block, command.amount, context);
    if ('kind' in invoice) return invoice;
    draft.addInvoice(invoice);
  }
  return undefined;
}
