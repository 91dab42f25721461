/**
 * The one entry point of the ledger rules: `decide(command, ledger, blocks, context)` returns the
 * changes to persist or a refusal. Pure: no I/O, no clock (`context.now`), no randomness
 * (`context.newId`). The switch is exhaustive so that a new command type cannot be forgotten.
 */
import { decideDecrement } from './decideDecrement.ts';
import { decideIncrement } from './decideIncrement.ts';
import type { Decision } from './ledgerError.ts';
import type { Block, DecisionContext, Ledger, LedgerChanges, LedgerCommand } from './types.ts';

export function decide(
  command: LedgerCommand,
  ledger: Ledger,
  blocks: readonly Block[],
  context: DecisionContext,
): Decision<LedgerChanges> {
  switch (command.type) {
    case 'increment':
      return decideIncrement(command, ledger, blocks, context);
    case 'decrement':
      return decideDecrement(command, ledger, blocks, context);
    default: {
      const unreachable: never = command;
      throw new Error(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
}
