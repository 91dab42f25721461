/**
 * Customer balance transactions (domain/decideBalanceTransaction.ts, LEDGER_RULES.md §7): an
 * increment adds its amount and a decrement subtracts it, exactly, even below zero; the amount is
 * the magnitude and the starting balance is the customer's balance; a customer without an
 * invoicing currency, a non-positive amount and a balance past numeric(38,12) are refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal, INTEGER_DIGITS_MAX } from '../../../domain/decimal.ts';
import {
  decideBalanceTransaction,
  type BalanceTransaction,
  type BalanceTransactionType,
  type CustomerBalance,
} from '../../../domain/decideBalanceTransaction.ts';

const NOW = new Date('2026-11-21T12:00:00Z');
const context = { now: NOW, newId: () => 'txn-1' };

function customer(balance: string, currency: string | null = 'USD'): CustomerBalance {
  return { currency, balance: Decimal.of(balance) };
}

function command(type: BalanceTransactionType, amount: string, description: string | null = null) {
  return { type, amount: Decimal.of(amount), description };
}

function accepted(
  type: BalanceTransactionType,
  amount: string,
  balance: string,
): BalanceTransaction {
  const decision = decideBalanceTransaction(command(type, amount), customer(balance), context);
  if (!decision.ok) throw new Error(`refused: ${decision.error.detail}`);
  return decision.value;
}

/** The transaction as decimal text, for table comparisons. */
function text(transaction: BalanceTransaction) {
  return {
    type: transaction.type,
    amount: transaction.amount.toString(),
    starting_balance: transaction.startingBalance.toString(),
    ending_balance: transaction.endingBalance.toString(),
  };
}

describe('decideBalanceTransaction', () => {
  it.each([
    // given balance, when type + amount, then starting → ending
    { balance: '0', type: 'increment', amount: '10.5', ending: '10.5' },
    { balance: '33', type: 'decrement', amount: '11', ending: '22' },
    { balance: '10.5', type: 'decrement', amount: '0.000000000001', ending: '10.499999999999' },
    { balance: '0.1', type: 'increment', amount: '0.2', ending: '0.3' },
    // A decrement may take the balance below zero (Orb allows a negative customer balance).
    { balance: '5', type: 'decrement', amount: '12.25', ending: '-7.25' },
    { balance: '-7.25', type: 'increment', amount: '7.25', ending: '0' },
    { balance: '-1', type: 'decrement', amount: '1', ending: '-2' },
  ] as const)('$balance, $type $amount → $ending', ({ balance, type, amount, ending }) => {
    const transaction = accepted(type, amount, balance);
    expect(text(transaction)).toEqual({
      type,
      amount,
      starting_balance: balance,
      ending_balance: ending,
    });
  });

  it('records a manual adjustment in the customer currency, with the given id, time and description', () => {
    const decision = decideBalanceTransaction(
      command('increment', '10', 'SLA credit'),
      customer('0', 'EUR'),
      context,
    );
    expect(decision).toEqual({
      ok: true,
      value: {
        id: 'txn-1',
        action: 'manual_adjustment',
        type: 'increment',
        currency: 'EUR',
        amount: Decimal.of('10'),
        startingBalance: Decimal.ZERO,
        endingBalance: Decimal.of('10'),
        description: 'SLA credit',
        createdAt: NOW,
      },
    });
  });

  it('refuses a customer without an invoicing currency', () => {
    const decision = decideBalanceTransaction(
      command('increment', '10'),
      customer('0', null),
      context,
    );
    expect(decision.ok).toBe(false);
    if (!decision.ok) {
      expect(decision.error.kind).toBe('request_validation');
      expect(decision.error.detail).toMatch(/invoicing currency/);
    }
  });

  it.each(['0', '-1'])('refuses amount %s: the amount is a magnitude, > 0', (amount) => {
    const decision = decideBalanceTransaction(command('increment', amount), customer('0'), context);
    expect(decision).toEqual({
      ok: false,
      error: {
        code: 'amount_not_positive',
        kind: 'request_validation',
        detail: 'amount must be greater than 0.',
      },
    });
  });

  it('refuses a balance past numeric(38,12) instead of wrapping', () => {
    const largest = '9'.repeat(INTEGER_DIGITS_MAX);
    const decision = decideBalanceTransaction(
      command('increment', '1'),
      customer(largest),
      context,
    );
    expect(decision.ok).toBe(false);
    if (!decision.ok) expect(decision.error.detail).toMatch(/integer digits/);
    const below = decideBalanceTransaction(
      command('decrement', largest),
      customer(`-${largest}`),
      context,
    );
    expect(below.ok).toBe(false);
  });

  it('is exact: a sequence of transactions ends at the signed sum of its amounts, each starting where the last ended', () => {
    const units = fc.bigInt({ min: 1n, max: 10n ** 18n });
    const step = fc.record({
      type: fc.constantFrom<BalanceTransactionType>('increment', 'decrement'),
      units,
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        let balance = Decimal.ZERO;
        let expected = 0n;
        for (const { type, units: amountUnits } of steps) {
          const amount = Decimal.fromUnits(amountUnits);
          const decision = decideBalanceTransaction(
            { type, amount, description: null },
            { currency: 'USD', balance },
            context,
          );
          if (!decision.ok) return false;
          const transaction = decision.value;
          expect(transaction.startingBalance.equals(balance)).toBe(true);
          expected += type === 'increment' ? amountUnits : -amountUnits;
          balance = transaction.endingBalance;
        }
        return balance.units === expected;
      }),
    );
  });
});
