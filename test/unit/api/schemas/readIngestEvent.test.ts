/**
 * `readIngestEvent`, the checker the ingest route runs per event, against `ingestEvent`, the
 * schema it was written from: for any event (valid or broken in any field), both give the same
 * verdict, and for a valid one the same canonical timestamp and ids. So the fast path never
 * accepts what the documented contract refuses, nor refuses what it accepts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  commonInstant,
  ingestEvent,
  ingestEventProblems,
  readIngestEvent,
} from '../../../../api/schemas/ingestRequest.ts';
import { utcInstant } from '../../../../api/schemas/primitives.ts';
import { JsonNumber } from '../../../../worker/runtime/exactJson.ts';

const pad = (value: number, width: number) => String(value).padStart(width, '0');

/** Date-times in the forms clients send, plus near misses (bad ranges, odd offsets, no `T`). */
const timestamp = fc.oneof(
  fc
    .record({
      year: fc.integer({ min: 900, max: 2100 }),
      month: fc.integer({ min: 0, max: 13 }),
      day: fc.integer({ min: 0, max: 32 }),
      hour: fc.integer({ min: 0, max: 25 }),
      minute: fc.integer({ min: 0, max: 60 }),
      second: fc.integer({ min: 0, max: 60 }),
      fraction: fc.constantFrom('', '.5', '.12', '.123', '.1234', '.'),
      offset: fc.constantFrom(
        '',
        'Z',
        '+00:00',
        '-05:30',
        '+14:00',
        '+24:00',
        '-23:59',
        '+0530',
        'z',
      ),
      separator: fc.constantFrom('T', 'T', 'T', ' ', 't'),
    })
    .map(
      (t) =>
        `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}${t.separator}${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}${t.fraction}${t.offset}`,
    ),
  fc
    .date({ min: new Date('1900-01-01'), max: new Date('2200-01-01'), noInvalidDate: true })
    .map((date) => date.toISOString()),
  fc.constantFrom('2026-W48-6T19:00:00Z', '2026-331T19:00:00Z', '2026-11-21T19Z', 'yesterday', ''),
  fc.string(),
  fc.integer(),
);

const text = fc.oneof(
  fc.string({ minLength: 0, maxLength: 8 }),
  fc.constantFrom('\ud800', 'a\udc00b', '\ud83d\ude00', 'x'.repeat(256), 'y'.repeat(501)),
);
const id = fc.oneof(fc.constant(undefined), fc.constant(null), text, fc.integer());
const propertyValue = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.double({ noNaN: true }),
  fc.integer(),
  fc.constant(null),
  fc.constant([1]),
  fc.constant({ nested: 1 }),
  fc.constant('\ud800'),
);
const properties = fc.oneof(
  fc.dictionary(fc.oneof(fc.string(), fc.constant('\udc00')), propertyValue, { maxKeys: 4 }),
  fc.constantFrom(null, [], 'text', 3),
);

/** A valid event (by construction), with a canonical or common timestamp. */
const validEvent = fc.record({
  idempotency_key: fc.string({ minLength: 1, maxLength: 20 }),
  event_name: fc.string({ minLength: 1, maxLength: 20 }),
  timestamp: fc
    .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
    .map((date) => date.toISOString()),
  properties: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.boolean(), fc.integer())),
  customer_id: fc.string({ minLength: 1, maxLength: 10 }),
});

/** A valid event with one or two fields replaced by anything (or removed, or one added). */
const event = fc
  .tuple(
    validEvent,
    fc.array(
      fc.tuple(
        fc.constantFrom(
          'idempotency_key',
          'event_name',
          'timestamp',
          'properties',
          'customer_id',
          'external_customer_id',
          'extra',
        ),
        fc.oneof(text, timestamp, properties, id, fc.constant('<removed>')),
      ),
      { minLength: 1, maxLength: 2 },
    ),
  )
  .map(([valid, changes]) => {
    const built: Record<string, unknown> = { ...valid };
    for (const [field, value] of changes) {
      if (value === '<removed>' || value === undefined) delete built[field];
      else built[field] = value;
    }
    return built;
  });

/** The event as the route reads a body: plain JSON numbers. */
const asSent = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

/** What the schema says, given the exact numbers the service's body reader makes. */
function schemaVerdict(raw: unknown) {
  const exact = JSON.parse(JSON.stringify(raw), (_key, value, context?: { source?: string }) =>
    typeof value === 'number' && context?.source !== undefined
      ? new JsonNumber(context.source)
      : value,
  ) as unknown;
  const parsed = ingestEvent.safeParse(exact);
  if (!parsed.success) return undefined;
  const { properties: _properties, ...rest } = parsed.data;
  return rest;
}

describe('readIngestEvent agrees with the ingestEvent schema', () => {
  it('on any event, valid or not', () => {
    fc.assert(
      fc.property(event, (generated) => {
        const raw = asSent(generated);
        expect(readIngestEvent(raw)).toEqual(schemaVerdict(raw));
      }),
      { numRuns: 3000 },
    );
  });

  it('on valid events in every timestamp form', () => {
    const valid = fc.record({
      idempotency_key: fc.string({ minLength: 1, maxLength: 20 }),
      event_name: fc.string({ minLength: 1, maxLength: 20 }),
      timestamp,
      properties: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.boolean(), fc.integer())),
      customer_id: fc.string({ minLength: 1, maxLength: 10 }),
    });
    fc.assert(
      fc.property(valid, (generated) => {
        const raw = asSent(generated);
        expect(readIngestEvent(raw)).toEqual(schemaVerdict(raw));
      }),
      { numRuns: 3000 },
    );
  });

  it('reads the common forms exactly as utcInstant does, and leaves the rest to it', () => {
    fc.assert(
      fc.property(timestamp, (value) => {
        if (typeof value !== 'string') return;
        const fast = commonInstant(value);
        if (fast === undefined) return;
        const parsed = utcInstant.safeParse(value);
        expect(parsed.success && parsed.data).toBe(fast);
      }),
      { numRuns: 5000 },
    );
    expect(commonInstant('2026-11-21T19:00:00.000Z')).toBe('2026-11-21T19:00:00.000Z');
    expect(commonInstant('2026-11-21T19:00:00-05:30')).toBe('2026-11-22T00:30:00.000Z');
    expect(commonInstant('2026-02-29T00:00:00.000Z')).toBeUndefined();
    expect(commonInstant('2026-11-21T19Z')).toBeUndefined();
  });

  it('explains a refusal in the schema’s words, a lone surrogate included', () => {
    expect(
      ingestEventProblems({ event_name: 'x', timestamp: 'now', properties: {} }).join(' '),
    ).toMatch(/idempotency_key/);
    const surrogate = {
      idempotency_key: 'k',
      event_name: 'x',
      timestamp: '2026-11-21T19:00:00Z',
      properties: { note: '\ud800' },
      customer_id: 'c',
    };
    expect(readIngestEvent(surrogate)).toBeUndefined();
    expect(ingestEventProblems(surrogate).join(' ')).toMatch(/properties\.note: .*surrogate/);
  });
});
