/**
 * The usage day of an event (LEDGER_RULES.md §5): the calendar date of its timestamp in the
 * customer's timezone, with the instants that bound it. A day closes (its pending entries become
 * committed) when its end plus the grace period has passed.
 */
import { DateTime, type Duration } from 'luxon';

export interface UsageDay {
  /** YYYY-MM-DD in the customer's timezone. */
  usageDay: string;
  startsAt: Date;
  endsAt: Date;
  closesAt: Date;
}

export function usageDayOf(timestamp: Date, timezone: string, grace: Duration): UsageDay {
  const local = DateTime.fromJSDate(timestamp, { zone: timezone });
  const start = local.startOf('day');
  // The next midnight, not start + 24 h: days around a DST change are 23 or 25 hours long.
  const end = start.plus({ days: 1 }).startOf('day');
  return {
    usageDay: start.toISODate() ?? '',
    startsAt: start.toJSDate(),
    endsAt: end.toJSDate(),
    closesAt: end.plus(grace).toJSDate(),
  };
}

/**
 * `usageDayOf` for many events: most of a batch falls on a few days, and luxon's zone arithmetic
 * costs more than everything else done per event, so each (timezone, day) is computed once.
 */
export class UsageDayCache {
  private readonly grace: Duration;
  private readonly lastByZone = new Map<string, UsageDay>();

  constructor(grace: Duration) {
    this.grace = grace;
  }

  dayOf(timestamp: Date, timezone: string): UsageDay {
    const last = this.lastByZone.get(timezone);
    const at = timestamp.getTime();
    if (last && at >= last.startsAt.getTime() && at < last.endsAt.getTime()) return last;
    const day = usageDayOf(timestamp, timezone, this.grace);
    this.lastByZone.set(timezone, day);
    return day;
  }
}
