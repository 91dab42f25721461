/**
 * Deactivating a top-up (Orb's `DELETE .../credits/top_ups/{id}`) on the customer's partition, in
 * order with the ledger writes around it. A top-up the customer does not have is a 404.
 */
import { ledgerError } from '../../../domain/ledgerError.ts';
import { topUpDeletePayload } from '../../jobs/requestKinds.ts';
import { failedOutcome } from '../../jobs/requestOutcome.ts';
import { deleteTopUp } from '../../store/topUps.ts';
import type { ApplyKind } from './kindContext.ts';

export const applyTopUpDelete: ApplyKind<'top_up_delete'> = async (request, { em }) => {
  const payload = topUpDeletePayload.safeParse(request.payload);
  if (!payload.success) {
    const detail = `stored request is unreadable: ${payload.error.message}`;
    return failedOutcome('top_up_delete', request.id, { kind: 'internal', detail });
  }
  const topUpId = payload.data.top_up_id;
  if (!(await deleteTopUp(em, request.customerId, topUpId))) {
    return failedOutcome(
      'top_up_delete',
      request.id,
      ledgerError(
        'top_up_not_found',
        `Top-up with id ${topUpId} does not exist for customer ${request.customerId}.`,
      ),
    );
  }
  return { status: 'committed', kind: 'top_up_delete', requestId: request.id, topUpId };
};
