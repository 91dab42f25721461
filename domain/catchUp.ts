/**
 * A decision no request asked for: catching a ledger up with the clock (due expiries), for
 * customers with no traffic (LEDGER_RULES.md §4 credit_block_expiry: "also by a scheduler ...
 * within one minute of the instant"). Same rules as the catch-up `decide` does first.
 */
import { expireDue } from './expireDue.ts';
import { LedgerDraft } from './ledgerDraft.ts';
import type { Block, DecisionContext, Ledger, LedgerChanges } from './types.ts';

export function catchUp(
  ledger: Ledger,
  blocks: readonly Block[],
  context: DecisionContext,
): LedgerChanges {
  const draft = new LedgerDraft(ledger, blocks, context);
  expireDue(draft, context.now);
  return draft.changes();
}
