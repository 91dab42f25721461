/**
 * The body of `POST /v1/ingest` (Orb's IngestRequestBody). The envelope is validated as a whole;
 * each event is validated on its own, so that one bad event is reported in `validation_failed`
 * while the others are accepted (LEDGER_RULES.md §5). The query says whether to answer with the
 * debug lists.
 */
import { z } from 'zod';
import { JsonNumber } from '../../worker/runtime/exactJson.ts';
import { utcInstant } from './primitives.ts';

/** Orb's own bound per request; larger bodies are answered 413. */
export const EVENTS_PER_REQUEST_MAX = 500;

export const ingestBody = z.strictObject({ events: z.array(z.unknown()) });

/**
 * The query of `POST /v1/ingest`: `debug=true` adds Orb's `debug: {duplicate, ingested}` to the
 * answer. Other query keys (Orb's `backfill_id`) pass unread, as before.
 */
export const ingestQuery = z.object({
  debug: z
    .enum(['true', 'false'])
    .optional()
    .transform((value) => value === 'true'),
});

/** Property values must be numbers, booleans or strings; nested dictionaries are disallowed. */
const propertyValue = z.union([
  z.string(),
  z.boolean(),
  z
    .custom<JsonNumber>((value) => value instanceof JsonNumber, 'must be a number')
    .meta({ type: 'number' }),
]);

export const ingestEvent = z
  .strictObject({
    idempotency_key: z.string().min(1).max(255),
    event_name: z.string().min(1).max(500),
    timestamp: utcInstant,
    properties: z.record(z.string(), propertyValue, {
      error: 'properties values must be numbers, booleans or strings',
    }),
    customer_id: z.string().min(1).nullable().optional(),
    external_customer_id: z.string().min(1).nullable().optional(),
  })
  .refine(
    (event) =>
      ((event.customer_id ?? null) === null) !== ((event.external_customer_id ?? null) === null),
    {
      message: 'exactly one of customer_id and external_customer_id is required',
    },
  );
export type IngestEvent = z.infer<typeof ingestEvent>;
