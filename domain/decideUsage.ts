/**
 * Usage deductions (LEDGER_RULES.md §5). Each group is the credits one price used on one usage
 * day; it draws from the blocks drawable at the start of that day for the price's item, in
 * drawdown order (§3), and what they cannot cover goes onto the overdraft block (§4). There is
 * one pending decrement per (price, block, usage day): later usage of the same group grows it
 * instead of adding entries. The clock is caught up first, as for every decision.
 */
import { Decimal } from './decimal.ts';
import { drawdownOrder, findOverdraftBlock, take } from './drawdown.ts';
import { decideTopUp, type TopUpState } from './decideTopUp.ts';
import { expireDue } from './expireDue.ts';
import { LedgerDraft } from './ledgerDraft.ts';
import type { Block, DecisionContext, Ledger, LedgerChanges, NewEntry, PendingUsageEntry, UsageGroup } from './types.ts';

function overdraftBlock(draft: LedgerDraft, currency: string, context: DecisionContext): Block {
  const now = context.now;
  return (
    findOverdraftBlock(draft.allBlocks(), now) ??
    draft.addBlock({
      id: context.newId(),
      currency,
      balance: Decimal.ZERO,
      maximumInitialBalance: Decimal.ZERO,
      effectiveAt: now,
      expiresAt: null,
      perUnitCostBasis: null,
      filters: [],
      status: 'active',
      voidedAt: null,
      createdAt: now,
    })
  );
}

/** The credits of one group per block: drawable blocks first, the overdraft block for the rest. */
function sharesFor(draft: LedgerDraft, group: UsageGroup, currency: string, context: DecisionContext): Map<string, Decimal> {
  const { taken, remainder } = take(drawdownOrder(draft.allBlocks(), group.dayStartsAt, group.itemId), group.credits);
  const shares = new Map<string, Decimal>();
  for (const { block, amount } of taken) shares.set(block.id, amount);
  if (remainder.isPositive()) {
    const block = overdraftBlock(draft, currency, context);
    shares.set(block.id, (shares.get(block.id) ?? Decimal.ZERO).plus(remainder));
  }
  return shares;
}

export function decideUsage(
  ledger: Ledger,
  blocks: readonly Block[],
  pending: readonly PendingUsageEntry[],
  groups: readonly UsageGroup[],
  context: DecisionContext,
  topUp: TopUpState | null = null,
): LedgerChanges {
  const draft = new LedgerDraft(ledger, blocks, context);
  // Each group is checked for a crossing of the top-up threshold (decideTopUp.ts); a top-up made
  // here is unpaid, so it pauses the others for the rest of the batch.
  let balanceBefore = ledger.balance;
  let unpaidTopUp = topUp?.unpaid ?? false;
  expireDue(draft, context.now);
  const keyOf = (priceId: string, blockId: string, usageDay: string) => `${priceId}\u0000${blockId}\u0000${usageDay}`;
  const open = new Map<string, PendingUsageEntry | NewEntry>(pending.map((entry) => [keyOf(entry.priceId, entry.blockId, entry.usageDay), entry]));
  for (const group of groups) {
    if (!group.credits.isPositive()) continue;
    for (const [blockId, share] of sharesFor(draft, group, ledger.currency, context)) {
      const block = draft.blockById(blockId);
      draft.setBlockBalance(block, block.balance.minus(share));
      const key = keyOf(group.priceId, blockId, group.usageDay);
      const existing = open.get(key);
      if (existing) {
        draft.growEntry(existing, share.negated());
        continue;
      }
      const entry = draft.appendEntry({
        entryType: 'decrement',
        entryStatus: 'pending',
        block,
        amount: share.negated(),
        description: null,
        metadata: {},
        usage: { priceId: group.priceId, blockId, usageDay: group.usageDay, closesAt: group.closesAt },
      });
      open.set(key, entry);
    }
    if (topUp) {
      if (decideTopUp(draft, balanceBefore, topUp.config, unpaidTopUp, context).toppedUp) unpaidTopUp = true;
      balanceBefore = draft.balance;
    }
  }
  return draft.changes();
}
