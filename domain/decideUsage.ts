/**
 * Usage deductions (LEDGER_RULES.md §5). Charges come in the order the service accepted their
 * events, and each draws from the blocks that were drawable at its event's instant and still hold
 * credit now, for the price's item, in drawdown order (§3); what they cannot cover goes onto the
 * overdraft block (§4). There is one pending decrement per (price, block, usage day): later usage
 * of the same group grows it instead of adding entries. The clock is caught up first, as for
 * every decision. Usage is never refused: a top-up it triggers that the rules refuse is reported
 * in `topUpRefused`, and the batch applies without it.
 *
 * A batch may hold thousands of charges, so consecutive charges of one price and day whose
 * instants see the same drawable blocks are drawn as one run: taking a + b front to back from one
 * ordered list is taking a, then b. The instants where any block starts or stops being live cut
 * time into periods; each (period, item) gets its ordered block list once, from blocks sorted once.
 */
import { Decimal } from './decimal.ts';
import {
  admitsItem,
  compareDrawdown,
  findOverdraftBlock,
  freshOverdraftBlock,
  take,
} from './drawdown.ts';
import { decideTopUp, type TopUpState } from './decideTopUp.ts';
import { expireDue } from './expireDue.ts';
import { LedgerDraft } from './ledgerDraft.ts';
import type { LedgerError } from './ledgerError.ts';
import type {
  Block,
  DecisionContext,
  Ledger,
  LedgerChanges,
  NewEntry,
  PendingUsageEntry,
  UsageCharge,
} from './types.ts';

/** Live at `at` (§2 drawable but for the balance, which is read when the run draws). */
function isLiveAt(block: Block, at: number): boolean {
  return (
    block.status === 'active' &&
    block.voidedAt === null &&
    block.effectiveAt.getTime() <= at &&
    (block.expiresAt === null || block.expiresAt.getTime() > at)
  );
}

/**
 * The drawable blocks of any instant, without sorting per charge. Two instants between the same
 * two consecutive boundaries (an effective date or an expiry of some block) see the same blocks
 * live, so a period index stands for the instant. Rebuilt when the draft gains a block.
 */
class DrawableSets {
  private readonly draft: LedgerDraft;
  private blockCount = -1;
  private boundaries: number[] = [];
  private sorted: Block[] = [];
  private readonly lists = new Map<string, string[]>();

  constructor(draft: LedgerDraft) {
    this.draft = draft;
  }

  private refresh(): void {
    if (this.blockCount === this.draft.blockCount) return;
    this.blockCount = this.draft.blockCount;
    const blocks = this.draft.allBlocks();
    const instants = new Set<number>();
    for (const block of blocks) {
      instants.add(block.effectiveAt.getTime());
      if (block.expiresAt !== null) instants.add(block.expiresAt.getTime());
    }
    this.boundaries = [...instants].sort((a, b) => a - b);
    // The order depends on no balance, so one sort serves the whole batch.
    this.sorted = blocks.sort(compareDrawdown);
    this.lists.clear();
  }

  /** How many boundaries are at or before `at`. */
  period(at: Date): number {
    this.refresh();
    const time = at.getTime();
    let low = 0;
    let high = this.boundaries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.boundaries[middle]! <= time) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The blocks drawable at `at` for `item`, in drawdown order, as they stand now in the draft. */
  ordered(at: Date, item: string): Block[] {
    const key = `${this.period(at)}\u0000${item}`;
    let ids = this.lists.get(key);
    if (!ids) {
      ids = this.sorted
        .filter((block) => isLiveAt(block, at.getTime()) && admitsItem(block, item))
        .map((block) => block.id);
      this.lists.set(key, ids);
    }
    // Current balances: a block drained (or expired, §4) since holds nothing and is skipped by `take`.
    return ids.map((id) => this.draft.blockById(id));
  }
}

export function decideUsage(
  ledger: Ledger,
  blocks: readonly Block[],
  pending: readonly PendingUsageEntry[],
  charges: readonly UsageCharge[],
  context: DecisionContext,
  topUp: TopUpState | null = null,
): LedgerChanges {
  const draft = new LedgerDraft(ledger, blocks, context);
  // Each run is checked for a crossing of the top-up threshold (decideTopUp.ts); a top-up made
  // here is unpaid, so it pauses the others for the rest of the batch.
  let balanceBefore = ledger.balance;
  let unpaidTopUp = topUp?.unpaid ?? false;
  // A refused top-up never fails the batch; the first is reported with the changes.
  let topUpRefused: LedgerError | undefined;
  expireDue(draft, context.now);
  const keyOf = (priceId: string, blockId: string, usageDay: string) =>
    `${priceId}\u0000${blockId}\u0000${usageDay}`;
  const open = new Map<string, PendingUsageEntry | NewEntry>(
    pending.map((entry) => [keyOf(entry.priceId, entry.blockId, entry.usageDay), entry]),
  );
  const sets = new DrawableSets(draft);

  /** Adds `share` of the run's usage to its group's entry on `block`, growing it or making it. */
  const charge = (run: UsageCharge, block: Block, share: Decimal) => {
    draft.setBlockBalance(block, block.balance.minus(share));
    const key = keyOf(run.priceId, block.id, run.usageDay);
    const existing = open.get(key);
    if (existing) {
      draft.growEntry(existing, share.negated());
      return;
    }
    const entry = draft.appendEntry({
      entryType: 'decrement',
      entryStatus: 'pending',
      block,
      amount: share.negated(),
      description: null,
      metadata: {},
      usage: {
        priceId: run.priceId,
        blockId: block.id,
        usageDay: run.usageDay,
        closesAt: run.closesAt,
      },
    });
    open.set(key, entry);
  };

  const draw = (run: UsageCharge) => {
    const { taken, remainder } = take(sets.ordered(run.at, run.itemId), run.credits);
    const overdraft = remainder.isPositive()
      ? findOverdraftBlock(draft.allBlocks(), context.now, run.at)
      : undefined;
    // A fresh block's id is taken before its entries' ids, as it always was.
    const freshId = remainder.isPositive() && !overdraft ? context.newId() : undefined;
    for (const { block, amount } of taken) charge(run, draft.current(block), amount);
    if (overdraft) charge(run, draft.current(overdraft), remainder);
    if (freshId !== undefined) {
      // Made by the pending decrement appended right after it: that is its creation order (§3).
      const fresh = draft.addBlock(freshOverdraftBlock(freshId, ledger.currency, context.now));
      charge(run, fresh, remainder);
    }
    if (topUp) {
      const outcome = decideTopUp(draft, balanceBefore, topUp.config, unpaidTopUp, context);
      if (outcome.toppedUp) unpaidTopUp = true;
      else topUpRefused ??= outcome.error;
      balanceBefore = draft.balance;
    }
  };

  // Consecutive charges of one price and day in one period are one run (see the top).
  const runKey = (c: UsageCharge) =>
    `${c.priceId}\u0000${c.usageDay}\u0000${c.itemId}\u0000${sets.period(c.at)}`;
  let run: UsageCharge | undefined;
  let key = '';
  for (const next of charges) {
    if (!next.credits.isPositive()) continue;
    if (run && runKey(next) === key) {
      run = { ...run, credits: run.credits.plus(next.credits) };
      continue;
    }
    if (run) draw(run);
    run = next;
    // After the draw: a block it added (overdraft, top-up) may have moved the boundaries.
    key = runKey(next);
  }
  if (run) draw(run);
  return topUpRefused ? { ...draft.changes(), topUpRefused } : draft.changes();
}
