/**
 * The date helpers the date-using tests share (test/support/testDates.ts): midnight in a timezone
 * follows DST, calendar arithmetic is by calendar days, and the clock start comes from the
 * environment when it names one. They must hold in any process TZ (`npm run test:any-day`).
 */
import { describe, expect, it } from 'vitest';
import {
  addToDate,
  dateIn,
  instantAt,
  isoPlus,
  steadyDateIn,
  testClockStart,
} from '../support/testDates.ts';

const LA = 'America/Los_Angeles';

describe('testDates', () => {
  it('midnight in Los Angeles is 08:00 UTC in winter and 07:00 in summer', () => {
    expect(instantAt('2031-01-15', LA)).toBe('2031-01-15T08:00:00.000Z');
    expect(instantAt('2031-07-15', LA)).toBe('2031-07-15T07:00:00.000Z');
    expect(instantAt('2031-07-15', 'Asia/Kolkata', '09:30')).toBe('2031-07-15T04:00:00.000Z');
  });

  it('names the calendar date of an instant in a timezone, moved by calendar days', () => {
    const instant = new Date('2030-03-01T05:00:00Z');
    expect(dateIn('UTC', instant)).toBe('2030-03-01');
    expect(dateIn(LA, instant)).toBe('2030-02-28');
    expect(dateIn('Pacific/Kiritimati', instant, 1)).toBe('2030-03-02');
    expect(addToDate('2032-02-28', { days: 1 })).toBe('2032-02-29');
    expect(addToDate('2032-02-29', { years: 1 })).toBe('2033-02-28');
  });

  it('adds calendar days at the same wall time in a zone, across a DST change', () => {
    // 9 March 2031 is the day Los Angeles moves to summer time: noon there is 20:00Z, then 19:00Z.
    expect(isoPlus('2031-03-08T20:00:00Z', { days: 1 }, LA)).toBe('2031-03-09T19:00:00.000Z');
    expect(isoPlus('2031-03-08T20:00:00Z', { days: 1 })).toBe('2031-03-09T20:00:00.000Z');
  });

  it('finds a date whose neighbouring days keep one UTC offset', () => {
    // 2031: summer time from 9 March to 2 November; the day before D must already be 24 hours long.
    expect(steadyDateIn(LA, '2031-03-08', { days: 2 })).toBe('2031-03-11');
    expect(steadyDateIn(LA, '2031-07-01', { days: 2, offsetMinutes: -480 })).toBe('2031-11-04');
    expect(steadyDateIn('UTC', '2031-07-01')).toBe('2031-07-01');
  });

  it('starts test clocks where the environment says, else leaves them to the system', () => {
    expect(testClockStart({})).toBeUndefined();
    expect(testClockStart({ TEST_CLOCK_START: '2040-02-29T12:00:00+14:00' })?.toISOString()).toBe(
      '2040-02-28T22:00:00.000Z',
    );
    const ahead = testClockStart({ TEST_CLOCK_YEARS_AHEAD: '7' });
    expect(ahead!.getUTCFullYear() - new Date().getUTCFullYear()).toBeGreaterThanOrEqual(6);
    expect(() => testClockStart({ TEST_CLOCK_YEARS_AHEAD: 'soon' })).toThrow(/whole number/);
  });
});
