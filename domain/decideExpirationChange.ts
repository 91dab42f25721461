/**
 * expiration_change (LEDGER_RULES.md §4): moves credit from one block into a new block that is the
 * same (cost basis, filters, effective date) except for its expiry. The source is `block_id`, or
 * else the one block with credit left whose expiry is `expiry_date`. The ledger balance does not
 * change, so the one entry is a transfer: `+moved`, starting = ending, on the source block, with
 * `new_block_expiry_date` = the target. EXPIRATION_CHANGE_CHECKS run first; returns the refusal,
 * or undefined once the draft holds the change.
 */
import { blockNotFound, blockStateChecks, type NamedBlockInput } from './findBlock.ts';
import { amountNotPositive, firstRefusal, onBlock, type Check } from './firstRefusal.ts';
import type { LedgerDraft } from './ledgerDraft.ts';
import type { LedgerError } from './ledgerError.ts';
import type { Block, DecisionContext, ExpirationChangeCommand } from './types.ts';

interface ExpirationChangeInput extends NamedBlockInput {
  command: ExpirationChangeCommand;
  /** Without block_id: the blocks with credit left whose expiry is `expiry_date`. */
  matches: Block[];
}

const moved = (block: Block, command: ExpirationChangeCommand) => command.amount ?? block.balance;

export const EXPIRATION_CHANGE_CHECKS: readonly Check<ExpirationChangeInput>[] = [
  {
    code: 'amount_not_positive',
    broken: ({ command: { amount } }) => (amount === null ? undefined : amountNotPositive(amount)),
  },
  {
    // Never-expiring credit is named by block_id only: a missing expiry_date is not a wildcard.
    code: 'source_block_unnamed',
    broken: ({ command }) =>
      command.blockId === null && command.sourceExpiresAt === null
        ? 'expiration_change needs block_id or expiry_date to name the source block.'
        : undefined,
  },
  blockNotFound(),
  {
    code: 'block_with_expiry_not_found',
    broken: ({ command: { blockId, sourceExpiresAt }, matches }) =>
      blockId === null && sourceExpiresAt !== null && matches.length === 0
        ? `no block with credit left expires at ${sourceExpiresAt.toISOString()}.`
        : undefined,
  },
  {
    code: 'source_block_ambiguous',
    broken: ({ command: { blockId, sourceExpiresAt }, matches }) =>
      blockId === null && sourceExpiresAt !== null && matches.length > 1
        ? `${matches.length} blocks expire at ${sourceExpiresAt.toISOString()} (${matches.map((b) => b.id).join(', ')}); give block_id to choose one.`
        : undefined,
  },
  ...blockStateChecks<ExpirationChangeInput>('change the expiry of'),
  onBlock('block_not_active', (block) =>
    block.status === 'active'
      ? undefined
      : `cannot change the expiry of block ${block.id}: it is ${block.status}.`,
  ),
  onBlock('block_has_no_credit', (block, { command }) =>
    moved(block, command).isPositive()
      ? undefined
      : `block ${block.id} has no credit to move (balance ${block.balance.toString()}).`,
  ),
  onBlock('insufficient_credits', (block, { command }) =>
    moved(block, command).compare(block.balance) > 0
      ? `cannot move ${moved(block, command).toString()}: block ${block.id} has ${block.balance.toString()} left.`
      : undefined,
  ),
  // After the lookup, as the reference model (test/support/referenceLedger.ts) orders them.
  onBlock('target_expiry_not_future', (_block, { command: { targetExpiresAt: target }, now }) =>
    target.getTime() <= now.getTime()
      ? `target_expiry_date ${target.toISOString()} must be after now (${now.toISOString()}).`
      : undefined,
  ),
  onBlock('target_expiry_before_effective', (block, { command: { targetExpiresAt: target } }) =>
    target.getTime() < block.effectiveAt.getTime()
      ? `target_expiry_date ${target.toISOString()} is before block ${block.id}'s effective date ${block.effectiveAt.toISOString()}.`
      : undefined,
  ),
];

function checkInput(
  command: ExpirationChangeCommand,
  draft: LedgerDraft,
  now: Date,
): ExpirationChangeInput {
  if (command.blockId !== null) {
    const block = draft.findBlock(command.blockId, command.currency);
    return { command, blockId: command.blockId, block, now, matches: block ? [block] : [] };
  }
  const expiresAt = command.sourceExpiresAt;
  const matches =
    expiresAt === null
      ? []
      : draft
          .allBlocks()
          .filter((b) => b.currency === command.currency && b.balance.isPositive())
          .filter((b) => b.expiresAt?.getTime() === expiresAt.getTime());
  const block = matches.length === 1 ? matches[0] : undefined;
  return { command, blockId: null, block, now, matches };
}

export function decideExpirationChange(
  command: ExpirationChangeCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  const input = checkInput(command, draft, context.now);
  const refusal = firstRefusal(EXPIRATION_CHANGE_CHECKS, input);
  if (refusal) return refusal;
  const source = input.block;
  if (!source) throw new Error('expiration_change passed its lookup checks with no source block');
  const amount = moved(source, command);
  draft.setBlockBalance(source, source.balance.minus(amount));
  draft.addBlock({
    id: context.newId(),
    currency: source.currency,
    balance: amount,
    maximumInitialBalance: amount,
    effectiveAt: source.effectiveAt,
    expiresAt: command.targetExpiresAt,
    perUnitCostBasis: source.perUnitCostBasis,
    filters: source.filters,
    status: 'active',
    voidedAt: null,
    createdAt: context.now,
  });
  draft.appendEntry({
    entryType: 'expiration_change',
    block: source,
    amount,
    transfer: true,
    newBlockExpiryDate: command.targetExpiresAt,
    description: command.description,
    metadata: command.metadata,
  });
  return undefined;
}
