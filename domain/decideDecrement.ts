/**
 * decrement (LEDGER_RULES.md §4): takes the amount from drawable blocks in drawdown order, one
 * committed entry per block touched. What drawable credit cannot cover goes onto the overdraft
 * block, whose balance may go negative; if the ledger has none, a fresh one is made (choice).
 * DECREMENT_CHECKS run first; the draft is touched only once they all hold.
 */
import { Decimal } from './decimal.ts';
import {
  drawdownOrder,
  findOverdraftBlock,
  freshOverdraftBlock,
  take,
  type DrawItem,
} from './drawdown.ts';
import { amountNotPositive, balanceOutOfRange, firstRefusal, type Check } from './firstRefusal.ts';
import type { LedgerDraft } from './ledgerDraft.ts';
import type { LedgerError } from './ledgerError.ts';
import type { Block, DecisionContext, DecrementCommand } from './types.ts';

interface DecrementInput {
  command: DecrementCommand;
  balance: Decimal;
}

export const DECREMENT_CHECKS: readonly Check<DecrementInput>[] = [
  { code: 'amount_not_positive', broken: ({ command }) => amountNotPositive(command.amount) },
  {
    code: 'balance_out_of_range',
    broken: ({ command, balance }) =>
      balanceOutOfRange(balance, command.amount.negated(), 'this decrement would take the balance'),
  },
];

/** The amount per block, merged so that a block drawn and then overdrawn gets one entry. */
export function planDeduction(
  blocks: readonly Block[],
  amount: Decimal,
  at: Date,
  item: DrawItem,
): { shares: Map<string, Decimal>; overdraft: { block: Block | undefined; amount: Decimal } } {
  const { taken, remainder } = take(drawdownOrder(blocks, at, item), amount);
  const shares = new Map<string, Decimal>();
  for (const { block, amount: share } of taken) shares.set(block.id, share);
  return {
    shares,
    overdraft: {
      block: remainder.isPositive() ? findOverdraftBlock(blocks, at) : undefined,
      amount: remainder,
    },
  };
}

export function decideDecrement(
  command: DecrementCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  const refusal = firstRefusal(DECREMENT_CHECKS, { command, balance: draft.balance });
  if (refusal) return refusal;
  const { shares, overdraft } = planDeduction(draft.allBlocks(), command.amount, context.now, null);
  if (overdraft.amount.isPositive() && overdraft.block) {
    shares.set(
      overdraft.block.id,
      (shares.get(overdraft.block.id) ?? Decimal.ZERO).plus(overdraft.amount),
    );
  }
  // The fresh block's id is taken before its entries' ids, as it always was.
  const freshId = overdraft.amount.isPositive() && !overdraft.block ? context.newId() : undefined;
  const write = (block: Block, share: Decimal) => {
    draft.setBlockBalance(block, block.balance.minus(share));
    draft.appendEntry({
      entryType: 'decrement',
      block,
      amount: share.negated(),
      description: command.description,
      metadata: command.metadata,
    });
  };
  for (const [blockId, share] of shares) write(draft.blockById(blockId), share);
  // A fresh overdraft block is made by its own decrement, the last entry: that entry's sequence
  // number is its creation order (§3 rule 4), so it is added just before it.
  if (freshId !== undefined) {
    const block = draft.addBlock(freshOverdraftBlock(freshId, command.currency, context.now));
    write(block, overdraft.amount);
  }
  return undefined;
}
