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

/** What a decrement takes from each block, the overdraft block's share included. */
interface DecrementPlan {
  shares: Map<string, Decimal>;
  /** What a fresh overdraft block takes, when the ledger has no overdraft block. */
  fresh: Decimal | undefined;
}

function planDecrement(draft: LedgerDraft, command: DecrementCommand, now: Date): DecrementPlan {
  const { shares, overdraft } = planDeduction(draft.allBlocks(), command.amount, now, null);
  if (!overdraft.amount.isPositive()) return { shares, fresh: undefined };
  if (!overdraft.block) return { shares, fresh: overdraft.amount };
  const id = overdraft.block.id;
  shares.set(id, (shares.get(id) ?? Decimal.ZERO).plus(overdraft.amount));
  return { shares, fresh: undefined };
}

interface DecrementInput {
  command: DecrementCommand;
  draft: LedgerDraft;
  /** Made only once the amount is known to be positive. */
  plan: () => DecrementPlan;
}

export const DECREMENT_CHECKS: readonly Check<DecrementInput>[] = [
  { code: 'amount_not_positive', broken: ({ command }) => amountNotPositive(command.amount) },
  {
    // The ledger's balance, and the overdraft block's: other blocks that cannot be drawn (not
    // yet effective, awaiting payment, filtered) may hold what the overdraft block owes.
    code: 'balance_out_of_range',
    broken: ({ command, draft, plan }) =>
      balanceOutOfRange(
        draft.balance,
        command.amount.negated(),
        'this decrement would take the balance',
      ) ??
      [...plan().shares]
        .map(([id, share]) =>
          balanceOutOfRange(
            draft.blockById(id).balance,
            share.negated(),
            `this decrement would take block ${id}'s balance`,
          ),
        )
        .find((detail) => detail !== undefined),
  },
];

export function decideDecrement(
  command: DecrementCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  let planned: DecrementPlan | undefined;
  const plan = () => (planned ??= planDecrement(draft, command, context.now));
  const refusal = firstRefusal(DECREMENT_CHECKS, { command, draft, plan });
  if (refusal) return refusal;
  const { shares, fresh } = plan();
  // The fresh block's id is taken before its entries' ids, as it always was.
  const freshId = fresh === undefined ? undefined : context.newId();
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
  if (freshId !== undefined && fresh !== undefined) {
    const block = draft.addBlock(freshOverdraftBlock(freshId, command.currency, context.now));
    write(block, fresh);
  }
  return undefined;
}
