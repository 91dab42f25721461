/**
 * The one entry point of the ledger rules: `decide(command, ledger, blocks, context)` returns the
 * changes to persist or a refusal. First the clock is caught up (due expiries), then the command
 * is decided on the result. Pure: no I/O, no clock (`context.now`), no randomness
 * (`context.newId`). The switch is exhaustive so that a new command type cannot be forgotten.
 * A refused command discards the whole draft, the catch-up included: nothing is written. Each
 * kind runs its checks in their precedence order (domain/ledgerError.ts) before touching the draft.
 * A top-up the rules refuse does not refuse the decrement that crossed the threshold: the decrement
 * applies without it, and the changes carry the refusal (`topUpRefused`) for the shell to log.
 */
import { DecimalRangeError, INTEGER_DIGITS_MAX } from './decimal.ts';
import { decideAmendment } from './decideAmendment.ts';
import { decideDecrement } from './decideDecrement.ts';
import { decideExpirationChange } from './decideExpirationChange.ts';
import { decideIncrement } from './decideIncrement.ts';
import { decideTopUp, type TopUpState } from './decideTopUp.ts';
import { decideVoid } from './decideVoid.ts';
import { expireDue } from './expireDue.ts';
import { LedgerDraft } from './ledgerDraft.ts';
import { refuse, type Decision, type LedgerError } from './ledgerError.ts';
import type { Block, DecisionContext, Ledger, LedgerChanges, LedgerCommand } from './types.ts';

/** The command's refusal, or undefined once its changes are in the draft. */
export function applyCommand(
  command: LedgerCommand,
  draft: LedgerDraft,
  context: DecisionContext,
): LedgerError | undefined {
  switch (command.type) {
    case 'increment':
      return decideIncrement(command, draft, context);
    case 'decrement':
      return decideDecrement(command, draft, context);
    case 'expiration_change':
      return decideExpirationChange(command, draft, context);
    case 'void':
      return decideVoid(command, draft, context);
    case 'amendment':
      return decideAmendment(command, draft, context);
    default: {
      const unreachable: never = command;
      throw new Error(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}

export function decide(
  command: LedgerCommand,
  ledger: Ledger,
  blocks: readonly Block[],
  context: DecisionContext,
  topUp: TopUpState | null = null,
): Decision<LedgerChanges> {
  const draft = new LedgerDraft(ledger, blocks, context);
  let automatic: Pick<LedgerChanges, 'automaticFrom' | 'topUpRefused'> = {};
  try {
    expireDue(draft, context.now);
    const refusal = applyCommand(command, draft, context);
    if (refusal) return { ok: false, error: refusal };
    // A decrement that takes the balance to the threshold or below may add a top-up (decideTopUp.ts).
    if (command.type === 'decrement' && topUp) {
      const made = draft.madeEntries().length;
      const outcome = decideTopUp(draft, ledger.balance, topUp.config, topUp.unpaid, context);
      if (outcome.toppedUp) automatic = { automaticFrom: made };
      else if (outcome.error) automatic = { topUpRefused: outcome.error };
    }
  } catch (error) {
    // Backstop for a balance the checks did not foresee (a block's rather than the ledger's):
    // past what numeric(38,12) holds is the request's problem, never a silent wrap.
    if (error instanceof DecimalRangeError) {
      return refuse(
        'balance_out_of_range',
        `this ${command.type} would take the balance past ${INTEGER_DIGITS_MAX} integer digits.`,
      );
    }
    throw error;
  }
  return { ok: true, value: { ...draft.changes(), ...automatic } };
}
