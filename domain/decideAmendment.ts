/**
 * amendment (LEDGER_RULES.md §4): returns credit to a block that was drawn from ("undo a
 * decrement"), as one committed entry of `+amount`. The block must be neither expired nor voided,
 * and may not end up holding more than it was created with (`maximum_initial_balance`).
 * Returns a refusal, or undefined once the draft holds the entry.
 */
import { findBlock, refuseExpiredOrVoided } from './findBlock.ts';
import type { LedgerDraft } from './ledgerDraft.ts';
import { ledgerError, type LedgerError } from './ledgerError.ts';
import type { AmendmentCommand, DecisionContext } from './types.ts';

export function decideAmendment(
  command: AmendmentCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  const found = findBlock(draft, command.blockId, command.currency);
  if (!found.ok) return found.error;
  const block = found.value;
  const unusable = refuseExpiredOrVoided(block, context.now, 'amend');
  if (unusable) return unusable;
  const balance = block.balance.plus(command.amount);
  if (balance.compare(block.maximumInitialBalance) > 0) {
    return ledgerError(
      'request_validation',
      `amendment of ${command.amount.toString()} would exceed the block's initial balance: block ${block.id} has ` +
        `${block.balance.toString()} of ${block.maximumInitialBalance.toString()}.`,
    );
  }
  draft.setBlockBalance(block, balance);
  draft.appendEntry({
    entryType: 'amendment',
    block,
    amount: command.amount,
    description: command.description,
    metadata: command.metadata,
  });
  return undefined;
}
