/**
 * `POST /v1/ingest` (Orb's IngestionResponse): validates each event (shape, customer, timestamp
 * within the grace period and at most five minutes ahead), reports the bad ones in
 * `validation_failed`, and hands the good ones to the coalescer; it answers once Redis holds them.
 * Events for an external customer id that names no customer yet are kept and applied when that
 * customer is created (api/routes/customers.ts).
 *
 * With `?debug=true` the answer also lists the accepted keys (Orb's `debug`): `ingested` are those
 * new to the service, `duplicate` those the events table already held when the request came in or
 * that an earlier event of the same request carried. The worker writes events after ingest
 * answers, so a repeat sent while its first request is still queued shows as `ingested`
 * (best-effort; it is still applied once). Without debug, no lookup is made.
 */
import type { FastifyInstance } from 'fastify';
import type { Duration } from 'luxon';
import type { Clock } from '../../worker/runtime/clock.ts';
import { stringifyExactJson } from '../../worker/runtime/exactJson.ts';
import { partitionOf } from '../../worker/jobs/partition.ts';
import type { JobPayload } from '../../worker/jobs/queues.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { ApiError } from '../errors.ts';
import type { CustomerResolver } from '../customerResolver.ts';
import type { BacklogGate } from '../intake/backlogGate.ts';
import type { UsageCoalescer } from '../intake/usageCoalescer.ts';
import type { ServiceMetrics } from '../metrics.ts';
import { ingestedKeys } from '../../worker/store/ingestedKeys.ts';
import { ingestionResponseSchema } from '../wire/event.ts';
import {
  EVENTS_PER_REQUEST_MAX,
  ingestBody,
  ingestEvent,
  ingestQuery,
  type IngestEvent,
} from '../schemas/ingestRequest.ts';

const FUTURE_SKEW_MAX_MS = 5 * 60_000;

type QueuedEvent = JobPayload<'usage.apply'>['events'][number];

interface ValidationFailure {
  idempotency_key: string;
  validation_errors: string[];
}

/** Orb's `debug` answer: the accepted keys, split by whether they were seen before. */
interface IngestDebug {
  duplicate: string[];
  ingested: string[];
}

/** Splits the accepted keys (first occurrences, in request order) and the in-request repeats. */
async function debugLists(
  deps: IngestDeps,
  accepted: string[],
  repeated: string[],
): Promise<IngestDebug> {
  const known = await ingestedKeys(deps.orm.em.fork(), accepted);
  return {
    duplicate: [...accepted.filter((key) => known.has(key)), ...repeated],
    ingested: accepted.filter((key) => !known.has(key)),
  };
}

export interface IngestDeps {
  orm: Orm;
  clock: Clock;
  customers: CustomerResolver;
  coalescer: UsageCoalescer;
  partitions: number;
  gracePeriod: Duration;
  backlog: BacklogGate;
  metrics: ServiceMetrics;
}

function keyOf(raw: unknown): string {
  const key = (raw as { idempotency_key?: unknown } | null)?.idempotency_key;
  return typeof key === 'string' ? key : '';
}

function timestampProblem(timestamp: string, now: Date, grace: Duration): string | undefined {
  const at = new Date(timestamp).getTime();
  if (at < now.getTime() - grace.toMillis())
    return `timestamp ${timestamp} is older than the grace period (${grace.toISO()})`;
  if (at > now.getTime() + FUTURE_SKEW_MAX_MS)
    return `timestamp ${timestamp} is more than 5 minutes in the future`;
  return undefined;
}

/**
 * Keeps events whose external customer id names no customer yet, to apply when it does. Then
 * looks again: a customer created while this request ran may have missed them (its creation
 * applies only what was kept before it), so those events go on to their partition now. The worker
 * applies a kept event once, whichever path brings it.
 */
async function keepAwaiting(
  deps: IngestDeps,
  events: IngestEvent[],
  now: Date,
): Promise<Map<number, QueuedEvent[]>> {
  const late = new Map<number, QueuedEvent[]>();
  if (events.length === 0) return late;
  const records = events.map((event) => ({
    idempotency_key: event.idempotency_key,
    customer_id: null,
    external_customer_id: event.external_customer_id,
    event_name: event.event_name,
    timestamp: event.timestamp,
    properties: event.properties,
    status: 'awaiting_customer',
    ingested_at: now.toISOString(),
  }));
  await deps.orm.em.fork().execute(
    `insert into events (idempotency_key, customer_id, external_customer_id, event_name, timestamp, properties, status, ingested_at)
     select idempotency_key, customer_id, external_customer_id, event_name, timestamp, properties, status, ingested_at
       from jsonb_populate_recordset(null::events, ?::jsonb)
     on conflict (idempotency_key) do nothing`,
    [stringifyExactJson(records)],
  );
  for (const event of events) {
    const customer = await deps.customers
      .resolve({ externalCustomerId: event.external_customer_id ?? '' })
      .catch(() => undefined);
    if (!customer) continue;
    const partition = partitionOf(customer.id, deps.partitions);
    late.set(partition, [...(late.get(partition) ?? []), queuedEvent(event, customer)]);
  }
  return late;
}

function queuedEvent(
  event: IngestEvent,
  customer: { id: string; externalCustomerId: string | null },
): QueuedEvent {
  return {
    idempotency_key: event.idempotency_key,
    customer_id: customer.id,
    external_customer_id: customer.externalCustomerId,
    event_name: event.event_name,
    timestamp: event.timestamp,
    properties_json: stringifyExactJson(event.properties),
  };
}

export function registerIngestRoute(app: FastifyInstance, deps: IngestDeps): void {
  app.post(
    '/v1/ingest',
    {
      schema: {
        summary: 'Ingest usage events',
        tags: ['Events'],
        body: ingestBody,
        querystring: ingestQuery,
        response: { 200: ingestionResponseSchema },
      },
    },
    async (request) => {
      const { events } = request.body as { events: unknown[] };
      const { debug } = request.query as { debug: boolean };
      if (events.length > EVENTS_PER_REQUEST_MAX) {
        throw new ApiError(
          'request_too_large',
          `send at most ${EVENTS_PER_REQUEST_MAX} events per request; this one has ${events.length}.`,
        );
      }
      const now = deps.clock.now();
      const failures: ValidationFailure[] = [];
      const byPartition = new Map<number, QueuedEvent[]>();
      const awaiting: IngestEvent[] = [];
      const seen = new Set<string>();
      // For the debug answer: keys accepted (queued or kept), in request order, and their repeats.
      const acceptedKeys = new Set<string>();
      const repeated: string[] = [];
      for (const raw of events) {
        const parsed = ingestEvent.safeParse(raw);
        if (!parsed.success) {
          failures.push({
            idempotency_key: keyOf(raw),
            validation_errors: parsed.error.issues.map(
              (issue) => `${issue.path.join('.') || 'event'}: ${issue.message}`,
            ),
          });
          continue;
        }
        const event = parsed.data;
        // A key repeated within one request is one event (the first valid one), like a repeat
        // across requests.
        if (seen.has(event.idempotency_key)) {
          if (acceptedKeys.has(event.idempotency_key)) repeated.push(event.idempotency_key);
          continue;
        }
        const problem = timestampProblem(event.timestamp, now, deps.gracePeriod);
        if (problem) {
          failures.push({ idempotency_key: event.idempotency_key, validation_errors: [problem] });
          continue;
        }
        seen.add(event.idempotency_key);
        const customer = await deps.customers
          .resolve(
            event.customer_id
              ? { customerId: event.customer_id }
              : { externalCustomerId: event.external_customer_id ?? '' },
          )
          .catch((error: unknown) =>
            error instanceof ApiError && error.kind === 'resource_not_found'
              ? undefined
              : Promise.reject(error),
          );
        if (!customer) {
          if (event.customer_id)
            failures.push({
              idempotency_key: event.idempotency_key,
              validation_errors: [`customer_id ${event.customer_id} does not exist`],
            });
          else {
            awaiting.push(event);
            acceptedKeys.add(event.idempotency_key);
          }
          continue;
        }
        acceptedKeys.add(event.idempotency_key);
        const partition = partitionOf(customer.id, deps.partitions);
        const queued = byPartition.get(partition) ?? [];
        byPartition.set(partition, queued);
        queued.push(queuedEvent(event, customer));
      }
      // Before anything is kept or queued: a refused request leaves no trace. (The few kept events
      // that find their customer below go to its partition whatever its backlog.)
      await deps.backlog.admit('ingest', byPartition.keys());
      // Before the kept events below are written: they would read as duplicates of themselves.
      const debugAnswer = debug ? await debugLists(deps, [...acceptedKeys], repeated) : null;
      const accepted = [...byPartition.values()].reduce(
        (sum, queued) => sum + queued.length,
        awaiting.length,
      );
      for (const [partition, queued] of await keepAwaiting(deps, awaiting, now)) {
        byPartition.set(partition, [...(byPartition.get(partition) ?? []), ...queued]);
      }
      await Promise.all(
        [...byPartition].map(([partition, queued]) => deps.coalescer.submit(partition, queued)),
      );
      deps.metrics.countEvents('accepted', accepted);
      deps.metrics.countEvents('rejected', failures.length);
      return { validation_failed: failures, debug: debugAnswer };
    },
  );
}
