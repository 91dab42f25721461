/**
 * Orb's CustomerBalanceTransaction, and the status of an accepted balance transaction request
 * (`GET /v1/balance_transaction_requests/{id}`). Every amount is a decimal string here, as in
 * Orb's schema: nothing becomes a number.
 */
import { z } from 'zod';
import { Decimal } from '../../domain/decimal.ts';
import type { BalanceTransactionRecord } from '../../worker/store/balanceTransactions.ts';
import { dateTime, page, type Wire } from './exactNumber.ts';
import { problemSchema } from './problem.ts';

export const balanceTransactionSchema = z
  .object({
    id: z.string(),
    created_at: dateTime,
    starting_balance: z.string(),
    ending_balance: z.string(),
    amount: z.string(),
    action: z.enum([
      'applied_to_invoice',
      'manual_adjustment',
      'prorated_refund',
      'revert_prorated_refund',
      'return_from_voiding',
      'credit_note_applied',
      'credit_note_voided',
      'overpayment_refund',
      'external_payment',
      'small_invoice_carryover',
    ]),
    description: z.string().nullable(),
    invoice: z.object({ id: z.string() }).nullable(),
    type: z.enum(['increment', 'decrement']),
    credit_note: z.object({ id: z.string() }).nullable(),
  })
  .meta({ id: 'CustomerBalanceTransaction' });

export const balanceTransactionsSchema = page(balanceTransactionSchema).meta({
  id: 'CustomerBalanceTransactions',
});

export const requestStatus = z.enum(['queued', 'processing', 'committed', 'failed']);

export const balanceTransactionRequestSchema = z
  .object({
    id: z.string(),
    status: requestStatus,
    transaction: balanceTransactionSchema.nullable(),
    error: problemSchema.nullable(),
    created_at: dateTime,
    completed_at: dateTime.nullable(),
  })
  .meta({
    id: 'BalanceTransactionRequest',
    description: 'An accepted balance transaction: its status, then its transaction or error.',
  });

/** Orb's CustomerBalanceTransaction: every amount a decimal string, in the customer's currency. */
export function toWireBalanceTransaction(
  row: BalanceTransactionRecord,
): Wire<typeof balanceTransactionSchema> {
  return {
    id: row.id,
    created_at: row.created_at,
    starting_balance: Decimal.of(row.starting_balance).toString(),
    ending_balance: Decimal.of(row.ending_balance).toString(),
    amount: Decimal.of(row.amount).toString(),
    action: 'manual_adjustment',
    description: row.description,
    invoice: null,
    type: row.type,
    credit_note: null,
  };
}
