/**
 * The checks on the block a void, amendment or expiration_change names (LEDGER_RULES.md §4): a
 * block unknown in the command's currency is a 404 (block_not_found); a voided or expired block
 * cannot be changed by hand (block_voided, block_expired). A block is expired once its expiry
 * instant has come (the same `<=` that expireDue uses, so the clock catch-up has already zeroed
 * it) and voided once `voidedAt` is set.
 */
import { onBlock, type Check } from './firstRefusal.ts';
import type { Block } from './types.ts';

/** What the block checks read: the block the command names (undefined: none) and the instant. */
export interface NamedBlockInput {
  blockId: string | null;
  block: Block | undefined;
  now: Date;
}

export function isExpired(block: Block, at: Date): boolean {
  return block.expiresAt !== null && block.expiresAt.getTime() <= at.getTime();
}

export function blockNotFound<Input extends NamedBlockInput>(): Check<Input> {
  return {
    code: 'block_not_found',
    broken: ({ blockId, block }) =>
      blockId !== null && block === undefined ? `block ${blockId} not found` : undefined,
  };
}

/** `action` completes "cannot … block X": "void", "amend", "change the expiry of". */
export function blockStateChecks<Input extends NamedBlockInput>(action: string): Check<Input>[] {
  return [
    onBlock('block_voided', (block) =>
      block.voidedAt === null
        ? undefined
        : `cannot ${action} block ${block.id}: it was voided at ${block.voidedAt.toISOString()}.`,
    ),
    onBlock('block_expired', (block, { now }) =>
      block.expiresAt !== null && isExpired(block, now)
        ? `cannot ${action} block ${block.id}: it expired at ${block.expiresAt.toISOString()}.`
        : undefined,
    ),
  ];
}
