/**
 * amendment (LEDGER_RULES.md §4): returns credit to a block that was drawn from ("undo a
 * decrement"), as one committed entry of `+amount`. The block must be neither expired nor voided,
 * and may not end up holding more than it was created with (`maximum_initial_balance`).
 * AMENDMENT_CHECKS run first; returns the refusal, or undefined once the draft holds the entry.
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
import type { AmendmentCommand, DecisionContext } from './types.ts';

interface AmendmentInput extends NamedBlockInput {
  command: AmendmentCommand;
  balance: Decimal;
}

export const AMENDMENT_CHECKS: readonly Check<AmendmentInput>[] = [
  { code: 'amount_not_positive', broken: ({ command }) => amountNotPositive(command.amount) },
  blockNotFound(),
  ...blockStateChecks<AmendmentInput>('amend'),
  // On the units: the sum may be past what a Decimal holds, and it is still too much.
  onBlock('exceeds_initial_balance', (block, { command: { amount } }) =>
    block.balance.units + amount.units > block.maximumInitialBalance.units
      ? `amendment of ${amount.toString()} would exceed the block's initial balance: block ${block.id} has ` +
        `${block.balance.toString()} of ${block.maximumInitialBalance.toString()}.`
      : undefined,
  ),
  {
    code: 'balance_out_of_range',
    broken: ({ command, balance }) =>
      balanceOutOfRange(balance, command.amount, 'this amendment would take the balance'),
  },
];

export function decideAmendment(
  command: AmendmentCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  const block = draft.findBlock(command.blockId, command.currency);
  const refusal = firstRefusal(AMENDMENT_CHECKS, {
    command,
    blockId: command.blockId,
    block,
    now: context.now,
    balance: draft.balance,
  });
  if (refusal) return refusal;
  if (!block) throw new Error(`block ${command.blockId} passed block_not_found unfound`);
  draft.setBlockBalance(block, block.balance.plus(command.amount));
  draft.appendEntry({
    entryType: 'amendment',
    block,
    amount: command.amount,
    description: command.description,
    metadata: command.metadata,
  });
  return undefined;
}
