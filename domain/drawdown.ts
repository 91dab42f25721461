/**
 * Which blocks a deduction may draw from, and in what order (LEDGER_RULES.md §2 "drawable", §3).
 * `take` is the "decrement across blocks" as one pure function over an ordered list, the shape
 * of Formance's `Funding.Take`: it returns what it took from each block and what is left over.
 */
import { Decimal } from './decimal.ts';
import type { Block } from './types.ts';

/** A manual decrement has no item: it draws only from blocks without filters (choice, §2). */
export type DrawItem = string | null;

export function admitsItem(block: Block, item: DrawItem): boolean {
  if (block.filters.length === 0) return true;
  if (item === null) return false;
  return block.filters.every((filter) =>
    filter.operator === 'includes' ? filter.values.includes(item) : !filter.values.includes(item),
  );
}

export function isLive(block: Block, at: Date): boolean {
  return (
    block.status === 'active' &&
    block.voidedAt === null &&
    block.effectiveAt.getTime() <= at.getTime() &&
    (block.expiresAt === null || block.expiresAt.getTime() > at.getTime())
  );
}

export function isDrawable(block: Block, at: Date, item: DrawItem): boolean {
  return isLive(block, at) && block.balance.isPositive() && admitsItem(block, item);
}

function costBasis(block: Block): Decimal {
  return block.perUnitCostBasis === null ? Decimal.ZERO : Decimal.of(block.perUnitCostBasis);
}

/**
 * Total and stable: filtered first, soonest expiry, cheapest, then creation order (the sequence
 * number of the entry that made the block, unique per ledger): random ids never decide (§3).
 */
export function compareDrawdown(a: Block, b: Block): number {
  const filtered = Number(b.filters.length > 0) - Number(a.filters.length > 0);
  if (filtered !== 0) return filtered;
  const expiryA = a.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  const expiryB = b.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  if (expiryA !== expiryB) return expiryA < expiryB ? -1 : 1;
  const cost = costBasis(a).compare(costBasis(b));
  if (cost !== 0) return cost;
  return compareCreation(a, b);
}

/** Creation order (§3 rule 4): the block made by the earlier entry first. */
export function compareCreation(a: Block, b: Block): number {
  return a.creationSequence - b.creationSequence;
}

export function drawdownOrder(blocks: readonly Block[], at: Date, item: DrawItem): Block[] {
  return blocks.filter((block) => isDrawable(block, at, item)).sort(compareDrawdown);
}

export interface Take {
  block: Block;
  amount: Decimal;
}

/** Takes `amount` from `ordered` front to back; each block gives at most its balance. */
export function take(
  ordered: readonly Block[],
  amount: Decimal,
): { taken: Take[]; remainder: Decimal } {
  const taken: Take[] = [];
  let remainder = amount;
  for (const block of ordered) {
    if (!remainder.isPositive()) break;
    const share = Decimal.min(block.balance, remainder);
    if (!share.isPositive()) continue;
    taken.push({ block, amount: share });
    remainder = remainder.minus(share);
  }
  return { taken, remainder };
}

/**
 * The block that absorbs a deduction drawable credit cannot cover: the last never-expiring,
 * unfiltered, active block in drawdown order (its balance may already be zero or negative).
 * `undefined` means the caller creates a fresh overdraft block (choice, LEDGER_RULES.md §4).
 *
 * `drawnAt` is the instant the deduction draws at (usage: the event's timestamp, §5). A block
 * that still holds credit but was not yet effective then is passed over: otherwise credit bought
 * after an event would pay for it after all, as the overdraft. A decrement draws at `at`, where
 * no such block exists (a live block with credit is drawable then), so it changes nothing there.
 */
export function findOverdraftBlock(
  blocks: readonly Block[],
  at: Date,
  drawnAt: Date = at,
): Block | undefined {
  const candidates = blocks
    .filter((block) => isLive(block, at) && block.expiresAt === null && block.filters.length === 0)
    .filter(
      (block) => !(block.balance.isPositive() && block.effectiveAt.getTime() > drawnAt.getTime()),
    )
    .sort(compareDrawdown);
  return candidates.at(-1);
}

/**
 * A fresh overdraft block, for a ledger that has no block findOverdraftBlock would take: no
 * expiry, no cost basis, no filters, nothing granted (choice, LEDGER_RULES.md §4). The caller adds
 * it just before the entry that opens it, whose sequence number is then its creation order.
 */
export function freshOverdraftBlock(
  id: string,
  currency: string,
  now: Date,
): Omit<Block, 'creationSequence'> {
  return {
    id,
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
  };
}
