/**
 * Date-only values mean midnight in the customer's timezone (LEDGER_RULES.md §2), including on
 * the days clocks change, and east of UTC where midnight falls on the previous UTC date.
 */
import { describe, expect, it } from 'vitest';
import { resolveInstant } from '../../../domain/instant.ts';

describe('resolveInstant', () => {
  it.each([
    ['2026-12-28', 'America/Los_Angeles', '2026-12-28T08:00:00.000Z'],
    // DST starts in Los Angeles on 2026-03-08 at 02:00: midnight is still PST (UTC-8)...
    ['2026-03-08', 'America/Los_Angeles', '2026-03-08T08:00:00.000Z'],
    // ...and the next midnight is PDT (UTC-7): that day was 23 hours long.
    ['2026-03-09', 'America/Los_Angeles', '2026-03-09T07:00:00.000Z'],
    // DST ends on 2026-11-01 at 02:00: midnight is PDT, the next one PST (a 25-hour day).
    ['2026-11-01', 'America/Los_Angeles', '2026-11-01T07:00:00.000Z'],
    ['2026-11-02', 'America/Los_Angeles', '2026-11-02T08:00:00.000Z'],
    // East of UTC, midnight is on the previous UTC date.
    ['2026-12-28', 'Asia/Tokyo', '2026-12-27T15:00:00.000Z'],
    ['2026-03-29', 'Europe/Berlin', '2026-03-28T23:00:00.000Z'],
    ['2026-03-30', 'Europe/Berlin', '2026-03-29T22:00:00.000Z'],
    ['2026-12-28', 'UTC', '2026-12-28T00:00:00.000Z'],
  ])('%s in %s is %s', (text, zone, expected) => {
    expect(resolveInstant(text, zone)?.toISOString()).toBe(expected);
  });

  it('keeps a date-time as the instant it names, whatever the customer timezone', () => {
    expect(resolveInstant('2026-12-28T10:30:00+02:00', 'America/Los_Angeles')?.toISOString()).toBe(
      '2026-12-28T08:30:00.000Z',
    );
    expect(resolveInstant('2026-12-28T10:30:00Z', 'Asia/Tokyo')?.toISOString()).toBe(
      '2026-12-28T10:30:00.000Z',
    );
  });

  it('answers null for dates that do not exist', () => {
    expect(resolveInstant('2026-02-30', 'UTC')).toBeNull();
    expect(resolveInstant('not a date', 'UTC')).toBeNull();
  });
});
