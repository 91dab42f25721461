/**
 * `positiveAmount` (LEDGER_RULES.md §1): a request amount is a JSON number (read from its source
 * text) or a decimal string `digits[.digits]`; either way exact, at most 12 fractional digits,
 * fitting in 26 integer digits, and > 0. Output is canonical decimal text.
 */
import { describe, expect, it } from 'vitest';
import { positiveAmount } from '../../../../api/schemas/primitives.ts';
import { JsonNumber } from '../../../../worker/runtime/exactJson.ts';

function parsed(value: unknown): string {
  const result = positiveAmount.safeParse(value);
  return result.success
    ? result.data
    : `error:${result.error.issues.map((issue) => issue.message).join('; ')}`;
}

describe('positiveAmount accepts', () => {
  it.each([
    ['2.5', '2.5'],
    ['0.000000000001', '0.000000000001'],
    ['1', '1'],
    ['007.50', '7.5'],
    ['100.000000000000', '100'],
    ['99999999999999999999999999.999999999999', '99999999999999999999999999.999999999999'],
  ])('the decimal string %j as %s', (text, expected) => {
    expect(parsed(text)).toBe(expected);
  });

  it.each([
    ['2.5', '2.5'],
    ['1e3', '1000'],
    ['0.1', '0.1'],
  ])('the JSON number %s as %s', (source, expected) => {
    expect(parsed(new JsonNumber(source))).toBe(expected);
  });
});

describe('positiveAmount refuses', () => {
  it.each([
    ['an exponent', '1e3'],
    ['a minus sign', '-1'],
    ['a plus sign', '+1'],
    ['a leading space', ' 1'],
    ['a trailing space', '1 '],
    ['the empty string', ''],
    ['a bare point', '.5'],
    ['a trailing point', '5.'],
    ['13 fractional digits', '1.0000000000001'],
    ['zero', '0'],
    ['zero with a fraction', '0.000'],
    ['27 integer digits', '100000000000000000000000000'],
    ['a comma', '1,5'],
    ['a word', 'NaN'],
  ])('a decimal string with %s (%j)', (_what, text) => {
    expect(parsed(text)).toMatch(/^error:/);
  });

  it.each([
    ['zero', '0'],
    ['a negative number', '-5'],
    ['13 fractional digits', '0.1234567890123'],
  ])('the JSON number %s', (_what, source) => {
    expect(parsed(new JsonNumber(source))).toMatch(/^error:/);
  });

  it.each([[true], [null], [{}], [[1]], [5]])(
    'a value that is neither a number nor a string: %j',
    (value) => {
      // A plain JS number never reaches the schema: bodies are parsed with exact numbers.
      expect(parsed(value)).toMatch(/^error:/);
    },
  );
});
