/**
 * Orb's event endpoints. `POST /v1/events/search` lets a client confirm which of its events the
 * service holds, in Orb's Event shape (`deprecated` true once deprecated); its timeframe defaults
 * to [one week ago, now) by the service clock, and an empty or inverted timeframe is a 400. It is a
 * read: it never enqueues. Properties keep their numbers' digits exactly as ingested.
 *
 * `PUT /v1/events/{event_id}/deprecate` is a write on the event's customer's partition: it
 * `submit()`s an `event_deprecation` request (api/intake/submit.ts), waits up to SYNC_WAIT_MS, then
 * answers `{deprecated: event_id}` or the refusal the worker decided (400 outside the grace
 * period); a worker slower than the wait gets `202` and the request to poll at
 * `GET /v1/ledger_requests/{id}`. Like Orb's, it is idempotent: an event already deprecated
 * answers 200 again, so a retry after a timeout is safe (an `Idempotency-Key` is honoured too). An unknown event is a 404; an event whose customer does not exist (kept for an
 * external id no customer has yet) is a 400, as in Orb.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../worker/runtime/clock.ts';
import { findEventOwner, searchEvents } from '../../worker/store/eventQueries.ts';
import type { Orm } from '../../worker/store/orm.ts';
import type { CustomerResolver } from '../customerResolver.ts';
import { ApiError } from '../errors.ts';
import { submittedKey } from '../intake/idempotency.ts';
import { sendAnswer } from '../intake/sendAnswer.ts';
import { respondsAsync, submit, type IntakeDeps } from '../intake/submit.ts';
import { ledgerRequestSchema, toWireLedgerRequest } from '../wire/ledgerRequest.ts';
import { eventSearchRequest, type EventSearchRequest } from '../schemas/eventRequests.ts';
import { deprecatedEventSchema, eventsSchema, toWireEvent } from '../wire/event.ts';

/** Orb's default search window: one week back from now. */
const SEARCH_WINDOW_DEFAULT_MS = 7 * 24 * 60 * 60 * 1000;
export interface EventRouteDeps {
  orm: Orm;
  clock: Clock;
  intake: IntakeDeps;
  customers: CustomerResolver;
}

function registerSearch(app: FastifyInstance, deps: EventRouteDeps): void {
  app.post(
    '/v1/events/search',
    {
      schema: {
        summary: 'Search events by id',
        tags: ['Events'],
        body: eventSearchRequest,
        response: { 200: eventsSchema },
      },
    },
    async (request) => {
      const body = request.body as EventSearchRequest;
      const now = deps.clock.now();
      const from = body.timeframe_start
        ? new Date(body.timeframe_start)
        : new Date(now.getTime() - SEARCH_WINDOW_DEFAULT_MS);
      const to = body.timeframe_end ? new Date(body.timeframe_end) : now;
      if (from.getTime() >= to.getTime()) {
        throw ApiError.validation(
          `timeframe_start (${from.toISOString()}) must be before timeframe_end (${to.toISOString()}); ` +
            'they default to one week ago and now.',
        );
      }
      const events = await searchEvents(deps.orm.em.fork(), body.event_ids, from, to);
      return { data: events.map(toWireEvent) };
    },
  );
}

function registerDeprecate(app: FastifyInstance, deps: EventRouteDeps): void {
  app.put(
    '/v1/events/:event_id/deprecate',
    {
      schema: {
        summary: 'Deprecate an event',
        tags: ['Events'],
        response: { 200: deprecatedEventSchema, 202: ledgerRequestSchema },
      },
    },
    async (request, reply) => {
      const { event_id: eventId } = request.params as { event_id: string };
      const owner = await findEventOwner(deps.orm.em.fork(), eventId);
      if (!owner) throw ApiError.notFound(`Event with id ${eventId} does not exist.`);
      // Deprecated already: the answer is known without a trip through the partition, unless a
      // key was sent, whose replay must find its request (and say it is a replay).
      if (owner.status === 'deprecated' && request.headers['idempotency-key'] === undefined)
        return { deprecated: eventId };
      if (owner.customerId === null) {
        throw new ApiError(
          'constraint_violation',
          `event ${eventId} names an external_customer_id that no customer has; only events of an existing customer can be deprecated.`,
        );
      }
      const customer = await deps.customers.resolve({ customerId: owner.customerId });
      const answer = await submit(deps.intake, {
        kind: 'event_deprecation',
        customer,
        payload: { event_id: eventId },
        currency: null,
        idempotency: submittedKey(request, `/v1/events/${eventId}/deprecate`),
        respondAsync: respondsAsync(request.headers.prefer),
        httpRequestId: request.id,
      });
      return sendAnswer(reply, answer, {
        accepted: (accepted) => ({
          location: `/v1/ledger_requests/${accepted.id}`,
          body: toWireLedgerRequest({ ...accepted, status: 'queued' }, [], null),
        }),
        committed: () => ({ status: 200, body: { deprecated: eventId } }),
      });
    },
  );
}

export function registerEventRoutes(app: FastifyInstance, deps: EventRouteDeps): void {
  registerSearch(app, deps);
  registerDeprecate(app, deps);
}
