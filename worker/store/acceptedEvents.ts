/**
 * Accepting usage events (the api's side of the events table): what `POST /v1/ingest` writes
 * before it answers, what a customer's creation does to the events kept for it, and what the
 * stranded sweep looks for. An event is `accepted` once it is here for its customer, with its
 * place in line (`accepted_seq`); the worker applies it later (usageRepository.ts). An event whose
 * external customer id names no customer yet is kept as `awaiting_customer`, without a place,
 * until that customer exists.
 *
 * Properties are written from the request's own JSON text, so Postgres reads every number digit
 * for digit (jsonb keeps numeric) and the api never builds exact numbers for them.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { queryPrepared } from './queryPrepared.ts';
import { deliveriesOf } from './webhookEvents.ts';

/** One event to write, as the api validated it. */
export interface AcceptedEventSpec {
  /** Its index in the request body's `events`: where its properties are read from. */
  index: number;
  idempotencyKey: string;
  /** Null: kept for its external id, which names no customer yet. */
  customerId: string | null;
  externalCustomerId: string | null;
  eventName: string;
  /** Canonical UTC instant. */
  timestamp: string;
}

export interface AcceptResult {
  /** The keys this statement wrote; the others were here already (Orb's `duplicate`). */
  inserted: Set<string>;
  /** The highest place in line it gave (decimal text), or null when it gave none. */
  acceptedSeqMax: string | null;
}

/** The insert both accepts share: the events not seen before, in request order. */
const INSERT_EVENTS = `insert into events (idempotency_key, customer_id, external_customer_id, event_name,
                        timestamp, properties, status, ingested_at, accepted_seq)
     select s.k, s.c, s.x, s.n, s.t, b.events -> s.i -> 'properties',
            case when s.c is null then 'awaiting_customer' else 'accepted' end, ?::timestamptz,
            case when s.c is null then null else nextval('events_accepted_seq') end
       from jsonb_to_recordset(?::jsonb) as s(i int, k text, c text, x text, n text, t timestamptz),
            (select ?::jsonb -> 'events' as events) as b
      order by s.i
     on conflict (idempotency_key) do nothing`;

function insertParams(body: string, events: AcceptedEventSpec[], now: Date): unknown[] {
  return [
    now.toISOString(),
    JSON.stringify(
      events.map((event) => ({
        i: event.index,
        k: event.idempotencyKey,
        c: event.customerId,
        x: event.externalCustomerId,
        n: event.eventName,
        t: event.timestamp,
      })),
    ),
    body,
  ];
}

function acceptResult(rows: { idempotency_key: string; accepted_seq: string | null }[]) {
  return {
    inserted: new Set(rows.map((row) => row.idempotency_key)),
    acceptedSeqMax: maxSeq(rows.map((row) => row.accepted_seq)),
  };
}

/**
 * Writes the events not seen before in one statement, in request order: `accepted` with the next
 * places in line, or `awaiting_customer`. A repeated key is left as it is (each key is one event).
 * `body` is the JSON text holding them as `{"events": [...]}`, indexed by `index`.
 */
export async function acceptEvents(
  em: EntityManager,
  body: string,
  events: AcceptedEventSpec[],
  now: Date,
): Promise<AcceptResult> {
  if (events.length === 0) return { inserted: new Set(), acceptedSeqMax: null };
  const rows = await queryPrepared<{ idempotency_key: string; accepted_seq: string | null }>(
    em,
    `${INSERT_EVENTS} returning idempotency_key, accepted_seq`,
    insertParams(body, events, now),
  );
  return acceptResult(rows);
}

/**
 * `acceptEvents` for a request some of whose events name an external id that matches no customer
 * yet: the same insert, and in the same statement (so in its transaction) the
 * `ingestion.unmatched_customer_ids` event `told` — written only when at least one such event was
 * new, so a retried request tells nothing again — with the notification that wakes the delivery
 * loop. `told.body` is rendered by the caller.
 */
export async function acceptEventsTellingUnmatched(
  em: EntityManager,
  body: string,
  events: AcceptedEventSpec[],
  now: Date,
  told: { id: string; body: string; channel: string },
): Promise<AcceptResult> {
  if (events.length === 0) return { inserted: new Set(), acceptedSeqMax: null };
  const rows = await em.execute<{ idempotency_key: string; accepted_seq: string | null }[]>(
    `with inserted as (
       ${INSERT_EVENTS}
       returning idempotency_key, accepted_seq::text as accepted_seq, status),
     told as (
       insert into webhook_events (id, type, customer_id, ledger_sequence_number, created_at, body)
       select ?, 'ingestion.unmatched_customer_ids', null, null, ?::timestamptz, ?
        where exists (select 1 from inserted where status = 'awaiting_customer')
       returning seq, type, customer_id, target_endpoint_id),
     delivered as (${deliveriesOf('told')} returning 1),
     woken as (select pg_notify(?, '') from (select 1) as once where exists (select 1 from delivered))
     select idempotency_key, accepted_seq, (select count(*) from woken) as woken from inserted`,
    [...insertParams(body, events, now), told.id, now.toISOString(), told.body, told.channel],
  );
  return acceptResult(rows);
}

/**
 * A place in line after every event accepted so far: a job carrying it applies them all. For a
 * request whose events were all here already (a retry after a 503): they still need a ring.
 */
export async function acceptedSeqNow(em: EntityManager): Promise<string> {
  const [row] = await queryPrepared<{ seq: string }>(
    em,
    `select nextval('events_accepted_seq')::text as seq`,
    [],
  );
  if (!row) throw new Error('no value from events_accepted_seq');
  return row.seq;
}

/**
 * Gives the kept events of this external id their customer and a place in line, oldest first
 * (at most `limit`, and only those at or after `since`: older ones stay kept, unapplied). Only
 * events still kept are changed, so whichever of a customer's creation and a racing ingest runs
 * second changes nothing. Answers the keys changed and the highest place given.
 */
export async function acceptAwaitingEvents(
  em: EntityManager,
  externalCustomerId: string,
  customerId: string,
  since: Date,
  limit: number,
): Promise<{ keys: string[]; acceptedSeqMax: string | null }> {
  const rows = await em.execute<{ idempotency_key: string; accepted_seq: string }[]>(
    `update events e set customer_id = ?, status = 'accepted', accepted_seq = w.seq, applied_at = null
       from (select idempotency_key, nextval('events_accepted_seq') as seq
               from (select idempotency_key, timestamp from events
                      where status = 'awaiting_customer' and external_customer_id = ? and timestamp >= ?
                      order by timestamp, idempotency_key limit ?) as kept
              order by kept.timestamp, kept.idempotency_key) as w
      where e.idempotency_key = w.idempotency_key and e.status = 'awaiting_customer'
      returning e.idempotency_key, e.accepted_seq::text as accepted_seq`,
    [customerId, externalCustomerId, since, limit],
  );
  return {
    keys: rows.map((row) => row.idempotency_key),
    acceptedSeqMax: maxSeq(rows.map((row) => row.accepted_seq)),
  };
}

/** Like `acceptAwaitingEvents`, for named keys: the ones an ingest kept while their customer appeared. */
export async function acceptAwaitingKeys(
  em: EntityManager,
  keys: string[],
  customerId: string,
): Promise<{ keys: string[]; acceptedSeqMax: string | null }> {
  if (keys.length === 0) return { keys: [], acceptedSeqMax: null };
  const rows = await em.execute<{ idempotency_key: string; accepted_seq: string }[]>(
    `update events e set customer_id = ?, status = 'accepted', accepted_seq = w.seq, applied_at = null
       from (select idempotency_key, nextval('events_accepted_seq') as seq
               from jsonb_array_elements_text(?::jsonb) with ordinality as k(idempotency_key, position)
              order by position) as w
      where e.idempotency_key = w.idempotency_key and e.status = 'awaiting_customer'
      returning e.idempotency_key, e.accepted_seq::text as accepted_seq`,
    [customerId, JSON.stringify(keys)],
  );
  return {
    keys: rows.map((row) => row.idempotency_key),
    acceptedSeqMax: maxSeq(rows.map((row) => row.accepted_seq)),
  };
}

export interface StrandedCustomer {
  customerId: string;
  /** Decimal text: the last place in line of its waiting events. */
  acceptedSeqMax: string;
}

/**
 * Customers with events accepted before `acceptedBefore` and still not applied: their job is
 * gone (Redis lost it) or far behind. Oldest first, at most `limit`.
 */
export async function strandedEventCustomers(
  em: EntityManager,
  acceptedBefore: Date,
  limit: number,
): Promise<StrandedCustomer[]> {
  const rows = await em.execute<{ customer_id: string; seq: string }[]>(
    `select customer_id, max(accepted_seq)::text as seq from events
      where status = 'accepted' and ingested_at < ?
      group by customer_id order by min(accepted_seq) limit ?`,
    [acceptedBefore, limit],
  );
  return rows.map((row) => ({ customerId: row.customer_id, acceptedSeqMax: row.seq }));
}

function maxSeq(values: (string | null)[]): string | null {
  let max: bigint | null = null;
  for (const value of values) {
    if (value === null) continue;
    const seq = BigInt(value);
    if (max === null || seq > max) max = seq;
  }
  return max === null ? null : max.toString();
}
