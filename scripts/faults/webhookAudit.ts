/**
 * After the webhooks fault: did the receiver get everything the outbox holds for its endpoint,
 * verified, unchanged and in order? Read straight from Postgres against what the receiver kept
 * (scripts/faults/webhookReceiver.ts).
 *
 * - `waitForOutbox`: first, every delivery of the endpoint is `delivered` (bounded wait); a
 *   `failed` one (its retry window passed) is a problem at once.
 * - Every `webhook_events` row meant for the endpoint (every type: WEBHOOK_URL's endpoint takes
 *   them all; not another endpoint's test event) has its delivery and was received at least once,
 *   with exactly the stored body, every copy the same; every body verified with the SDK's `unwrap`
 *   at its receipt; nothing was received that the outbox does not hold.
 * - Per chain (a customer, or the account events with none), the first receipts of its events came
 *   in `seq` order, the order the customer's changes committed in. Repeats (at least once: a
 *   delivery whose sender died before it saw the 2xx) are allowed and counted.
 * - The lag of each event: from its write (`written_at`, the database's clock on this machine) to
 *   its first receipt.
 */
import pg from 'pg';
import { CONFIGURED_ENDPOINT_ID } from '../../worker/store/webhookEndpoints.ts';
import type { WebhookReceiver } from './webhookReceiver.ts';

const OUTBOX_POLL_MS = 500;
const EXAMPLES_MAX = 10;

export interface OutboxDrain {
  drained: boolean;
  seconds: number;
  /** Deliveries of the endpoint not delivered at the end of the wait, by status. */
  left: Record<string, number>;
}

export interface WebhookAudit {
  /** Events the outbox holds for the endpoint, by type. */
  eventsByType: Record<string, number>;
  events: number;
  /** Distinct events received. */
  received: number;
  /** Receipts, repeats included. */
  receipts: number;
  /** Receipts beyond the first of their event. */
  repeats: number;
  eventsRepeated: number;
  missing: number;
  /** Chains (customers, and the account events) checked for order. */
  chains: number;
  outOfOrder: number;
  /** The largest and the median lag from an event's write to its first receipt. */
  lagSecondsMax: number;
  lagSecondsMedian: number;
  /** Events written while the receiver was down. */
  eventsWhileDown: number;
  /** Events written before the receiver came back, and when the last of them first arrived. */
  backlogEvents: number;
  backlogClearedSeconds: number;
  violations: string[];
}

interface OutboxEvent {
  id: string;
  seq: bigint;
  type: string;
  chain: string;
  body: string;
  writtenAt: number;
  delivery: string | null;
}

async function withDb<T>(databaseUrl: string, work: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: databaseUrl, application_name: 'faults-webhooks' });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

/** Waits until every delivery of the endpoint is `delivered`, up to `timeoutMs`. */
export async function waitForOutbox(databaseUrl: string, timeoutMs: number): Promise<OutboxDrain> {
  const started = Date.now();
  return withDb(databaseUrl, async (db) => {
    for (;;) {
      const { rows } = await db.query<{ status: string; count: number }>(
        `select status, count(*)::int as count from webhook_deliveries
          where endpoint_id = $1 and status <> 'delivered' group by status`,
        [CONFIGURED_ENDPOINT_ID],
      );
      const left = Object.fromEntries(rows.map((row) => [row.status, row.count]));
      const seconds = (Date.now() - started) / 1000;
      if (rows.length === 0) return { drained: true, seconds, left };
      if (left.failed !== undefined || Date.now() - started > timeoutMs)
        return { drained: false, seconds, left };
      await new Promise((resolve) => setTimeout(resolve, OUTBOX_POLL_MS));
    }
  });
}

async function outboxEvents(databaseUrl: string): Promise<OutboxEvent[]> {
  return withDb(databaseUrl, async (db) => {
    const { rows } = await db.query<{
      id: string;
      seq: string;
      type: string;
      chain: string;
      body: string;
      written_at: Date;
      delivery: string | null;
    }>(
      `select e.id, e.seq::text as seq, e.type, coalesce(e.customer_id, '') as chain, e.body,
              e.written_at, d.status as delivery
         from webhook_events e
         left join webhook_deliveries d on d.event_seq = e.seq and d.endpoint_id = $1
        where e.target_endpoint_id is null or e.target_endpoint_id = $1
        order by e.seq`,
      [CONFIGURED_ENDPOINT_ID],
    );
    return rows.map((row) => ({
      id: row.id,
      seq: BigInt(row.seq),
      type: row.type,
      chain: row.chain,
      body: row.body,
      writtenAt: new Date(row.written_at).getTime(),
      delivery: row.delivery,
    }));
  });
}

function note(violations: string[], counter: number, line: string): void {
  if (counter <= EXAMPLES_MAX) violations.push(line);
}

/** Per chain, the first receipts must come in `seq` order; answers how many did not. */
function checkOrder(
  events: readonly OutboxEvent[],
  receiver: WebhookReceiver,
  violations: string[],
): { chains: number; outOfOrder: number } {
  const byId = new Map(events.map((event) => [event.id, event]));
  const lastSeq = new Map<string, OutboxEvent>();
  let outOfOrder = 0;
  for (const id of receiver.firstReceiptOrder) {
    const event = byId.get(id);
    if (!event) continue;
    const previous = lastSeq.get(event.chain);
    if (previous && previous.seq > event.seq) {
      outOfOrder += 1;
      note(
        violations,
        outOfOrder,
        `chain ${event.chain || '(account)'}: ${event.id} (seq ${event.seq}, ${event.type}) first arrived after ${previous.id} (seq ${previous.seq})`,
      );
    }
    if (!previous || previous.seq < event.seq) lastSeq.set(event.chain, event);
  }
  if (outOfOrder > EXAMPLES_MAX)
    violations.push(`… ${outOfOrder} events in all first arrived out of order`);
  return { chains: new Set(events.map((event) => event.chain)).size, outOfOrder };
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function auditWebhooks(
  databaseUrl: string,
  receiver: WebhookReceiver,
  outage: { downAt: number; recoveredAt: number },
): Promise<WebhookAudit> {
  const { downAt, recoveredAt } = outage;
  const events = await outboxEvents(databaseUrl);
  const violations: string[] = [];
  const eventsByType: Record<string, number> = {};
  const lags: number[] = [];
  let missing = 0;
  let undelivered = 0;
  let changed = 0;
  let backlogEvents = 0;
  let eventsWhileDown = 0;
  let backlogClearedAt = recoveredAt;
  for (const event of events) {
    if (event.writtenAt >= downAt && event.writtenAt < recoveredAt) eventsWhileDown += 1;
    eventsByType[event.type] = (eventsByType[event.type] ?? 0) + 1;
    if (event.delivery !== 'delivered') {
      undelivered += 1;
      note(
        violations,
        undelivered,
        `event ${event.id} (${event.type}) has ${event.delivery === null ? 'no delivery for the endpoint' : `its delivery ${event.delivery}`}`,
      );
    }
    const receipts = receiver.events.get(event.id);
    if (!receipts) {
      missing += 1;
      note(
        violations,
        missing,
        `event ${event.id} (${event.type}, seq ${event.seq}) never arrived`,
      );
      continue;
    }
    lags.push((receipts.firstAt - event.writtenAt) / 1000);
    if (event.writtenAt < recoveredAt) {
      backlogEvents += 1;
      backlogClearedAt = Math.max(backlogClearedAt, receipts.firstAt);
    }
    if (receipts.body !== event.body || receipts.bodyMismatches > 0) {
      changed += 1;
      note(
        violations,
        changed,
        `event ${event.id}: ${receipts.body !== event.body ? 'arrived with a body other than the stored one' : `${receipts.bodyMismatches} of its copies had another body`}`,
      );
    }
  }
  if (missing > EXAMPLES_MAX) violations.push(`… ${missing} events in all never arrived`);
  if (undelivered > EXAMPLES_MAX)
    violations.push(`… ${undelivered} events in all are not marked delivered`);
  if (changed > EXAMPLES_MAX) violations.push(`… ${changed} events in all came with other bodies`);
  const known = new Set(events.map((event) => event.id));
  const unknown = [...receiver.events.keys()].filter((id) => !known.has(id));
  if (unknown.length > 0)
    violations.push(
      `${unknown.length} received events are not in the outbox: ${unknown.slice(0, 5).join(', ')}`,
    );
  if (receiver.signatureFailures > 0)
    violations.push(
      `${receiver.signatureFailures} receipts failed the SDK's unwrap: ${receiver.signatureFailureExamples.join(' | ')}`,
    );
  const order = checkOrder(events, receiver, violations);
  let eventsRepeated = 0;
  for (const receipts of receiver.events.values()) if (receipts.count > 1) eventsRepeated += 1;
  const receipts = receiver.receipts;
  return {
    eventsByType,
    events: events.length,
    received: events.length - missing,
    receipts,
    repeats: receipts - receiver.events.size,
    eventsRepeated,
    missing,
    chains: order.chains,
    outOfOrder: order.outOfOrder,
    lagSecondsMax: lags.reduce((max, lag) => Math.max(max, lag), 0),
    lagSecondsMedian: median(lags),
    eventsWhileDown,
    backlogEvents,
    backlogClearedSeconds: (backlogClearedAt - recoveredAt) / 1000,
    violations,
  };
}
