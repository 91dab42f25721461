/**
 * Deprecates one usage event (Orb's `PUT /events/{id}/deprecate`) on its customer's partition, so
 * it is serialized with the usage and day close of that customer, in one transaction: lock the
 * event, check it is inside the grace period, and mark it deprecated. An applied event also gives
 * its credits back to its group's pending entries (domain/decideDeprecation.ts); an unpriced,
 * invalid_quantity or awaiting_customer event took nothing, so there is nothing to return.
 *
 * The grace period is the one usage has (LEDGER_RULES.md §5): until the end of the event's usage
 * day (customer timezone) plus GRACE_PERIOD, i.e. while its group's entries are still pending. A
 * deprecation is idempotent: an event already deprecated answers success and changes nothing, so a
 * redelivered job or a client's retry is harmless. Refusals are outcomes, returned for the waiting
 * api, and write nothing.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Duration } from 'luxon';
import { decideDeprecation } from '../../domain/decideDeprecation.ts';
import { Decimal } from '../../domain/decimal.ts';
import type { LedgerErrorKind } from '../../domain/ledgerError.ts';
import { usageDayOf } from '../../domain/usageDay.ts';
import { newId } from '../runtime/ids.ts';
import type { OutcomeError } from '../jobs/ledgerOutcome.ts';
import { jobCatalog, type JobPayload } from '../jobs/queues.ts';
import {
  customerTimezone,
  loadBlocksById,
  loadUsageGroupEntries,
  lockEvent,
  markDeprecated,
  type LockedEvent,
} from '../store/eventQueries.ts';
import { lockCustomerAndLoad } from '../store/ledgerRepository.ts';
import { saveUsage } from '../store/usageRepository.ts';
import { applyingTransaction } from '../partitionFence.ts';
import { withTransientRetry } from '../runtime/transientRetry.ts';
import type { ProcessorDeps } from './applyLedgerRequest.ts';

export type DeprecationOutcome =
  | {
      status: 'deprecated';
      eventId: string;
      /** Decimal text; "0" when the event took nothing. */ creditsReturned: string;
    }
  | { status: 'failed'; eventId: string; error: OutcomeError };

type Payload = JobPayload<'usage.deprecate'>;
type Deps = ProcessorDeps & { gracePeriod: Duration };

const failed = (
  eventId: string,
  kind: LedgerErrorKind | 'internal',
  detail: string,
): DeprecationOutcome => ({
  status: 'failed',
  eventId,
  error: { kind, detail },
});

function outsideGrace(event: LockedEvent, closesAt: Date): DeprecationOutcome {
  return failed(
    event.id,
    'constraint_violation',
    `event ${event.id} is outside the grace period: its usage day closed at ${closesAt.toISOString()} and its usage is committed.`,
  );
}

/** Returns an applied event's credits to its group's pending entries; undefined once written. */
async function returnCredits(
  em: EntityManager,
  event: LockedEvent,
  customerId: string,
  closesAt: Date,
  now: Date,
): Promise<DeprecationOutcome | undefined> {
  const { priceId, currency, usageDay } = event;
  const credits = event.credits ?? Decimal.ZERO;
  if (priceId === null || currency === null || usageDay === null)
    throw new Error(`applied event ${event.id} has no price or usage day`);
  const loaded = await lockCustomerAndLoad(em, customerId, currency, now);
  const entries = await loadUsageGroupEntries(em, { customerId, currency, priceId, usageDay });
  // The stored closing instant (what the day close goes by) or the one the timestamp gives now,
  // whichever is earlier; a day already committed (the sweep ran) is closed whatever the clock says.
  const closes = entries
    .map((entry) => entry.closesAt)
    .reduce((a, b) => (a.getTime() <= b.getTime() ? a : b), closesAt);
  if (now.getTime() >= closes.getTime() || entries.some((entry) => entry.status === 'committed'))
    return outsideGrace(event, closes);
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
  if (!decision.ok) return failed(event.id, decision.error.kind, decision.error.detail);
  await saveUsage(em, [{ customerId, changes: decision.value }]);
  return undefined;
}

async function deprecate(
  em: EntityManager,
  payload: Payload,
  deps: Deps,
): Promise<DeprecationOutcome> {
  const now = deps.clock.now();
  const event = await lockEvent(em, payload.eventId);
  if (!event)
    return failed(
      payload.eventId,
      'resource_not_found',
      `Event with id ${payload.eventId} does not exist.`,
    );
  if (event.status === 'deprecated')
    return { status: 'deprecated', eventId: event.id, creditsReturned: '0' };
  const customer = await customerTimezone(em, payload.customerId);
  const owned =
    event.customerId === null
      ? customer?.externalCustomerId === event.externalCustomerId
      : event.customerId === payload.customerId;
  // The api routes by the event's customer; anything else is a bug, not the client's mistake.
  if (!customer || !owned)
    return failed(
      event.id,
      'internal',
      `event ${event.id} does not belong to customer ${payload.customerId}`,
    );
  const { closesAt } = usageDayOf(event.timestamp, customer.timezone, deps.gracePeriod);
  if (event.status !== 'applied') {
    if (now.getTime() >= closesAt.getTime()) return outsideGrace(event, closesAt);
    await markDeprecated(em, event.id, event.status);
    return { status: 'deprecated', eventId: event.id, creditsReturned: '0' };
  }
  const refused = await returnCredits(em, event, payload.customerId, closesAt, now);
  if (refused) return refused;
  await markDeprecated(em, event.id, 'applied');
  return {
    status: 'deprecated',
    eventId: event.id,
    creditsReturned: (event.credits ?? Decimal.ZERO).toString(),
  };
}

export async function deprecateEvent(data: unknown, deps: Deps): Promise<DeprecationOutcome> {
  const payload = jobCatalog['usage.deprecate'].payload.parse(data);
  try {
    return await withTransientRetry(() =>
      applyingTransaction(deps, (em) => deprecate(em, payload, deps)),
    );
  } catch (error) {
    // Nothing was written (the transaction rolled back); the partition moves on.
    deps.logger.error({ err: error, eventId: payload.eventId }, 'event deprecation failed');
    return failed(
      payload.eventId,
      'internal',
      `event ${payload.eventId} could not be deprecated because of an internal error; it has been logged.`,
    );
  }
}
