/**
 * The body of `POST /v1/ingest` (Orb's IngestRequestBody). The envelope is validated as a whole;
 * each event on its own, so that one bad event is reported in `validation_failed` while the
 * others are accepted (LEDGER_RULES.md §5). The query says whether to answer with the debug lists.
 *
 * `ingestEvent` (zod) is the contract and what the documentation shows. A batch is read by
 * `readIngestEvent`, a checker written from that schema, rule for rule: it costs a few type tests
 * per field, where zod's parse cost about 6 µs an event (the largest share of the api's time per
 * event). It answers undefined for whatever the schema would refuse, and the route then asks the
 * schema why (test/unit/api/schemas/readIngestEvent.test.ts holds the two to the same verdicts).
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

const IDEMPOTENCY_KEY_LENGTH_MAX = 255;
const EVENT_NAME_LENGTH_MAX = 500;

/**
 * Text Postgres can store: a lone UTF-16 surrogate (JSON allows `"\ud800"`) is refused by jsonb,
 * which failed the whole write of the events around it.
 */
const wellFormed = (text: string) => text.isWellFormed();
const WELL_FORMED = { error: 'must be well-formed Unicode (no lone surrogate)' };
const text = () => z.string().refine(wellFormed, WELL_FORMED);

/** Property values must be numbers, booleans or strings; nested dictionaries are disallowed. */
const propertyValue = z.union([
  text(),
  z.boolean(),
  z
    .custom<JsonNumber>((value) => value instanceof JsonNumber, 'must be a number')
    .meta({ type: 'number' }),
]);

export const ingestEvent = z
  .strictObject({
    idempotency_key: text().min(1).max(IDEMPOTENCY_KEY_LENGTH_MAX),
    event_name: text().min(1).max(EVENT_NAME_LENGTH_MAX),
    timestamp: utcInstant,
    properties: z.record(text(), propertyValue, {
      error: 'properties values must be numbers, booleans or strings',
    }),
    customer_id: text().min(1).nullable().optional(),
    external_customer_id: text().min(1).nullable().optional(),
  })
  .refine(
    (event) =>
      ((event.customer_id ?? null) === null) !== ((event.external_customer_id ?? null) === null),
    {
      message: 'exactly one of customer_id and external_customer_id is required',
    },
  );
export type IngestEvent = z.infer<typeof ingestEvent>;

/** What the route needs of a valid event; its properties are written from the request's text. */
export type CheckedEvent = Omit<IngestEvent, 'properties'>;

const EVENT_KEYS = new Set([
  'idempotency_key',
  'event_name',
  'timestamp',
  'properties',
  'customer_id',
  'external_customer_id',
]);

const isText = (value: unknown, lengthMax: number): value is string =>
  typeof value === 'string' && value.length >= 1 && value.length <= lengthMax && wellFormed(value);

/** An optional, nullable id: undefined (absent), null, or non-empty text. */
const isIdOrNothing = (value: unknown): value is string | null | undefined =>
  value === undefined || value === null || isText(value, Infinity);

function isProperties(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const properties = value as Record<string, unknown>;
  for (const key in properties) {
    const item = properties[key];
    if (!wellFormed(key)) return false;
    if (typeof item === 'string' ? !wellFormed(item) : !isScalar(item)) return false;
  }
  return true;
}

const isScalar = (item: unknown) => typeof item === 'boolean' || typeof item === 'number';

/**
 * `2026-11-21T19:00:00Z`, with optional milliseconds and an optional `±hh:mm` offset: what clients
 * send. Other ISO 8601 forms (week dates, ordinals, basic format, finer fractions) go to luxon
 * through the schema's own `utcInstant`.
 */
const COMMON_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:\d{2})?$/;
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The number written by `count` ASCII digits at `start`, or -1. */
function digitsAt(text: string, start: number, count: number): number {
  let value = 0;
  for (let index = start; index < start + count; index += 1) {
    const digit = text.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function isCalendarInstant(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): boolean {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return (
    year >= 1000 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= (month === 2 && !leap ? 28 : DAYS_IN_MONTH[month - 1]!) &&
    hour >= 0 &&
    hour <= 23 &&
    minute >= 0 &&
    minute <= 59 &&
    second >= 0 &&
    second <= 59
  );
}

/**
 * `toISOString()`'s own form (`2026-11-21T19:00:00.000Z`), what most clients send: read digit by
 * digit, since a regular expression and formatting a Date cost microseconds per event.
 */
function isCanonicalInstant(text: string): boolean {
  if (
    text.length !== 24 ||
    text[4] !== '-' ||
    text[7] !== '-' ||
    text[10] !== 'T' ||
    text[13] !== ':' ||
    text[16] !== ':' ||
    text[19] !== '.' ||
    text[23] !== 'Z' ||
    digitsAt(text, 20, 3) < 0
  )
    return false;
  return isCalendarInstant(
    digitsAt(text, 0, 4),
    digitsAt(text, 5, 2),
    digitsAt(text, 8, 2),
    digitsAt(text, 11, 2),
    digitsAt(text, 14, 2),
    digitsAt(text, 17, 2),
  );
}

/** The canonical instant of a common date-time, as `utcInstant` gives it; undefined for any other. */
export function commonInstant(text: string): string | undefined {
  if (isCanonicalInstant(text)) return text;
  const match = COMMON_INSTANT.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as number[];
  if (!isCalendarInstant(year!, month!, day!, hour!, minute!, second!)) return undefined;
  const offset = match[8];
  const milliseconds = match[7] === undefined ? 0 : Number(match[7].padEnd(3, '0'));
  let offsetMinutes = 0;
  if (offset !== undefined && offset !== 'Z') {
    const hours = Number(offset.slice(1, 3));
    const minutes = Number(offset.slice(4, 6));
    if (hours > 23 || minutes > 59) return undefined;
    offsetMinutes = (offset[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  return new Date(
    Date.UTC(year!, month! - 1, day!, hour!, minute!, second!, milliseconds) -
      offsetMinutes * 60_000,
  ).toISOString();
}

function instantOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const common = commonInstant(value);
  if (common !== undefined) return common;
  const parsed = utcInstant.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The event as `ingestEvent` outputs it (timestamp canonical, properties left as sent), or
 * undefined when `ingestEvent` would refuse it. Numbers may be plain JS numbers here: the route
 * reads the body without exact numbers and writes properties from its text.
 */
export function readIngestEvent(raw: unknown): CheckedEvent | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const event = raw as Record<string, unknown>;
  for (const key in event) if (!EVENT_KEYS.has(key)) return undefined;
  const {
    idempotency_key: key,
    event_name: name,
    customer_id: customerId,
    external_customer_id: externalId,
  } = event;
  if (!isText(key, IDEMPOTENCY_KEY_LENGTH_MAX) || !isText(name, EVENT_NAME_LENGTH_MAX))
    return undefined;
  if (!isIdOrNothing(customerId) || !isIdOrNothing(externalId)) return undefined;
  if (((customerId ?? null) === null) === ((externalId ?? null) === null)) return undefined;
  if (!isProperties(event.properties)) return undefined;
  const timestamp = instantOf(event.timestamp);
  if (timestamp === undefined) return undefined;
  return {
    idempotency_key: key,
    event_name: name,
    timestamp,
    ...(customerId !== undefined && { customer_id: customerId }),
    ...(externalId !== undefined && { external_customer_id: externalId }),
  };
}

/** Numbers as the schema expects them (exact-number values), for asking it why an event failed. */
function withExactNumbers(raw: unknown): unknown {
  const properties = (raw as { properties?: unknown } | null)?.properties;
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties))
    return raw;
  const exact: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties))
    exact[key] = typeof value === 'number' ? new JsonNumber(String(value)) : value;
  return { ...(raw as object), properties: exact };
}

/** Why `ingestEvent` refuses this event, one message per issue. */
export function ingestEventProblems(raw: unknown): string[] {
  const parsed = ingestEvent.safeParse(withExactNumbers(raw));
  if (parsed.success) return ['event: not a valid event'];
  return parsed.error.issues.map((issue) => `${issue.path.join('.') || 'event'}: ${issue.message}`);
}
