/**
 * Dates on the wire (LEDGER_RULES.md §2): a date-only value ("2026-12-28") means 00:00 of that
 * date in the customer's timezone; a date-time means that instant. luxon does the timezone
 * arithmetic, including days that are 23 or 25 hours long.
 */
import { DateTime } from 'luxon';

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

export function resolveInstant(text: string, timezone: string): Date | null {
  const parsed = DATE_ONLY.test(text)
    ? DateTime.fromISO(text, { zone: timezone })
    : DateTime.fromISO(text, { setZone: true });
  return parsed.isValid ? parsed.toJSDate() : null;
}
