/**
 * expiration_change (LEDGER_RULES.md §4): moves credit from one block into a new block that is the
 * same (cost basis, filters, effective date) except for its expiry. The source is `block_id`, or
 * else the one block with credit left whose expiry is `expiry_date`. The ledger balance does not
 * change, so the one entry is a transfer: `+moved`, starting = ending, on the source block, with
 * `new_block_expiry_date` = the target. Returns a refusal, or undefined once the draft holds it.
 */
import { findBlock, refuseExpiredOrVoided } from './findBlock.ts';
import type { LedgerDraft } from './ledgerDraft.ts';
import { ledgerError, refuse, type Decision, type LedgerError } from './ledgerError.ts';
import type { Block, DecisionContext, ExpirationChangeCommand } from './types.ts';

function selectSource(command: ExpirationChangeCommand, draft: LedgerDraft): Decision<Block> {
  if (command.blockId !== null) return findBlock(draft, command.blockId, command.currency);
  const expiresAt = command.sourceExpiresAt;
  // Never-expiring credit is named by block_id only: a missing expiry_date is not a wildcard.
  if (expiresAt === null) {
    return refuse(
      'request_validation',
      'expiration_change needs block_id or expiry_date to name the source block.',
    );
  }
  const matches = draft
    .allBlocks()
    .filter((b) => b.currency === command.currency && b.balance.isPositive())
    .filter((b) => b.expiresAt?.getTime() === expiresAt.getTime());
  const [only] = matches;
  if (only && matches.length === 1) return { ok: true, value: only };
  if (matches.length === 0)
    return refuse(
      'resource_not_found',
      `no block with credit left expires at ${expiresAt.toISOString()}.`,
    );
  return refuse(
    'request_validation',
    `${matches.length} blocks expire at ${expiresAt.toISOString()} (${matches.map((b) => b.id).join(', ')}); give block_id to choose one.`,
  );
}

const invalid = (detail: string): LedgerError => ledgerError('request_validation', detail);

function refuseSource(
  source: Block,
  command: ExpirationChangeCommand,
  now: Date,
): LedgerError | undefined {
  const unusable = refuseExpiredOrVoided(source, now, 'change the expiry of');
  if (unusable) return unusable;
  if (source.status !== 'active')
    return invalid(`cannot change the expiry of block ${source.id}: it is ${source.status}.`);
  const moved = command.amount ?? source.balance;
  if (!moved.isPositive())
    return invalid(
      `block ${source.id} has no credit to move (balance ${source.balance.toString()}).`,
    );
  if (moved.compare(source.balance) > 0) {
    return invalid(
      `cannot move ${moved.toString()}: block ${source.id} has ${source.balance.toString()} left.`,
    );
  }
  const target = command.targetExpiresAt;
  if (target.getTime() <= now.getTime()) {
    return invalid(
      `target_expiry_date ${target.toISOString()} must be after now (${now.toISOString()}).`,
    );
  }
  if (target.getTime() < source.effectiveAt.getTime()) {
    const effective = source.effectiveAt.toISOString();
    return invalid(
      `target_expiry_date ${target.toISOString()} is before block ${source.id}'s effective date ${effective}.`,
    );
  }
  return undefined;
}

export function decideExpirationChange(
  command: ExpirationChangeCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  const selected = selectSource(command, draft);
  if (!selected.ok) return selected.error;
  const source = selected.value;
  const refusal = refuseSource(source, command, context.now);
  if (refusal) return refusal;
  const moved = command.amount ?? source.balance;
  draft.setBlockBalance(source, source.balance.minus(moved));
  draft.addBlock({
    id: context.newId(),
    currency: source.currency,
    balance: moved,
    maximumInitialBalance: moved,
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
    amount: moved,
    transfer: true,
    newBlockExpiryDate: command.targetExpiresAt,
    description: command.description,
    metadata: command.metadata,
  });
  return undefined;
}
