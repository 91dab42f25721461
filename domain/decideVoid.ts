/**
 * void (LEDGER_RULES.md §4): takes credit out of a block for good, as two committed entries:
 * `void_initiated` (a transfer: `+A`, balances unchanged, `new_block_expiry_date` = now), then
 * `void` (`-A`); both carry `void_amount` and `void_reason`. The `void` entry answers the request.
 * Only credit still in the block can be voided (choice: Orb allows up to the initial balance;
 * voiding consumed credit is refused with a 400 that says so). Returns a refusal, or undefined.
 * A `pending_payment` block is voided whole or not at all, and voiding it voids its unpaid invoice
 * (LEDGER_RULES.md §4; choice: a partial void would leave an invoice for credit that is gone).
 * VOID_CHECKS run first; the draft is touched only once they all hold.
 */
import type { Decimal } from './decimal.ts';
import { blockNotFound, blockStateChecks, type NamedBlockInput } from './findBlock.ts';
import {
  amountNotPositive,
  balanceOutOfRange,
  firstRefusal,
  onBlock,
  type Check,
} from './firstRefusal.ts';
import type { LedgerDraft } from './ledgerDraft.ts';
import type { LedgerError } from './ledgerError.ts';
import type { DecisionContext, VoidCommand } from './types.ts';

interface VoidInput extends NamedBlockInput {
  command: VoidCommand;
  balance: Decimal;
}

export const VOID_CHECKS: readonly Check<VoidInput>[] = [
  { code: 'amount_not_positive', broken: ({ command }) => amountNotPositive(command.amount) },
  blockNotFound(),
  ...blockStateChecks<VoidInput>('void'),
  onBlock('insufficient_credits', (block, { command: { amount } }) =>
    amount.compare(block.balance) > 0
      ? `cannot void ${amount.toString()}: block ${block.id} has ${block.balance.toString()} left; credit already consumed cannot be voided.`
      : undefined,
  ),
  onBlock('block_awaits_payment', (block, { command: { amount } }) =>
    block.status === 'pending_payment' && amount.compare(block.balance) !== 0
      ? `block ${block.id} awaits payment of its invoice: void its whole balance (${block.balance.toString()}) or void the invoice; a partial void would leave the invoice charging for voided credit.`
      : undefined,
  ),
  {
    code: 'balance_out_of_range',
    broken: ({ command, balance }) =>
      balanceOutOfRange(balance, command.amount.negated(), 'this void would take the balance'),
  },
];

export function decideVoid(
  command: VoidCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  const block = draft.findBlock(command.blockId, command.currency);
  const refusal = firstRefusal(VOID_CHECKS, {
    command,
    blockId: command.blockId,
    block,
    now: context.now,
    balance: draft.balance,
  });
  if (refusal) return refusal;
  if (!block) throw new Error(`block ${command.blockId} passed block_not_found unfound`);
  const amount = command.amount;
  const remaining = block.balance.minus(amount);
  if (block.status === 'pending_payment')
    draft.changeInvoice({ blockId: block.id, status: 'void', at: context.now, payment: null });
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
