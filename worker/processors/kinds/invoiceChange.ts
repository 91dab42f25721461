/**
 * Paying or voiding an invoice (Orb's `mark_paid` / `void`, LEDGER_RULES.md §7) on its customer's
 * partition, so that the change to the invoice's block (pending_payment → active, or the void of
 * its remaining credit) is serialized with the customer's other writes: locate the invoice, lock
 * the customer and load the block's ledger, lock the invoice, decide (domain/decideInvoice.ts),
 * save. A repeat finds the invoice no longer `issued` and is refused, writing nothing.
 */
import { decideInvoice, type InvoiceAction } from '../../../domain/decideInvoice.ts';
import { resolveInstant } from '../../../domain/instant.ts';
import { ledgerError } from '../../../domain/ledgerError.ts';
import { newId } from '../../runtime/ids.ts';
import { invoiceChangePayload, type InvoiceChangePayload } from '../../jobs/requestKinds.ts';
import { failedOutcome } from '../../jobs/requestOutcome.ts';
import { findInvoiceOwner, lockInvoice } from '../../store/invoices.ts';
import { lockCustomerAndLoad, saveChanges } from '../../store/ledgerRepository.ts';
import { countWritten } from '../../writtenCounts.ts';
import type { ApplyKind } from './kindContext.ts';

function toAction(action: InvoiceChangePayload['action'], timezone: string): InvoiceAction {
  if (action.type === 'void') return { type: 'void' };
  const { payment_received_date: receivedDate, external_id: externalId, notes } = action;
  const paidAt = resolveInstant(receivedDate, timezone);
  if (!paidAt)
    throw new Error(`payment_received_date ${receivedDate} passed validation but is not a date`);
  return { type: 'mark_paid', paidAt, payment: { receivedDate, externalId, notes } };
}

export const applyInvoiceChange: ApplyKind<'invoice_change'> = async (
  request,
  { em, now, news },
) => {
  const internal = (detail: string) =>
    failedOutcome('invoice_change', request.id, { kind: 'internal', detail });
  const payload = invoiceChangePayload.safeParse(request.payload);
  if (!payload.success) return internal(`stored request is unreadable: ${payload.error.message}`);
  const { invoice_id: invoiceId, action } = payload.data;
  const owner = await findInvoiceOwner(em, invoiceId);
  if (!owner)
    return failedOutcome(
      'invoice_change',
      request.id,
      ledgerError('invoice_not_found', `Invoice ${invoiceId} does not exist.`),
    );
  // The api routes by the invoice's customer; anything else is a bug, not the client's mistake.
  if (owner.customerId !== request.customerId)
    return internal(`invoice ${invoiceId} does not belong to customer ${request.customerId}`);
  const { ledger, blocks } = await lockCustomerAndLoad(
    em,
    owner.customerId,
    owner.blockCurrency,
    now,
    owner.blockId,
  );
  const invoice = await lockInvoice(em, owner.customerId, invoiceId);
  const decision = decideInvoice(toAction(action, owner.timezone), invoice, ledger, blocks, {
    now,
    newId,
  });
  if (!decision.ok) return failedOutcome('invoice_change', request.id, decision.error);
  await saveChanges(em, owner.customerId, null, decision.value, now);
  // Paying turns a pending_payment block active: the watched balance may rise with no entry.
  news.ledgerChanged(owner.customerId, decision.value);
  news.told({
    id: newId(),
    createdAt: now,
    customerId: owner.customerId,
    ledgerSequenceNumber: null,
    facts: {
      type:
        action.type === 'void'
          ? 'invoice.manually_marked_as_void'
          : 'invoice.manually_marked_as_paid',
      invoiceId,
    },
  });
  return {
    status: 'committed',
    kind: 'invoice_change',
    requestId: request.id,
    invoiceId,
    written: countWritten([decision.value]),
  };
};
