/**
 * `POST /v1/ingest` (Orb's IngestionResponse): validates each event (shape, customer, timestamp
 * within the grace period and at most five minutes ahead), reports the bad ones in
 * `validation_failed`, writes the good ones to Postgres in one statement and rings their
 * partitions' workers (api/intake/usageCoalescer.ts). A 200 means every accepted event is in
 * Postgres: losing Redis afterwards loses none of them (the stranded sweep rings again). Events
 * for an external customer id that names no customer yet are kept and applied when that customer
 * is created (api/routes/customers.ts).
 *
 * The body is read here without exact numbers (a plain `JSON.parse`, several times cheaper than
 * the service's exact reader): nothing here needs a property's value, and Postgres reads the
 * properties from the request's own text, digit for digit.
 *
 * With `?debug=true` the answer also lists the accepted keys (Orb's `debug`): `ingested` are those
 * this request wrote, `duplicate` those the events table already held or that an earlier event of
 * the same request carried. The write answers which is which, so the lists are exact.
 */
import type { FastifyInstance } from 'fastify';
import type { Duration } from 'luxon';
import type { Clock } from '../../worker/runtime/clock.ts';
import { parseExactJson, stringifyExactJson } from '../../worker/runtime/exactJson.ts';
import { partitionOf } from '../../worker/jobs/partition.ts';
import type { Orm } from '../../worker/store/orm.ts';
import {
  acceptAwaitingKeys,
  acceptedSeqNow,
  acceptEvents,
  acceptEventsTellingUnmatched,
  type AcceptedEventSpec,
} from '../../worker/store/acceptedEvents.ts';
import { WEBHOOK_EVENTS_CHANNEL, type WebhookEventDraft } from '../../worker/jobs/webhookEvents.ts';
import { newId } from '../../worker/runtime/ids.ts';
import { renderWebhookEvent } from '../wire/webhookEvent.ts';
import { ApiError } from '../errors.ts';
import type { CustomerKey, CustomerPath, CustomerResolver } from '../customerResolver.ts';
import type { BacklogGate } from '../intake/backlogGate.ts';
import type { UsageCoalescer } from '../intake/usageCoalescer.ts';
import type { ServiceMetrics } from '../metrics.ts';
import { ingestionResponseSchema } from '../wire/event.ts';
import {
  EVENTS_PER_REQUEST_MAX,
  ingestBody,
  ingestEventProblems,
  ingestQuery,
  readIngestEvent,
  type CheckedEvent,
} from '../schemas/ingestRequest.ts';

const FUTURE_SKEW_MAX_MS = 5 * 60_000;

/** A `\uD800`–`\uDFFF` escape: text Postgres's jsonb may refuse (a lone surrogate). */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

interface ValidationFailure {
  idempotency_key: string;
  validation_errors: string[];
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
  const at = Date.parse(timestamp);
  if (at < now.getTime() - grace.toMillis())
    return `timestamp ${timestamp} is older than the grace period (${grace.toISO()})`;
  if (at > now.getTime() + FUTURE_SKEW_MAX_MS)
    return `timestamp ${timestamp} is more than 5 minutes in the future`;
  return undefined;
}

const pathOf = (event: CheckedEvent): CustomerPath =>
  event.customer_id
    ? { customerId: event.customer_id }
    : { externalCustomerId: event.external_customer_id ?? '' };

/** Each customer a request names, resolved once; undefined for one that does not exist. */
async function resolveCustomers(
  deps: IngestDeps,
  events: CheckedEvent[],
): Promise<Map<string, CustomerKey | undefined>> {
  const pending = new Map<string, Promise<CustomerKey | undefined>>();
  for (const event of events) {
    const path = pathOf(event);
    const key = 'customerId' in path ? `id:${path.customerId}` : `ext:${path.externalCustomerId}`;
    if (!pending.has(key)) pending.set(key, resolveOrUndefined(deps, path));
  }
  const resolved = new Map<string, CustomerKey | undefined>();
  for (const [key, customer] of pending) resolved.set(key, await customer);
  return resolved;
}

const resolveOrUndefined = (deps: IngestDeps, path: CustomerPath) =>
  deps.customers
    .resolve(path)
    .catch((error: unknown) =>
      error instanceof ApiError && error.kind === 'resource_not_found'
        ? undefined
        : Promise.reject(error),
    );

/**
 * The JSON text Postgres reads the properties from: the request's own, unless it holds what jsonb
 * may refuse (a surrogate escape, in any event) or events that failed (their content was never
 * checked). Then the accepted events' properties alone, written exactly.
 */
function propertiesText(rawBody: string, accepted: AcceptedEventSpec[], clean: boolean): string {
  if (clean && !SURROGATE_ESCAPE.test(rawBody)) return rawBody;
  const { events } = parseExactJson(rawBody) as { events: { properties: unknown }[] };
  const kept: ({ properties: unknown } | null)[] = events.map(() => null);
  for (const spec of accepted) kept[spec.index] = { properties: events[spec.index]!.properties };
  return stringifyExactJson({ events: kept });
}

/**
 * Gives the events kept by this request their customer when it was created while the request
 * ran (its creation accepts only what was kept before it): answers the customers that now have
 * events accepted, and the highest place in line given. Only events still kept change, so the
 * creation and this never both accept one.
 */
async function acceptLateCustomers(
  deps: IngestDeps,
  kept: AcceptedEventSpec[],
): Promise<{ customerIds: string[]; acceptedSeqMax: string | null }> {
  const byExternalId = new Map<string, string[]>();
  for (const spec of kept) {
    const id = spec.externalCustomerId ?? '';
    byExternalId.set(id, [...(byExternalId.get(id) ?? []), spec.idempotencyKey]);
  }
  const customerIds: string[] = [];
  let acceptedSeqMax: string | null = null;
  for (const [externalCustomerId, keys] of byExternalId) {
    const customer = await resolveOrUndefined(deps, { externalCustomerId });
    if (!customer) continue;
    const accepted = await acceptAwaitingKeys(deps.orm.em.fork(), keys, customer.id);
    if (accepted.acceptedSeqMax === null) continue;
    customerIds.push(customer.id);
    acceptedSeqMax = maxOf(acceptedSeqMax, accepted.acceptedSeqMax);
  }
  return { customerIds, acceptedSeqMax };
}

const maxOf = (a: string | null, b: string | null): string | null =>
  a === null ? b : b === null ? a : BigInt(a) >= BigInt(b) ? a : b;

/** The external ids this request's kept events name (no customer has them yet), each once. */
function unmatchedExternalIds(accepted: readonly AcceptedEventSpec[]): string[] {
  const ids = new Set<string>();
  for (const spec of accepted)
    if (spec.customerId === null && spec.externalCustomerId !== null)
      ids.add(spec.externalCustomerId);
  return [...ids];
}

/**
 * Orb's `ingestion.unmatched_customer_ids`, rendered now and written with the events (only if one
 * of them is new): a receiver learns that usage is waiting for a customer it has not created.
 */
function unmatchedEvent(externalCustomerIds: string[], now: Date): { id: string; body: string } {
  const id = newId();
  const draft: WebhookEventDraft = {
    id,
    createdAt: now,
    customerId: null,
    ledgerSequenceNumber: null,
    facts: { type: 'ingestion.unmatched_customer_ids', customerIds: [], externalCustomerIds },
  };
  return { id, body: renderWebhookEvent(draft, {}) };
}

/** One job per partition, naming its customers; answers once Redis holds them all. */
async function ring(deps: IngestDeps, customerIds: Iterable<string>, throughSeq: string) {
  const byPartition = new Map<number, Set<string>>();
  for (const customerId of customerIds) {
    const partition = partitionOf(customerId, deps.partitions);
    const named = byPartition.get(partition) ?? new Set<string>();
    byPartition.set(partition, named.add(customerId));
  }
  await Promise.all(
    [...byPartition].map(([partition, named]) => deps.coalescer.ring(partition, named, throughSeq)),
  );
}

export function registerIngestRoute(app: FastifyInstance, deps: IngestDeps): void {
  // A scope of its own for its body reader; the service's hooks and error handler still apply.
  void app.register(async (scope) => {
    scope.removeContentTypeParser(['application/json']);
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      request.rawBody = text;
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch (error) {
        done(
          ApiError.validation(`the body is not valid JSON: ${(error as Error).message}`),
          undefined,
        );
      }
    });
    scope.post(
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
        const checked: { index: number; event: CheckedEvent }[] = [];
        const seen = new Set<string>();
        const repeated: string[] = [];
        for (let index = 0; index < events.length; index += 1) {
          const raw = events[index];
          const event = readIngestEvent(raw);
          if (!event) {
            failures.push({
              idempotency_key: keyOf(raw),
              validation_errors: ingestEventProblems(raw),
            });
            continue;
          }
          // A key repeated within one request is one event (the first valid one), like a repeat
          // across requests.
          if (seen.has(event.idempotency_key)) {
            repeated.push(event.idempotency_key);
            continue;
          }
          const problem = timestampProblem(event.timestamp, now, deps.gracePeriod);
          if (problem) {
            failures.push({ idempotency_key: event.idempotency_key, validation_errors: [problem] });
            continue;
          }
          seen.add(event.idempotency_key);
          checked.push({ index, event });
        }
        const customers = await resolveCustomers(
          deps,
          checked.map(({ event }) => event),
        );
        const accepted: AcceptedEventSpec[] = [];
        const named = new Set<string>();
        for (const { index, event } of checked) {
          const path = pathOf(event);
          const customer = customers.get(
            'customerId' in path ? `id:${path.customerId}` : `ext:${path.externalCustomerId}`,
          );
          if (!customer && event.customer_id) {
            failures.push({
              idempotency_key: event.idempotency_key,
              validation_errors: [`customer_id ${event.customer_id} does not exist`],
            });
            continue;
          }
          if (customer) named.add(customer.id);
          accepted.push({
            index,
            idempotencyKey: event.idempotency_key,
            customerId: customer?.id ?? null,
            externalCustomerId: customer
              ? customer.externalCustomerId
              : (event.external_customer_id ?? null),
            eventName: event.event_name,
            timestamp: event.timestamp,
          });
        }
        const acceptedKeys = new Set(accepted.map((spec) => spec.idempotencyKey));
        // Before anything is written: a refused request leaves no trace. (Kept events that find
        // their customer below go to its partition whatever its backlog.)
        const partitions = [...named].map((customerId) => partitionOf(customerId, deps.partitions));
        deps.coalescer.assertRingable(partitions);
        await deps.backlog.admit('ingest', partitions);
        const text = propertiesText(request.rawBody ?? '', accepted, failures.length === 0);
        const unmatched = unmatchedExternalIds(accepted);
        const written =
          unmatched.length === 0
            ? await acceptEvents(deps.orm.em.fork(), text, accepted, now)
            : await acceptEventsTellingUnmatched(deps.orm.em.fork(), text, accepted, now, {
                ...unmatchedEvent(unmatched, now),
                channel: WEBHOOK_EVENTS_CHANNEL,
              });
        const late = await acceptLateCustomers(
          deps,
          accepted.filter(
            (spec) => spec.customerId === null && written.inserted.has(spec.idempotencyKey),
          ),
        );
        for (const customerId of late.customerIds) named.add(customerId);
        if (named.size > 0) {
          // Events all here already (a retry after a 503) still need their ring: any place in
          // line drawn now is after theirs.
          const throughSeq =
            maxOf(written.acceptedSeqMax, late.acceptedSeqMax) ??
            (await acceptedSeqNow(deps.orm.em.fork()));
          await ring(deps, named, throughSeq);
        }
        deps.metrics.countEvents('accepted', accepted.length);
        deps.metrics.countEvents('rejected', failures.length);
        // Known here now (the write says which keys were new); the worker never sees a repeat.
        deps.metrics.countEvents('duplicate', accepted.length - written.inserted.size);
        const debugAnswer = debug
          ? {
              duplicate: [
                ...[...acceptedKeys].filter((key) => !written.inserted.has(key)),
                ...repeated.filter((key) => acceptedKeys.has(key)),
              ],
              ingested: [...acceptedKeys].filter((key) => written.inserted.has(key)),
            }
          : null;
        return { validation_failed: failures, debug: debugAnswer };
      },
    );
  });
}
