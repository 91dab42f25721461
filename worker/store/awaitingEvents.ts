/**
 * Events that arrived for an external customer id before that customer existed (status
 * `awaiting_customer`): creating the customer re-submits the recent ones as usage. Properties
 * leave Postgres as jsonb text, whose numbers keep their digits (worker/runtime/exactJson.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';

export interface AwaitingEvent {
  idempotencyKey: string;
  eventName: string;
  timestamp: Date;
  /** jsonb text, written back unchanged as the usage job's `properties_json`. */
  propertiesText: string;
}

/** Up to `limit` events awaiting `externalCustomerId` stamped at or after `since`, oldest first. */
export async function eventsAwaitingCustomer(
  em: EntityManager,
  externalCustomerId: string,
  since: Date,
  limit: number,
): Promise<AwaitingEvent[]> {
  const rows = await em.execute<
    {
      idempotency_key: string;
      event_name: string;
      // Raw rows bypass MikroORM's hydration: timestamps may arrive as text.
      timestamp: Date | string;
      properties_text: string;
    }[]
  >(
    `select idempotency_key, event_name, timestamp, properties::text as properties_text from events
      where status = 'awaiting_customer' and external_customer_id = ? and timestamp >= ?
      order by timestamp limit ?`,
    [externalCustomerId, since, limit],
  );
  return rows.map((row) => ({
    idempotencyKey: row.idempotency_key,
    eventName: row.event_name,
    timestamp: new Date(row.timestamp),
    propertiesText: row.properties_text,
  }));
}
