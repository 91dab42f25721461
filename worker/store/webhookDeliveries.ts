/**
 * Webhook deliveries in Postgres (Migration20261203080000_webhookDelivery): the statements of the
 * delivery loop (worker/delivery/deliveryLoop.ts) and of the endpoints API's delivery log.
 *
 * - Deliveries are made with their events, in the writing transaction (webhookEvents.ts
 *   `deliveriesOf`); their own `seq` orders each (endpoint, chain).
 * - A claim takes the heads of chains (each chain's lowest pending `seq`) that are due and not
 *   leased, re-checking both on the row it locks, so two processes never send the same head at
 *   once and never the second event of a chain before the first is done.
 * - Only the holder of a claim's token marks its attempt: a sender that overran its lease (and
 *   whose delivery was claimed again) changes nothing.
 *
 * Every instant is the database's (`clock_timestamp()`), the same for every process.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

type Instant = Date | string;
const iso = (value: Instant | null) => (value === null ? null : new Date(value).toISOString());

export interface ClaimedDelivery {
  id: string;
  endpointId: string;
  leaseToken: string;
  /** This attempt's number, from 1. */
  attempt: number;
  eventId: string;
  eventType: string;
  /** When the event was written (the database's time): the lag is measured from it. */
  eventWrittenAt: Date;
  body: string;
}

/**
 * The head of every chain with something pending (its lowest pending `seq`), found by skipping
 * from chain to chain along the pending index — two index probes per chain, however long the
 * backlog behind each head (reading every pending delivery, as `distinct on` does, grew with an
 * endpoint's outage). Chains of disabled endpoints are left out.
 */
const CHAIN_HEADS = `recursive chains (endpoint_id, chain) as (
       (select d.endpoint_id, d.chain from webhook_deliveries d where d.status = 'pending'
         order by d.endpoint_id, d.chain, d.seq limit 1)
       union all
       select n.endpoint_id, n.chain from chains c cross join lateral (
         select d.endpoint_id, d.chain from webhook_deliveries d
          where d.status = 'pending' and (d.endpoint_id, d.chain) > (c.endpoint_id, c.chain)
          order by d.endpoint_id, d.chain, d.seq limit 1) n
     ), heads as (
       select h.id, h.next_attempt_at, h.leased_until
         from chains c join webhook_endpoints p on p.id = c.endpoint_id and p.enabled
         cross join lateral (
           select d.id, d.next_attempt_at, d.leased_until from webhook_deliveries d
            where d.status = 'pending' and d.endpoint_id = c.endpoint_id and d.chain = c.chain
            order by d.seq limit 1) h
     )`;

/** What a claim answers of each delivery it took. */
const CLAIMED_COLUMNS = `d.id, d.endpoint_id, d.attempts, e.id as event_id, e.type as event_type,
                e.written_at as event_written_at, e.body`;

/** Takes a delivery for `?` ms with the token `?`: re-checked on the row it locks. */
const TAKE = `set leased_until = clock_timestamp() + ? * interval '1 millisecond', lease_token = ?,
            attempts = d.attempts + 1, last_attempt_at = clock_timestamp()`;

interface ClaimedRow {
  id: string;
  endpoint_id: string;
  attempts: number;
  event_id: string;
  event_type: string;
  event_written_at: Instant;
  body: string;
}

function toClaimed(row: ClaimedRow, leaseToken: string): ClaimedDelivery {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    leaseToken,
    attempt: row.attempts,
    eventId: row.event_id,
    eventType: row.event_type,
    eventWrittenAt: new Date(row.event_written_at),
    body: row.body,
  };
}

/** Claims up to `limit` due chain heads for `leaseMs`; answers them with their bodies. */
export async function claimDeliveryHeads(
  em: EntityManager,
  limit: number,
  leaseMs: number,
  leaseToken: string,
): Promise<ClaimedDelivery[]> {
  const rows = await em.execute<ClaimedRow[]>(
    `with ${CHAIN_HEADS}, due as (
       select id from heads
        where next_attempt_at <= clock_timestamp()
          and (leased_until is null or leased_until < clock_timestamp())
        order by next_attempt_at limit ?
     )
     update webhook_deliveries d ${TAKE}
       from due, webhook_events e
      where d.id = due.id and e.seq = d.event_seq and d.status = 'pending'
        and (d.leased_until is null or d.leased_until < clock_timestamp())
      returning ${CLAIMED_COLUMNS}`,
    [limit, leaseMs, leaseToken],
  );
  return rows.map((row) => toClaimed(row, leaseToken));
}

export interface AttemptResult {
  responseCode: number | null;
  latencyMs: number;
  /** Null on success. */
  error: string | null;
}

/**
 * Marks a claimed delivery delivered and, in the same statement, claims the next delivery of its
 * chain when it is due (its new head): a busy chain goes on from send to send without a search for
 * heads. Answers whether the claim still held (false: nothing changed) and the next delivery, if
 * one was taken. The next is looked for past the delivered one's `seq`, since the statement's
 * snapshot still shows that one pending.
 */
export async function markDeliveredAndClaimNext(
  em: EntityManager,
  claim: Pick<ClaimedDelivery, 'id' | 'leaseToken'>,
  attempt: AttemptResult,
  next: { leaseMs: number; leaseToken: string },
): Promise<{ marked: boolean; next: ClaimedDelivery | null }> {
  const rows = await em.execute<(Partial<ClaimedRow> & { marked: number })[]>(
    `with done as (
       update webhook_deliveries
          set status = 'delivered', leased_until = null, lease_token = null,
              delivered_at = clock_timestamp(), last_response_code = ?, last_latency_ms = ?,
              last_error = null
        where id = ? and lease_token = ? returning endpoint_id, chain, seq
     ), following as (
       select d.id from done
        join webhook_endpoints p on p.id = done.endpoint_id and p.enabled
        cross join lateral (
          select d.id from webhook_deliveries d
           where d.status = 'pending' and d.endpoint_id = done.endpoint_id
             and d.chain = done.chain and d.seq > done.seq
           order by d.seq limit 1) d
     ), taken as (
       update webhook_deliveries d ${TAKE}
         from following, webhook_events e
        where d.id = following.id and e.seq = d.event_seq and d.status = 'pending'
          and d.next_attempt_at <= clock_timestamp()
          and (d.leased_until is null or d.leased_until < clock_timestamp())
        returning ${CLAIMED_COLUMNS}
     )
     select (select count(*) from done)::int as marked, taken.*
       from (select 1) as once left join taken on true`,
    [
      attempt.responseCode,
      Math.round(attempt.latencyMs),
      claim.id,
      claim.leaseToken,
      next.leaseMs,
      next.leaseToken,
    ],
  );
  const [row] = rows;
  const taken = row?.id ? toClaimed(row as ClaimedRow, next.leaseToken) : null;
  return { marked: (row?.marked ?? 0) > 0, next: taken };
}

/**
 * Records a failed attempt: the delivery is tried again after `retryDelayMs`, or becomes `failed`
 * once its retry window (`windowMs` from `window_started_at`) has passed. Answers the new status,
 * or null when the claim was lost.
 */
export async function markAttemptFailed(
  em: EntityManager,
  claim: Pick<ClaimedDelivery, 'id' | 'leaseToken'>,
  attempt: AttemptResult,
  retryDelayMs: number,
  windowMs: number,
): Promise<'pending' | 'failed' | null> {
  const [row] = await em.execute<{ status: 'pending' | 'failed' }[]>(
    `update webhook_deliveries
        set status = case when clock_timestamp() >= window_started_at + ? * interval '1 millisecond'
                          then 'failed' else 'pending' end,
            next_attempt_at = clock_timestamp() + ? * interval '1 millisecond',
            leased_until = null, lease_token = null,
            last_response_code = ?, last_latency_ms = ?, last_error = ?
      where id = ? and lease_token = ? returning status`,
    [
      windowMs,
      retryDelayMs,
      attempt.responseCode,
      Math.round(attempt.latencyMs),
      attempt.error,
      claim.id,
      claim.leaseToken,
    ],
  );
  return row?.status ?? null;
}

/**
 * When the next chain head can be claimed, if any (to sleep until then): its next attempt, or the
 * end of its lease when a process holds it. Deliveries behind a head are not due, whatever their
 * `next_attempt_at`.
 */
export async function nextDueAt(em: EntityManager): Promise<Date | null> {
  const [row] = await em.execute<{ at: Instant | null }[]>(
    `with ${CHAIN_HEADS}
     select min(greatest(next_attempt_at, coalesce(leased_until, next_attempt_at))) as at from heads`,
  );
  return row?.at ? new Date(row.at) : null;
}

export interface DeliveryRecord {
  id: string;
  eventId: string;
  eventType: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  responseCode: number | null;
  latencyMs: number | null;
  error: string | null;
  deliveredAt: string | null;
  createdAt: string;
  /** The keyset of the log (newest first). */
  seq: string;
}

interface DeliverySqlRow {
  id: string;
  seq: string;
  event_id: string;
  event_type: string;
  status: DeliveryRecord['status'];
  attempts: number;
  next_attempt_at: Instant;
  last_attempt_at: Instant | null;
  last_response_code: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  delivered_at: Instant | null;
  created_at: Instant;
}

const DELIVERY_COLUMNS = `d.id, d.seq::text as seq, e.id as event_id, e.type as event_type, d.status,
  d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_response_code, d.last_latency_ms,
  d.last_error, d.delivered_at, d.created_at`;

function toDelivery(row: DeliverySqlRow): DeliveryRecord {
  return {
    id: row.id,
    seq: row.seq,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? iso(row.next_attempt_at) : null,
    lastAttemptAt: iso(row.last_attempt_at),
    responseCode: row.last_response_code,
    latencyMs: row.last_latency_ms,
    error: row.last_error,
    deliveredAt: iso(row.delivered_at),
    createdAt: iso(row.created_at)!,
  };
}

/** An endpoint's deliveries, newest first, up to `limit + 1` rows before `beforeSeq`. */
export async function listDeliveries(
  em: EntityManager,
  endpointId: string,
  query: { limit: number; beforeSeq?: string; status?: DeliveryRecord['status'] },
): Promise<DeliveryRecord[]> {
  const rows = await em.execute<DeliverySqlRow[]>(
    `select ${DELIVERY_COLUMNS} from webhook_deliveries d join webhook_events e on e.seq = d.event_seq
      where d.endpoint_id = ? and (?::bigint is null or d.seq < ?::bigint)
        and (?::text is null or d.status = ?::text)
      order by d.seq desc limit ?`,
    [
      endpointId,
      query.beforeSeq ?? null,
      query.beforeSeq ?? null,
      query.status ?? null,
      query.status ?? null,
      query.limit + 1,
    ],
  );
  return rows.map(toDelivery);
}

export async function findDelivery(
  em: EntityManager,
  endpointId: string,
  deliveryId: string,
): Promise<DeliveryRecord | null> {
  const [row] = await em.execute<DeliverySqlRow[]>(
    `select ${DELIVERY_COLUMNS} from webhook_deliveries d join webhook_events e on e.seq = d.event_seq
      where d.endpoint_id = ? and d.id = ?`,
    [endpointId, deliveryId],
  );
  return row ? toDelivery(row) : null;
}

/**
 * Sends finished deliveries again: each goes back to `pending` at the end of its chain (a new
 * `seq`, in their old order), due now, with a new retry window and the same event and body. A
 * pending delivery is left as it is. Answers how many were queued again.
 */
export async function redeliver(
  em: EntityManager,
  endpointId: string,
  which: { deliveryId: string } | { status: 'failed' },
): Promise<number> {
  const rows = await em.execute<{ id: string }[]>(
    `update webhook_deliveries d
        set seq = n.seq, status = 'pending', next_attempt_at = clock_timestamp(),
            window_started_at = clock_timestamp(), leased_until = null, lease_token = null,
            delivered_at = null
       from (select o.id, nextval(pg_get_serial_sequence('webhook_deliveries', 'seq')) as seq
               from (select id from webhook_deliveries
                      where endpoint_id = ? and status <> 'pending'
                        and (?::text is null or id = ?::text) and (?::text is null or status = ?::text)
                      order by seq) o) n
      where d.id = n.id returning d.id`,
    [
      endpointId,
      'deliveryId' in which ? which.deliveryId : null,
      'deliveryId' in which ? which.deliveryId : null,
      'status' in which ? which.status : null,
      'status' in which ? which.status : null,
    ],
  );
  return rows.length;
}

/** Scrape-time figures: pending deliveries and the age of the oldest one's event (the lag). */
export async function deliveryBacklog(
  em: EntityManager,
): Promise<{ pending: number; failed: number; oldestPendingSeconds: number }> {
  const [row] = await em.execute<
    { pending: number; failed: number; oldest_seconds: number | string | null }[]
  >(
    // Each part reads a partial index of its own status, never the delivered history (scraped
    // every few seconds, while a month of delivered records may be kept).
    `select (select count(*) from webhook_deliveries where status = 'pending')::int as pending,
            (select count(*) from webhook_deliveries where status = 'failed')::int as failed,
            (select extract(epoch from clock_timestamp() - e.written_at) from webhook_events e
              where e.seq = (select min(event_seq) from webhook_deliveries where status = 'pending')
            )::float8 as oldest_seconds`,
  );
  return {
    pending: row?.pending ?? 0,
    failed: row?.failed ?? 0,
    oldestPendingSeconds: Number(row?.oldest_seconds ?? 0),
  };
}

/**
 * Deletes up to `batch` events written before `before` (and, by cascade, their delivery records)
 * that no delivery still waits to send; answers how many.
 */
export async function deleteWebhookEventsBefore(
  em: EntityManager,
  before: Date,
  batch: number,
): Promise<number> {
  const rows = await em.execute<{ deleted: number }[]>(
    `with doomed as (
       select e.seq from webhook_events e
        where e.created_at < ?
          and not exists (select 1 from webhook_deliveries d where d.event_seq = e.seq and d.status = 'pending')
        order by e.created_at
        limit ?
        for update of e skip locked
     ), deleted as (
       delete from webhook_events e using doomed d where e.seq = d.seq returning 1
     )
     select count(*)::int as deleted from deleted`,
    [before, batch],
  );
  return rows[0]?.deleted ?? 0;
}

/** One endpoint's deliveries at a glance, for the dashboard's webhook page. */
export interface EndpointBacklog {
  endpointId: string;
  url: string;
  description: string | null;
  enabled: boolean;
  pending: number;
  failed: number;
  oldestPendingAt: Date | null;
  lastDeliveredAt: Date | null;
  /** The latest attempt that failed, of a delivery still pending or failed. */
  lastError: string | null;
  lastResponseCode: number | null;
}

/**
 * Every endpoint with its pending and failed counts (their partial indexes), its oldest pending
 * delivery, its last delivery and its latest error; the delivered history is not counted.
 */
export async function endpointBacklogs(em: EntityManager): Promise<EndpointBacklog[]> {
  const rows = await em.execute<
    {
      id: string;
      url: string;
      description: string | null;
      enabled: boolean;
      pending: number;
      failed: number;
      oldest_pending_at: Instant | null;
      last_delivered_at: Instant | null;
      last_error: string | null;
      last_response_code: number | null;
    }[]
  >(
    `select p.id, p.url, p.description, p.enabled,
            (select count(*) from webhook_deliveries d
              where d.endpoint_id = p.id and d.status = 'pending')::int as pending,
            (select count(*) from webhook_deliveries d
              where d.endpoint_id = p.id and d.status = 'failed')::int as failed,
            (select min(d.created_at) from webhook_deliveries d
              where d.endpoint_id = p.id and d.status = 'pending') as oldest_pending_at,
            (select d.delivered_at from webhook_deliveries d
              where d.endpoint_id = p.id and d.status = 'delivered'
              order by d.seq desc limit 1) as last_delivered_at,
            w.last_error, w.last_response_code
       from webhook_endpoints p
       left join lateral (
         select d.last_error, d.last_response_code from webhook_deliveries d
          where d.endpoint_id = p.id and d.status in ('pending', 'failed')
            and d.last_attempt_at is not null
          order by d.last_attempt_at desc limit 1) w on true
      order by p.created_at, p.id`,
  );
  return rows.map((row) => ({
    endpointId: row.id,
    url: row.url,
    description: row.description,
    enabled: row.enabled,
    pending: row.pending,
    failed: row.failed,
    oldestPendingAt: row.oldest_pending_at === null ? null : new Date(row.oldest_pending_at),
    lastDeliveredAt: row.last_delivered_at === null ? null : new Date(row.last_delivered_at),
    lastError: row.last_error,
    lastResponseCode: row.last_response_code,
  }));
}
