/**
 * Orb's event endpoints. `POST /v1/events/search` lets a client confirm which of its events the
 * service holds, in Orb's Event shape (`deprecated` true once deprecated); its timeframe defaults
 * to [one week ago, now) by the service clock, and an empty or inverted timeframe is a 400. It is a
 * read: it never enqueues. Properties keep their numbers' digits exactly as ingested.
 *
 * `PUT /v1/events/{event_id}/deprecate` is a write on the event's customer's partition: it
 * enqueues `usage.deprecate` and waits for it (up to DEPRECATION_WAIT_MS), then answers
 * `{deprecated: event_id}` or the refusal the worker decided (400 outside the grace period). Like
 * Orb's, it is idempotent: an event already deprecated answers 200 again, so a retry after a
 * timeout is safe. An unknown event is a 404; an event whose customer does not exist (kept for an
 * external id no customer has yet) is a 400, as in Orb.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../worker/runtime/clock.ts';
import { newId } from '../../worker/runtime/ids.ts';
import { partitionOf } from '../../worker/jobs/partition.ts';
import type { DeprecationOutcome } from '../../worker/processors/deprecateEvent.ts';
import type { PartitionQueues } from '../../worker/jobs/queues.ts';
import { findEventOwner, searchEvents } from '../../worker/store/eventQueries.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { waitForJobs } from '../../worker/sweeps/runSweeps.ts';
import { ApiError, outcomeProblem, sendProblem } from '../errors.ts';
import { eventSearchRequest, type EventSearchRequest } from '../schemas/eventRequests.ts';
import { deprecatedEventSchema, eventsSchema, toWireEvent } from '../wire/event.ts';

/** Orb's default search window: one week back from now. */
const SEARCH_WINDOW_DEFAULT_MS = 7 * 24 * 60 * 60 * 1000;
/** How long a deprecation waits for its job before answering 503 (a retry is harmless). */
const DEPRECATION_WAIT_MS = 10_000;

export interface EventRouteDeps {
  orm: Orm;
  clock: Clock;
  queues: PartitionQueues;
  partitions: number;
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
        response: { 200: deprecatedEventSchema },
      },
    },
    async (request, reply) => {
      const { event_id: eventId } = request.params as { event_id: string };
      const owner = await findEventOwner(deps.orm.em.fork(), eventId);
      if (!owner) throw ApiError.notFound(`Event with id ${eventId} does not exist.`);
      if (owner.status === 'deprecated') return { deprecated: eventId };
      if (owner.customerId === null) {
        throw new ApiError(
          'constraint_violation',
          `event ${eventId} names an external_customer_id that no customer has; only events of an existing customer can be deprecated.`,
        );
      }
      const partition = partitionOf(owner.customerId, deps.partitions);
      const jobId = `deprecate-${newId()}`;
      await deps.queues.add(
        partition,
        'usage.deprecate',
        { eventId, customerId: owner.customerId },
        jobId,
      );
      const finished = await waitForJobs(deps.queues, [{ partition, jobId }], DEPRECATION_WAIT_MS);
      const job = finished ? await deps.queues.queue(partition).getJob(jobId) : undefined;
      const outcome = job?.returnvalue as DeprecationOutcome | null | undefined;
      if (outcome?.status === 'deprecated') return { deprecated: eventId };
      if (outcome?.status === 'failed') return sendProblem(reply, outcomeProblem(outcome.error));
      // Timed out, or the finished job is already gone from Redis: Postgres says what happened.
      const after = await findEventOwner(deps.orm.em.fork(), eventId);
      if (after?.status === 'deprecated') return { deprecated: eventId };
      throw new ApiError(
        'unavailable',
        finished
          ? `the deprecation of event ${eventId} finished without an answer; retry (a repeat is harmless).`
          : `the deprecation of event ${eventId} did not finish within ${DEPRECATION_WAIT_MS} ms; retry (a repeat is harmless).`,
      );
    },
  );
}

export function registerEventRoutes(app: FastifyInstance, deps: EventRouteDeps): void {
  registerSearch(app, deps);
  registerDeprecate(app, deps);
}
