/**
 * Deprecating a usage event (Orb's `PUT /events/{id}/deprecate`) on its customer's partition, so
 * that it is serialized with that customer's usage and day close: lock the event, check it is
 * inside the grace period, and mark it deprecated. An applied event also gives its credits back to
 * its group's pending entries (domain/decideDeprecation.ts); an unpriced, invalid_quantity or
 * awaiting_customer event took nothing, so there is nothing to return.
 *
 * The grace period is the one usage has (LEDGER_RULES.md §5): until the end of the event's usage
 * day (customer timezone) plus GRACE_PERIOD, i.e. while its group's entries are still pending. An
 * event already deprecated answers success and changes nothing, so a client's retry is harmless.
 */
import { decideDeprecation, deprecationWindowRefusal } from '../../../domain/decideDeprecation.ts';
import { Decimal } from '../../../domain/decimal.ts';
import { ledgerError, type LedgerError } from '../../../domain/ledgerError.ts';
import { usageDayOf } from '../../../domain/usageDay.ts';
import { newId } from '../../runtime/ids.ts';
import { eventDeprecationPayload } from '../../jobs/requestKinds.ts';
import { failedOutcome, type DeprecationOutcome } from '../../jobs/requestOutcome.ts';
import {
  customerTimezone,
  loadBlocksById,
  loadUsageGroupEntries,
  lockEvent,
  markDeprecated,
  type LockedEvent,
} from '../../store/eventQueries.ts';
import type { LockedRequest } from '../../store/ledgerRepository.ts';
import { lockCustomerAndLoad } from '../../store/ledgerRepository.ts';
import { saveUsage } from '../../store/usageRepository.ts';
import { countWritten } from '../../writtenCounts.ts';
import type { ApplyKind, KindContext } from './kindContext.ts';

const failed = (request: LockedRequest, error: LedgerError): DeprecationOutcome =>
  failedOutcome('event_deprecation', request.id, error);

const internal = (request: LockedRequest, detail: string): DeprecationOutcome =>
  failedOutcome('event_deprecation', request.id, { kind: 'internal', detail });

/** Returns an applied event's credits to its group's pending entries: the outcome, or a refusal. */
async function returnCredits(
  request: LockedRequest,
  event: LockedEvent,
  closesAt: Date,
  { em, now, news }: KindContext,
): Promise<DeprecationOutcome> {
  const { customerId } = request;
  const { priceId, currency, usageDay } = event;
  const credits = event.credits ?? Decimal.ZERO;
  if (priceId === null || currency === null || usageDay === null)
    throw new Error(`applied event ${event.id} has no price or usage day`);
  const loaded = await lockCustomerAndLoad(em, customerId, currency, now);
  const entries = await loadUsageGroupEntries(em, { customerId, currency, priceId, usageDay });
  // The stored closing instant (what the day close goes by) or the one the timestamp gives now,
  // whichever is earlier; a day already committed (the sweep ran) is closed whatever the clock says.
  const outside = deprecationWindowRefusal({
    eventId: event.id,
    closesAt: entries
      .map((entry) => entry.closesAt)
      .reduce((a, b) => (a.getTime() <= b.getTime() ? a : b), closesAt),
    dayCommitted: entries.some((entry) => entry.status === 'committed'),
    now,
  });
  if (outside) return failed(request, outside);
  const pending = entries.filter((entry) => entry.status === 'pending');
  const known = new Set(loaded.blocks.map((block) => block.id));
  const drained = await loadBlocksById(
    em,
    customerId,
    [...new Set(pending.map((entry) => entry.blockId))].filter((id) => !known.has(id)),
  );
  const decision = decideDeprecation(
    loaded.ledger,
    [...loaded.blocks, ...drained],
    pending,
    credits,
    { now, newId },
  );
  if (!decision.ok) return failedOutcome('event_deprecation', request.id, decision.error);
  await saveUsage(em, [{ customerId, changes: decision.value }]);
  news.ledgerChanged(customerId, decision.value);
  await markDeprecated(em, event.id, 'applied');
  return {
    status: 'committed',
    kind: 'event_deprecation',
    requestId: request.id,
    eventId: event.id,
    creditsReturned: credits.toString(),
    written: countWritten([decision.value]),
  };
}

export const applyEventDeprecation: ApplyKind<'event_deprecation'> = async (request, context) => {
  const payload = eventDeprecationPayload.safeParse(request.payload);
  if (!payload.success)
    return internal(request, `stored request is unreadable: ${payload.error.message}`);
  const { em, now, gracePeriod } = context;
  const eventId = payload.data.event_id;
  const event = await lockEvent(em, eventId);
  if (!event)
    return failed(
      request,
      ledgerError('event_not_found', `Event with id ${eventId} does not exist.`),
    );
  const deprecated = (creditsReturned: string): DeprecationOutcome => ({
    status: 'committed',
    kind: 'event_deprecation',
    requestId: request.id,
    eventId,
    creditsReturned,
  });
  if (event.status === 'deprecated') return deprecated('0');
  const customer = await customerTimezone(em, request.customerId);
  const owned =
    event.customerId === null
      ? customer?.externalCustomerId === event.externalCustomerId
      : event.customerId === request.customerId;
  // The api routes by the event's customer; anything else is a bug, not the client's mistake.
  if (!customer || !owned)
    return internal(request, `event ${eventId} does not belong to customer ${request.customerId}`);
  const { closesAt } = usageDayOf(event.timestamp, customer.timezone, gracePeriod);
  if (event.status !== 'applied') {
    const outside = deprecationWindowRefusal({
      eventId,
      closesAt,
      dayCommitted: false,
      now,
    });
    if (outside) return failed(request, outside);
    await markDeprecated(em, event.id, event.status);
    return deprecated('0');
  }
  return returnCredits(request, event, closesAt, context);
};
