/**
 * The read path's text shortcuts (api/wire/exactNumber.ts) write exactly what the slow paths they
 * replace wrote: `canonicalDecimal` is `Decimal.of(text).toString()` for any decimal text
 * (Postgres' numeric text above all), and `isoInstant` is `new Date(x).toISOString()` for
 * Postgres' timestamptz text and for Dates.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import { canonicalDecimal, exact, isoInstant } from '../../../api/wire/exactNumber.ts';

/** Postgres' numeric(38,12) text: up to 26 integer digits, always 12 fractional ones. */
const databaseDecimal = fc
  .tuple(
    fc.boolean(),
    fc.bigInt({ min: 0n, max: 10n ** 26n - 1n }),
    fc.bigInt({ min: 0n, max: 10n ** 12n - 1n }),
  )
  .map(([negative, whole, fraction]) => {
    const text = `${whole}.${fraction.toString().padStart(12, '0')}`;
    return negative && (whole !== 0n || fraction !== 0n) ? `-${text}` : text;
  });

/** Postgres' timestamptz text in a UTC session, microseconds dropped when zero as it does. */
function databaseText(instant: Date, micros: number): string {
  const iso = instant.toISOString();
  const fraction = `${iso.slice(20, 23)}${String(micros).padStart(3, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction ? `.${fraction}` : ''}+00`;
}

describe('canonicalDecimal', () => {
  it('matches Decimal.of(text).toString() on numeric text', () => {
    fc.assert(
      fc.property(databaseDecimal, (text) => {
        expect(canonicalDecimal(text)).toBe(Decimal.of(text).toString());
      }),
      { numRuns: 2_000 },
    );
  });

  it.each([
    ['-20.000000000000', '-20'],
    ['0.000000000000', '0'],
    ['-0.000000000000', '0'],
    ['100', '100'],
    ['12345678901234567890123456.123456789012', '12345678901234567890123456.123456789012'],
    ['0.500000000000', '0.5'],
    // Not the database's text: the Decimal path, with its normalisation and refusals.
    ['007.50', '7.5'],
    ['1e3', '1000'],
    ['+5', '5'],
  ])('%s → %s', (text, expected) => {
    expect(canonicalDecimal(text)).toBe(expected);
    expect(JSON.stringify({ amount: exact(text) })).toBe(`{"amount":${expected}}`);
  });

  it('refuses what Decimal refuses', () => {
    expect(() => canonicalDecimal('0.0000000000001')).toThrow(RangeError);
    expect(() => canonicalDecimal('123456789012345678901234567')).toThrow(RangeError);
    expect(() => canonicalDecimal('abc')).toThrow(RangeError);
  });
});

describe('isoInstant', () => {
  it('matches new Date(text).toISOString() on timestamptz text and on Dates', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('1000-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59.999Z'),
          noInvalidDate: true,
        }),
        fc.integer({ min: 0, max: 999 }),
        (instant, micros) => {
          const text = databaseText(instant, micros);
          expect(isoInstant(text)).toBe(new Date(text).toISOString());
          expect(isoInstant(text)).toBe(instant.toISOString());
          expect(isoInstant(instant)).toBe(instant.toISOString());
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('takes the Date path for other offsets', () => {
    expect(isoInstant('2026-03-01 01:30:00.25+05:30')).toBe('2026-02-28T20:00:00.250Z');
    expect(isoInstant('2026-03-01 01:30:00-08')).toBe('2026-03-01T09:30:00.000Z');
  });
});
