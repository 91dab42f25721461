/**
 * A customer balance request (LEDGER_RULES.md §7): lock the customer (its row holds the balance),
 * decide (domain/decideBalanceTransaction.ts), save the transaction and the new balance.
 */
import { Decimal } from '../../../domain/decimal.ts';
import { decideBalanceTransaction } from '../../../domain/decideBalanceTransaction.ts';
import { newId } from '../../runtime/ids.ts';
import { balanceRequestPayload } from '../../jobs/requestKinds.ts';
import { failedOutcome } from '../../jobs/requestOutcome.ts';
import { lockCustomerBalance, saveBalanceTransaction } from '../../store/balanceTransactions.ts';
import type { ApplyKind } from './kindContext.ts';

export const applyBalanceTransaction: ApplyKind<'balance_transaction'> = async (
  request,
  { em, now, news },
) => {
  const payload = balanceRequestPayload.safeParse(request.payload);
  if (!payload.success) {
    const detail = `stored request is unreadable: ${payload.error.message}`;
    return failedOutcome('balance_transaction', request.id, { kind: 'internal', detail });
  }
  const customer = await lockCustomerBalance(em, request.customerId);
  if (!customer) throw new Error(`customer ${request.customerId} of request ${request.id} is gone`);
  const { type, amount, description } = payload.data;
  const decision = decideBalanceTransaction(
    { type, amount: Decimal.of(amount), description },
    customer,
    { now, newId },
  );
  if (!decision.ok) return failedOutcome('balance_transaction', request.id, decision.error);
  const transaction = await saveBalanceTransaction(
    em,
    request.customerId,
    request.id,
    decision.value,
  );
  news.told({
    id: newId(),
    createdAt: now,
    customerId: request.customerId,
    ledgerSequenceNumber: null,
    facts: { type: 'customer.balance_transaction_created', balanceTransactionId: transaction.id },
  });
  return { status: 'committed', kind: 'balance_transaction', requestId: request.id, transaction };
};
