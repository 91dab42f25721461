/**
 * Exact credit amounts (LEDGER_RULES.md §1): parsing never rounds, refuses what it cannot hold,
 * and the arithmetic is bigint-exact. Results are compared as canonical text, never as floats.
 */
import { describe, expect, it } from 'vitest';
import { Decimal, FRACTION_DIGITS, INTEGER_DIGITS_MAX } from '../../../domain/decimal.ts';

function parsed(text: string): string {
  const result = Decimal.parse(text);
  return typeof result === 'string' ? `error:${result}` : result.toString();
}

const d = (text: string) => Decimal.of(text);

describe('Decimal.parse accepts', () => {
  it.each([
    ['0.1', '0.1'],
    ['100', '100'],
    ['-5.25', '-5.25'],
    ['+7', '7'],
    ['1e3', '1000'],
    ['1E3', '1000'],
    ['1.5E-2', '0.015'],
    ['1.5e+2', '150'],
    ['100e-13', '0.00000000001'],
    ['100.000000000000', '100'],
    ['0.000000000001', '0.000000000001'],
    ['007.50', '7.5'],
    ['0', '0'],
    ['-0', '0'],
  ])('%s as %s', (text, canonical) => {
    expect(parsed(text)).toBe(canonical);
  });

  it('trailing zeros beyond 12 fraction digits, since nothing is lost', () => {
    expect(parsed('1.0000000000000000')).toBe('1');
  });

  it(`${INTEGER_DIGITS_MAX} integer digits with ${FRACTION_DIGITS} fraction digits`, () => {
    const text = `${'9'.repeat(26)}.${'9'.repeat(12)}`;
    expect(parsed(text)).toBe(text);
    expect(parsed(`-${text}`)).toBe(`-${text}`);
  });

  it('keeps a value whose float would be inexact', () => {
    expect(parsed('0.300000000001')).toBe('0.300000000001');
    expect(parsed('12345678901234567890123456.000000000001')).toBe(
      '12345678901234567890123456.000000000001',
    );
  });
});

describe('Decimal.parse refuses, returning the reason', () => {
  it.each([
    ['0.0000000000001', 'too_many_fraction_digits'],
    ['1.0000000000001', 'too_many_fraction_digits'],
    ['1.5e-12', 'too_many_fraction_digits'],
    ['-0.1234567890123', 'too_many_fraction_digits'],
    [`1${'0'.repeat(26)}`, 'too_large'],
    [`-1${'0'.repeat(26)}`, 'too_large'],
    ['1e26', 'too_large'],
    ['abc', 'not_a_number'],
    ['NaN', 'not_a_number'],
    ['Infinity', 'not_a_number'],
    ['-Infinity', 'not_a_number'],
    ['', 'not_a_number'],
    ['1,5', 'not_a_number'],
    ['0x10', 'not_a_number'],
    ['1.2.3', 'not_a_number'],
  ])('%s with %s', (text, reason) => {
    expect(Decimal.parse(text)).toBe(reason);
  });

  it('Decimal.of throws on what parse refuses', () => {
    expect(() => Decimal.of('abc')).toThrow(RangeError);
    expect(() => Decimal.of('0.0000000000001')).toThrow(RangeError);
  });
});

describe('Decimal.toString is canonical', () => {
  it.each([
    ['100', '100'],
    ['0.5', '0.5'],
    ['0.50', '0.5'],
    ['-5.25', '-5.25'],
    ['-0.5', '-0.5'],
    ['0.000000000001', '0.000000000001'],
    ['1e0', '1'],
  ])('%s prints as %s', (text, canonical) => {
    expect(Decimal.of(text).toString()).toBe(canonical);
  });

  it('toJSON is the same text', () => {
    expect(JSON.stringify({ amount: d('0.10') })).toBe('{"amount":"0.1"}');
  });

  it('units are the value times 10^12', () => {
    expect(d('1').units).toBe(10n ** 12n);
    expect(d('0.000000000001').units).toBe(1n);
    expect(Decimal.fromUnits(-1n).toString()).toBe('-0.000000000001');
  });
});

describe('Decimal arithmetic is exact', () => {
  it('0.1 + 0.2 is exactly 0.3', () => {
    expect(d('0.1').plus(d('0.2')).toString()).toBe('0.3');
    expect(d('0.1').plus(d('0.2')).equals(d('0.3'))).toBe(true);
  });

  it('minus, including across zero', () => {
    expect(d('0.3').minus(d('0.1')).toString()).toBe('0.2');
    expect(d('5').minus(d('5.25')).toString()).toBe('-0.25');
    expect(d('1').minus(d('0.000000000001')).toString()).toBe('0.999999999999');
  });

  it('ten times 0.1 sums to 1', () => {
    expect(Decimal.sum(Array.from({ length: 10 }, () => d('0.1'))).toString()).toBe('1');
  });

  it('sum of nothing is zero', () => {
    expect(Decimal.sum([]).toString()).toBe('0');
  });

  it('negated and abs', () => {
    expect(d('5.25').negated().toString()).toBe('-5.25');
    expect(d('-5.25').abs().toString()).toBe('5.25');
    expect(d('5.25').abs().toString()).toBe('5.25');
  });

  it('refuses results beyond 26 integer digits instead of wrapping', () => {
    const largest = d(`${'9'.repeat(26)}.${'9'.repeat(12)}`);
    expect(() => largest.plus(d('0.000000000001'))).toThrow(RangeError);
    expect(() => largest.negated().minus(d('0.000000000001'))).toThrow(RangeError);
  });
});

describe('Decimal comparison', () => {
  it('compare orders by value, not by text', () => {
    expect(d('0.5').compare(d('0.50'))).toBe(0);
    expect(d('0.2').compare(d('0.10'))).toBe(1);
    expect(d('-1').compare(d('0.000000000001'))).toBe(-1);
    expect(d('10').compare(d('9.999999999999'))).toBe(1);
  });

  it('min returns the smaller', () => {
    expect(Decimal.min(d('3'), d('2.5')).toString()).toBe('2.5');
    expect(Decimal.min(d('-1'), d('0')).toString()).toBe('-1');
  });

  it('sign predicates', () => {
    expect(Decimal.ZERO.isZero()).toBe(true);
    expect(d('-0').isZero()).toBe(true);
    expect(d('0.000000000001').isPositive()).toBe(true);
    expect(d('-0.000000000001').isNegative()).toBe(true);
    expect(Decimal.ZERO.isPositive()).toBe(false);
    expect(Decimal.ZERO.isNegative()).toBe(false);
  });
});
