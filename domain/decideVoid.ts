/**
 * void (LEDGER_RULES.md §4): takes credit out of a block for good, as two committed entries:
 * `void_initiated` (a transfer: `+A`, balances unchanged, `new_block_expiry_date` = now), then
 * `void` (`-A`); both carry `void_amount` and `void_reason`. The `void` entry answers the request.
 * Only credit still in the block can be voided (choice: Orb allows up to the initial balance;
 * voiding consumed credit is refused with a 400 that says so). Returns a refusal, or undefined.
 * A `pending_payment` block is voided whole or not at all, and voiding it voids its unpaid invoice
 * (LEDGER_RULES.md §4; choice: a partial void would leave an invoice for credit that is gone).
 */
import { findBlock, refuseExpiredOrVoided } from './findBlock.ts';
import type { LedgerDraft } from './ledgerDraft.ts';
import { ledgerError, type LedgerError } from './ledgerError.ts';
import type { DecisionContext, VoidCommand } from './types.ts';

export function decideVoid(
  command: VoidCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  const found = findBlock(draft, command.blockId, command.currency);
  if (!found.ok) return found.error;
  const block = found.value;
  const unusable = refuseExpiredOrVoided(block, context.now, 'void');
  if (unusable) return unusable;
  const amount = command.amount;
  if (amount.compare(block.balance) > 0) {
    return ledgerError(
      'request_validation',
      `cannot void ${amount.toString()}: block ${block.id} has ${block.balance.toString()} left; credit already consumed cannot be voided.`,
    );
  }
  const remaining = block.balance.minus(amount);
  if (block.status === 'pending_payment') {
    if (!remaining.isZero()) {
      return ledgerError(
        'request_validation',
        `block ${block.id} awaits payment of its invoice: void its whole balance (${block.balance.toString()}) or void the invoice; a partial void would leave the invoice charging for voided credit.`,
      );
    }
    draft.changeInvoice({ blockId: block.id, status: 'void', at: context.now, payment: null });
  }
  // Choice: the block counts as voided (voidedAt = now) only once nothing is left in it. A partial
  // void leaves the block active, still drawable and still eligible as the overdraft block.
  draft.updateBlock(block, {
    balance: remaining,
    voidedAt: remaining.isZero() ? context.now : block.voidedAt,
  });
  const shared = {
    block,
    voidAmount: amount,
    voidReason: command.voidReason,
    description: command.description,
    metadata: command.metadata,
  };
  draft.appendEntry({
    ...shared,
    entryType: 'void_initiated',
    amount,
    transfer: true,
    newBlockExpiryDate: context.now,
  });
  draft.appendEntry({ ...shared, entryType: 'void', amount: amount.negated() });
  return undefined;
}
