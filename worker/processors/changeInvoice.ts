/**
 * Pays or voids one invoice on its customer's partition, so that the change to the invoice's
 * block (pending_payment → active, or the void of its remaining credit) is serialized with the
 * customer's other writes. One transaction, the usual shape: locate the invoice, lock the customer
 * and load the block's ledger, lock the invoice, decide (domain/decideInvoice.ts), save. Refusals
 * (the invoice is not `issued`) are outcomes for the waiting api and write nothing; so is a
 * repeat, which finds the invoice no longer issued.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { decideInvoice, type InvoiceAction } from '../../domain/decideInvoice.ts';
import { resolveInstant } from '../../domain/instant.ts';
import type { InvoiceStatus } from '../../domain/types.ts';
import { newId } from '../runtime/ids.ts';
import type { OutcomeError } from '../jobs/ledgerOutcome.ts';
import { jobCatalog, type JobPayload } from '../jobs/queues.ts';
import { findInvoiceOwner, lockInvoice } from '../store/invoices.ts';
import { lockCustomerAndLoad, saveChanges } from '../store/ledgerRepository.ts';
import { applyingTransaction, PartitionFencedError } from '../partitionFence.ts';
import { withTransientRetry } from '../runtime/transientRetry.ts';
import { countWritten, type WrittenCounts } from '../writtenCounts.ts';
import type { ProcessorDeps } from './applyLedgerRequest.ts';

export type InvoiceChangeOutcome =
  | { status: 'changed'; invoiceId: string; invoiceStatus: InvoiceStatus; written: WrittenCounts }
  | { status: 'failed'; invoiceId: string; error: OutcomeError };

type Payload = JobPayload<'invoice.change'>;

function toAction(payload: Payload, timezone: string): InvoiceAction {
  if (payload.action.type === 'void') return { type: 'void' };
  const { payment_received_date: receivedDate, external_id: externalId, notes } = payload.action;
  const paidAt = resolveInstant(receivedDate, timezone);
  if (!paidAt)
    throw new Error(`payment_received_date ${receivedDate} passed validation but is not a date`);
  return { type: 'mark_paid', paidAt, payment: { receivedDate, externalId, notes } };
}

async function change(
  em: EntityManager,
  payload: Payload,
  deps: ProcessorDeps,
): Promise<InvoiceChangeOutcome> {
  const now = deps.clock.now();
  const { invoiceId } = payload;
  const owner = await findInvoiceOwner(em, invoiceId);
  if (!owner)
    return {
      status: 'failed',
      invoiceId,
      error: { kind: 'resource_not_found', detail: `Invoice ${invoiceId} does not exist.` },
    };
  // The api routes by the invoice's customer; anything else is a bug, not the client's mistake.
  if (owner.customerId !== payload.customerId) {
    return {
      status: 'failed',
      invoiceId,
      error: {
        kind: 'internal',
        detail: `invoice ${invoiceId} does not belong to customer ${payload.customerId}`,
      },
    };
  }
  const { ledger, blocks } = await lockCustomerAndLoad(
    em,
    owner.customerId,
    owner.blockCurrency,
    now,
    owner.blockId,
  );
  const invoice = await lockInvoice(em, invoiceId);
  const action = toAction(payload, owner.timezone);
  const decision = decideInvoice(action, invoice, ledger, blocks, { now, newId });
  if (!decision.ok) return { status: 'failed', invoiceId, error: decision.error };
  await saveChanges(em, owner.customerId, null, decision.value, now);
  return {
    status: 'changed',
    invoiceId,
    invoiceStatus: action.type === 'void' ? 'void' : 'paid',
    written: countWritten([decision.value]),
  };
}

export async function changeInvoice(
  data: unknown,
  deps: ProcessorDeps,
): Promise<InvoiceChangeOutcome> {
  const payload = jobCatalog['invoice.change'].payload.parse(data);
  try {
    return await withTransientRetry(() =>
      applyingTransaction(deps, (em) => change(em, payload, deps)),
    );
  } catch (error) {
    // Fenced out: the change belongs to the worker that took the partition over.
    if (error instanceof PartitionFencedError) throw error;
    // Nothing was written (the transaction rolled back); the partition moves on.
    deps.logger.error({ err: error, invoiceId: payload.invoiceId }, 'invoice change failed');
    const detail = `invoice ${payload.invoiceId} could not be changed because of an internal error; it has been logged.`;
    return { status: 'failed', invoiceId: payload.invoiceId, error: { kind: 'internal', detail } };
  }
}
