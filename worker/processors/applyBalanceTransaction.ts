/**
 * Applies one accepted customer balance request (LEDGER_RULES.md §7), on the customer's partition
 * like every other write, in the same shape as applyLedgerRequest: parse the payload, lock and
 * load, call the pure domain, save the transaction, the customer's new balance and the request's
 * outcome, all in one transaction. Re-delivery is harmless: a request that is no longer `queued`
 * answers its stored outcome and changes nothing.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Decimal } from '../../domain/decimal.ts';
import { decideBalanceTransaction } from '../../domain/decideBalanceTransaction.ts';
import type { Clock } from '../runtime/clock.ts';
import { newId } from '../runtime/ids.ts';
import type { OutcomeError } from '../jobs/ledgerOutcome.ts';
import { jobCatalog } from '../jobs/queues.ts';
import {
  balanceRequestPayload,
  lockBalanceRequest,
  markBalanceRequestFailed,
  saveBalanceTransaction,
  storedBalanceOutcome,
  type BalanceOutcome,
} from '../store/balanceTransactions.ts';
import { applyingTransaction, PartitionFencedError } from '../partitionFence.ts';
import { withTransientRetry } from '../runtime/transientRetry.ts';
import type { ProcessorDeps } from './applyLedgerRequest.ts';

async function refuse(
  em: EntityManager,
  requestId: string,
  error: OutcomeError,
  now: Date,
): Promise<BalanceOutcome> {
  await markBalanceRequestFailed(em, requestId, error, now);
  return { status: 'failed', requestId, error };
}

async function decideAndSave(
  em: EntityManager,
  requestId: string,
  clock: Clock,
): Promise<BalanceOutcome> {
  const now = clock.now();
  const loaded = await lockBalanceRequest(em, requestId);
  if (!loaded) {
    return {
      status: 'failed',
      requestId,
      error: {
        kind: 'internal',
        detail: `balance transaction request ${requestId} does not exist`,
      },
    };
  }
  const { request, customer } = loaded;
  if (request.status !== 'queued') return storedBalanceOutcome(em, request);
  const payload = balanceRequestPayload.safeParse(request.payload);
  if (!payload.success)
    return refuse(
      em,
      requestId,
      { kind: 'internal', detail: `stored request is unreadable: ${payload.error.message}` },
      now,
    );
  const { type, amount, description } = payload.data;
  const decision = decideBalanceTransaction(
    { type, amount: Decimal.of(amount), description },
    customer,
    { now, newId },
  );
  if (!decision.ok) return refuse(em, requestId, decision.error, now);
  const transaction = await saveBalanceTransaction(
    em,
    request.customerId,
    requestId,
    decision.value,
    now,
  );
  return { status: 'committed', requestId, transaction };
}

export async function applyBalanceTransaction(
  data: unknown,
  deps: ProcessorDeps,
): Promise<BalanceOutcome> {
  const { requestId } = jobCatalog['balance.apply'].payload.parse(data);
  try {
    return await withTransientRetry(() =>
      applyingTransaction(deps, (em) => decideAndSave(em, requestId, deps.clock)),
    );
  } catch (error) {
    // Fenced out: the request belongs to the worker that took the partition over.
    if (error instanceof PartitionFencedError) throw error;
    // A permanent failure is recorded and the partition moves on: nothing blocks it forever.
    deps.logger.error({ err: error, requestId }, 'balance transaction request failed permanently');
    const detail = `balance transaction request ${requestId} could not be applied because of an internal error; it has been logged.`;
    const failure: OutcomeError = { kind: 'internal', detail };
    await withTransientRetry(() =>
      applyingTransaction(deps, (em) =>
        markBalanceRequestFailed(em, requestId, failure, deps.clock.now()),
      ),
    );
    return { status: 'failed', requestId, error: failure };
  }
}
