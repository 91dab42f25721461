/**
 * Customer balance transactions (LEDGER_RULES.md §7, seed 003). The customer balance is an amount
 * in the customer's invoicing currency, kept apart from credits: a manual adjustment moves it up
 * (`increment`) or down (`decrement`) by a positive amount, and the transaction records the
 * balance before and after. A decrement may take the balance below zero: Orb allows a negative
 * customer balance (it is added to the next invoice). The customer's balance becomes the
 * transaction's ending balance, so the balance always equals the last ending balance.
 *
 * `amount` is the magnitude and `type` the direction, as in Orb's own example (starting "33.00",
 * ending "22.00", amount "11.00"): ending = starting + amount, or starting - amount.
 */
import type { Decimal } from './decimal.ts';
import { amountNotPositive, balanceOutOfRange, firstRefusal, type Check } from './firstRefusal.ts';
import type { Decision } from './ledgerError.ts';
import type { DecisionContext } from './types.ts';

export type BalanceTransactionType = 'increment' | 'decrement';

export interface BalanceTransactionCommand {
  type: BalanceTransactionType;
  /** The magnitude, > 0; `type` gives the direction. */
  amount: Decimal;
  description: string | null;
}

export interface CustomerBalance {
  /** The customer's invoicing currency: a balance is an amount in it, so there must be one. */
  currency: string | null;
  balance: Decimal;
}

export interface BalanceTransaction {
  id: string;
  /** Only manual adjustments exist so far; invoices will add `applied_to_invoice` and others. */
  action: 'manual_adjustment';
  type: BalanceTransactionType;
  currency: string;
  amount: Decimal;
  startingBalance: Decimal;
  endingBalance: Decimal;
  description: string | null;
  createdAt: Date;
}

/** The signed change: `amount` is the magnitude and `type` the direction. */
function delta(command: BalanceTransactionCommand): Decimal {
  switch (command.type) {
    case 'increment':
      return command.amount;
    case 'decrement':
      return command.amount.negated();
    default: {
      const unreachable: never = command.type;
      throw new Error(`unknown balance transaction type ${JSON.stringify(unreachable)}`);
    }
  }
}

interface BalanceTransactionInput {
  command: BalanceTransactionCommand;
  customer: CustomerBalance;
}

export const BALANCE_TRANSACTION_CHECKS: readonly Check<BalanceTransactionInput>[] = [
  { code: 'amount_not_positive', broken: ({ command }) => amountNotPositive(command.amount) },
  {
    code: 'customer_currency_missing',
    broken: ({ customer }) =>
      customer.currency === null
        ? "a customer balance is kept in the customer's invoicing currency, and this customer has none; create the customer with a currency first."
        : undefined,
  },
  {
    code: 'balance_out_of_range',
    broken: ({ command, customer }) =>
      balanceOutOfRange(
        customer.balance,
        delta(command),
        `this ${command.type} would take the customer balance`,
      ),
  },
];

export function decideBalanceTransaction(
  command: BalanceTransactionCommand,
  customer: CustomerBalance,
  context: DecisionContext,
): Decision<BalanceTransaction> {
  const refusal = firstRefusal(BALANCE_TRANSACTION_CHECKS, { command, customer });
  if (refusal) return { ok: false, error: refusal };
  if (customer.currency === null)
    throw new Error('customer_currency_missing passed with no currency');
  const endingBalance = customer.balance.plus(delta(command));
  return {
    ok: true,
    value: {
      id: context.newId(),
      action: 'manual_adjustment',
      type: command.type,
      currency: customer.currency,
      amount: command.amount,
      startingBalance: customer.balance,
      endingBalance,
      description: command.description,
      createdAt: context.now,
    },
  };
}
