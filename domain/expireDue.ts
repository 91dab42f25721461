/**
 * Catching up the clock (LEDGER_RULES.md §4 credit_block_expiry): before a command is decided,
 * every block whose expiry has passed with credit left gets one committed `credit_block_expiry`
 * entry of `-balance`, soonest expiry first, and its balance becomes 0. So a command never sees
 * credit that should already be gone, and the ledger's balance always equals its blocks' sum.
 */
import { Decimal } from './decimal.ts';
import { compareDrawdown } from './drawdown.ts';
import type { LedgerDraft } from './ledgerDraft.ts';

export function expireDue(draft: LedgerDraft, now: Date): void {
  const due = draft
    .allBlocks()
    .filter((block) => block.expiresAt !== null && block.expiresAt.getTime() <= now.getTime())
    .filter((block) => block.balance.isPositive() && block.voidedAt === null)
    // Soonest expiry first; blocks expiring at the same instant in drawdown order (§3).
    .sort(
      (a, b) =>
        (a.expiresAt?.getTime() ?? 0) - (b.expiresAt?.getTime() ?? 0) || compareDrawdown(a, b),
    );
  for (const block of due) {
    draft.setBlockBalance(block, Decimal.ZERO);
    draft.appendEntry({
      entryType: 'credit_block_expiry',
      block,
      amount: block.balance.negated(),
      description: null,
      metadata: {},
    });
  }
}
