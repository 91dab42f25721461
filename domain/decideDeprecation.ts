/**
 * Deprecating an applied usage event inside the grace period (Orb's `PUT /events/{id}/deprecate`,
 * LEDGER_RULES.md §5): the event's credits go back out of its group's pending decrements, one per
 * block, taking from the most recently drawn block first (the reverse of drawdown order, §3), so
 * the overdraft block, drawn last, is repaid first. Each pending entry shrinks toward 0 (its
 * ending balance rises with it) and its block and the ledger balance rise by the same amount. No
 * new entry records this: the pending entry simply counts less usage, as if the event had never
 * been applied.
 *
 * A block never takes back more than that entry drew from it, nor more than fits under its
 * `maximum_initial_balance` (an overdraft block already repaid by an increment, a block amended
 * back up), and a voided block takes nothing back: those credits go to the next block in reverse
 * order. When the group cannot take all the credits back, the deprecation is refused and nothing
 * is written (DEPRECATION_CHECKS: the returns are planned, then checked, then made). Credits returned to a block that has expired since the usage are expired again at
 * once (`credit_block_expiry`), as they would have been had the event never been applied. The
 * clock is caught up first, as for every decision.
 */
import { Decimal } from './decimal.ts';
import { compareDrawdown } from './drawdown.ts';
import { expireDue } from './expireDue.ts';
import { LedgerDraft } from './ledgerDraft.ts';
import { firstRefusal, type Check } from './firstRefusal.ts';
import type { Decision, LedgerError } from './ledgerError.ts';
import type { Block, DecisionContext, Ledger, LedgerChanges, PendingUsageEntry } from './types.ts';

/** What a block can take back of what the entry drew from it: never past its initial balance. */
function returnable(entry: PendingUsageEntry, block: Block): Decimal {
  if (block.voidedAt !== null) return Decimal.ZERO;
  const headroom = block.maximumInitialBalance.minus(block.balance);
  const drawn = entry.amount.negated();
  const room = Decimal.min(headroom, drawn);
  return room.isPositive() ? room : Decimal.ZERO;
}

interface Return {
  entry: PendingUsageEntry;
  block: Block;
  share: Decimal;
}

/** What goes back to which block, newest drawn first, and what cannot go back anywhere. */
function planReturns(
  draft: LedgerDraft,
  pending: readonly PendingUsageEntry[],
  credits: Decimal,
): { returns: Return[]; remaining: Decimal } {
  // Most recently drawn first: the reverse of the order the group drew its blocks in. The group
  // has one pending entry per block, so each block is planned once, from its current balance.
  if (new Set(pending.map((entry) => entry.blockId)).size !== pending.length)
    throw new Error('a usage group has one pending entry per block');
  const newestFirst = pending
    .map((entry) => ({ entry, block: draft.current(draft.blockById(entry.blockId)) }))
    .sort((a, b) => compareDrawdown(b.block, a.block));
  const returns: Return[] = [];
  let remaining = credits;
  for (const { entry, block } of newestFirst) {
    if (!remaining.isPositive()) break;
    const share = Decimal.min(remaining, returnable(entry, block));
    if (!share.isPositive()) continue;
    returns.push({ entry, block, share });
    remaining = remaining.minus(share);
  }
  return { returns, remaining };
}

/** What decides whether an event may still be deprecated (LEDGER_RULES.md §5, grace period). */
export interface DeprecationWindow {
  eventId: string;
  /**
   * When its usage day closed or closes: the end of the event's day in the customer's timezone
   * plus GRACE_PERIOD, or the earlier closing instant its group's entries were stored with.
   */
  closesAt: Date;
  /** Whether the day close has committed the group's entries already (whatever the clock says). */
  dayCommitted: boolean;
  now: Date;
}

/** Checked for every event, applied or not, before anything else. */
export const DEPRECATION_WINDOW_CHECKS: readonly Check<DeprecationWindow>[] = [
  {
    code: 'event_outside_grace',
    broken: ({ eventId, closesAt, dayCommitted, now }) =>
      dayCommitted || now.getTime() >= closesAt.getTime()
        ? `event ${eventId} is outside the grace period: its usage day closed at ${closesAt.toISOString()} and its usage is committed.`
        : undefined,
  },
];

export function deprecationWindowRefusal(window: DeprecationWindow): LedgerError | undefined {
  return firstRefusal(DEPRECATION_WINDOW_CHECKS, window);
}

export const DEPRECATION_CHECKS: readonly Check<{ credits: Decimal; remaining: Decimal }>[] = [
  {
    code: 'credits_not_returnable',
    broken: ({ credits, remaining }) =>
      remaining.isPositive()
        ? `cannot deprecate the event: ${remaining.toString()} of its ${credits.toString()} credits cannot be returned to the blocks ` +
          'its usage drew from (voided, or refilled to their initial balance since).'
        : undefined,
  },
];

/**
 * `pending`: the pending usage decrements of the event's group (customer, currency, price, usage
 * day), one per block; every block they name must be among `blocks`. `credits`: what the event
 * added to the group.
 */
export function decideDeprecation(
  ledger: Ledger,
  blocks: readonly Block[],
  pending: readonly PendingUsageEntry[],
  credits: Decimal,
  context: DecisionContext,
): Decision<LedgerChanges> {
  if (credits.isNegative())
    throw new RangeError(`an event's credits are never negative: ${credits.toString()}`);
  const draft = new LedgerDraft(ledger, blocks, context);
  expireDue(draft, context.now);
  const { returns, remaining } = planReturns(draft, pending, credits);
  const refusal = firstRefusal(DEPRECATION_CHECKS, { credits, remaining });
  if (refusal) return { ok: false, error: refusal };
  for (const { entry, block, share } of returns) {
    draft.setBlockBalance(block, block.balance.plus(share));
    draft.growEntry(entry, share);
  }
  // Credits returned to a block that expired after the usage expire now, as they would have.
  expireDue(draft, context.now);
  return { ok: true, value: draft.changes() };
}
