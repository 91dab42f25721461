/**
 * Creating a top-up (Orb's `POST .../credits/top_ups`) on the customer's partition: it replaces
 * the (customer, currency) top-up before it, in order with the ledger writes around it, so that the
 * next decrement of that ledger decides with it. The api checked the body (its invoicing currency,
 * an exact total, `active_from`); there is nothing left to refuse.
 */
import { topUpCreatePayload, type TopUpCreatePayload } from '../../jobs/requestKinds.ts';
import { failedOutcome } from '../../jobs/requestOutcome.ts';
import { replaceTopUp, type TopUpRow } from '../../store/topUps.ts';
import type { ApplyKind } from './kindContext.ts';

/** The row a create writes: the payload's fields under the table's names. */
function topUpRowOf(customerId: string, payload: TopUpCreatePayload, createdAt: Date): TopUpRow {
  const { top_up_id: id, ...fields } = payload;
  return { id, customer_id: customerId, ...fields, created_at: createdAt };
}

export const applyTopUpCreate: ApplyKind<'top_up_create'> = async (request, { em, now }) => {
  const payload = topUpCreatePayload.safeParse(request.payload);
  if (!payload.success) {
    const detail = `stored request is unreadable: ${payload.error.message}`;
    return failedOutcome('top_up_create', request.id, { kind: 'internal', detail });
  }
  const {
    customer_id: _owner,
    created_at: _at,
    invoice_currency: _currency,
    ...topUp
  } = await replaceTopUp(em, topUpRowOf(request.customerId, payload.data, now));
  return { status: 'committed', kind: 'top_up_create', requestId: request.id, topUp };
};
