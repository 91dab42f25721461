/**
 * Orb's Event (the items of `POST /v1/events/search`), the IngestionResponse of `POST /v1/ingest`
 * and the DeprecatedEventResult. An event's `properties` carry their numbers' digits exactly as
 * ingested: the store keeps them as jsonb, `parseExactJson` reads each number as a `JsonNumber`
 * (its source text), and that — a value's type, not a key's name — is what becomes raw JSON.
 */
import { z } from 'zod';
import { JsonNumber, parseExactJson } from '../../worker/runtime/exactJson.ts';
import type { SearchedEvent } from '../../worker/store/eventQueries.ts';
import { dateTime, type Wire } from './exactNumber.ts';

export const eventSchema = z
  .object({
    id: z.string(),
    customer_id: z.string().nullable(),
    external_customer_id: z.string().nullable(),
    event_name: z.string(),
    properties: z
      .record(z.string(), z.unknown())
      .meta({ description: 'As ingested: numbers keep every digit.' }),
    timestamp: dateTime,
    deprecated: z.boolean(),
  })
  .meta({ id: 'Event' });

export const eventsSchema = z.object({ data: z.array(eventSchema) }).meta({ id: 'Events' });

export const ingestionResponseSchema = z
  .object({
    validation_failed: z.array(
      z.object({ idempotency_key: z.string(), validation_errors: z.array(z.string()) }),
    ),
    debug: z.object({ duplicate: z.array(z.string()), ingested: z.array(z.string()) }).nullable(),
  })
  .meta({ id: 'IngestionResponse' });

export const deprecatedEventSchema = z
  .object({ deprecated: z.string() })
  .meta({ id: 'DeprecatedEventResult' });

/** Exact JSON numbers (JsonNumber) become raw JSON, so the reply carries the digits as ingested. */
function exactToWire(value: unknown): unknown {
  if (value instanceof JsonNumber) return JSON.rawJSON(value.source);
  if (Array.isArray(value)) return value.map(exactToWire);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, exactToWire(field)]));
}

export function toWireEvent(event: SearchedEvent): Wire<typeof eventSchema> {
  return {
    id: event.id,
    customer_id: event.customerId,
    external_customer_id: event.externalCustomerId,
    event_name: event.eventName,
    properties: exactToWire(parseExactJson(event.propertiesText)) as Record<string, unknown>,
    timestamp: event.timestamp.toISOString(),
    deprecated: event.status === 'deprecated',
  };
}
