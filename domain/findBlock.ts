/**
 * The block a void, amendment or expiration_change names (LEDGER_RULES.md §4), and the states that
 * rule a block out of being changed by hand. A block unknown in the command's currency is a 404.
 * A block is expired once its expiry instant has come (the same `<=` that expireDue uses, so the
 * clock catch-up has already zeroed it) and voided once `voidedAt` is set.
 */
import type { LedgerDraft } from './ledgerDraft.ts';
import { ledgerError, type Decision, type LedgerError } from './ledgerError.ts';
import type { Block } from './types.ts';

export function findBlock(draft: LedgerDraft, blockId: string, currency: string): Decision<Block> {
  const block = draft.findBlock(blockId, currency);
  if (block) return { ok: true, value: block };
  return { ok: false, error: ledgerError('resource_not_found', `block ${blockId} not found`) };
}

export function isExpired(block: Block, at: Date): boolean {
  return block.expiresAt !== null && block.expiresAt.getTime() <= at.getTime();
}

/** `action` completes "cannot … block X": "void", "amend", "change the expiry of". */
export function refuseExpiredOrVoided(
  block: Block,
  at: Date,
  action: string,
): LedgerError | undefined {
  if (block.voidedAt !== null) {
    return ledgerError(
      'request_validation',
      `cannot ${action} block ${block.id}: it was voided at ${block.voidedAt.toISOString()}.`,
    );
  }
  if (block.expiresAt !== null && isExpired(block, at)) {
    return ledgerError(
      'request_validation',
      `cannot ${action} block ${block.id}: it expired at ${block.expiresAt.toISOString()}.`,
    );
  }
  return undefined;
}
