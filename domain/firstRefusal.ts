/**
 * A request kind's rules as an ordered list of named checks (domain/ledgerError.ts, Precedence):
 * the first broken one is the refusal. A check only reads its input; the decide function runs the
 * list before it touches the draft, so a refusal leaves nothing half-made to undo.
 */
import { DecimalRangeError, INTEGER_DIGITS_MAX, type Decimal } from './decimal.ts';
import { ledgerError, type LedgerError, type RefusalCode } from './ledgerError.ts';
import type { Block } from './types.ts';

export interface Check<Input> {
  code: RefusalCode;
  /** The sentence for the caller when the rule is broken, undefined when it holds. */
  broken: (input: Input) => string | undefined;
}

export function firstRefusal<Input>(
  checks: readonly Check<Input>[],
  input: Input,
): LedgerError | undefined {
  for (const check of checks) {
    const detail = check.broken(input);
    if (detail !== undefined) return ledgerError(check.code, detail);
  }
  return undefined;
}

/** The same checks, skipped entirely when `skip` holds for the input. */
export function unless<Input>(
  skip: (input: Input) => boolean,
  checks: readonly Check<Input>[],
): Check<Input>[] {
  return checks.map(({ code, broken }) => ({
    code,
    broken: (input) => (skip(input) ? undefined : broken(input)),
  }));
}

/**
 * A check that needs the block the request names: it holds vacuously while there is none, since
 * the lookup check that precedes it has refused the request already.
 */
export function onBlock<Input extends { block: Block | undefined }>(
  code: RefusalCode,
  broken: (block: Block, input: Input) => string | undefined,
): Check<Input> {
  return { code, broken: (input) => (input.block ? broken(input.block, input) : undefined) };
}

/**
 * balance_out_of_range: a ledger or customer balance moved by `delta` must still fit numeric(38,12);
 * past it is the request's problem, never a silent wrap.
 */
export function balanceOutOfRange(
  balance: Decimal,
  delta: Decimal,
  /** Completes "… past 26 integer digits": "this increment would take the balance". */
  taking: string,
): string | undefined {
  try {
    balance.plus(delta);
    return undefined;
  } catch (error) {
    if (error instanceof DecimalRangeError)
      return `${taking} past ${INTEGER_DIGITS_MAX} integer digits.`;
    throw error;
  }
}

export function amountNotPositive(amount: Decimal): string | undefined {
  return amount.isPositive() ? undefined : 'amount must be greater than 0.';
}
