/**
 * Dates for tests that must pass on any day, in any TZ: every calendar date a test sends or expects
 * is derived from the service's "now" (its manual or system clock), never written as a literal,
 * and every "midnight in the customer's timezone" is computed for that date (DST included).
 *
 * `TEST_CLOCK_START=<ISO instant>` or `TEST_CLOCK_YEARS_AHEAD=<n>` move the clock of every test
 * service that does not pin its own (see testService.ts): the suite then runs as if it were that day
 * (`npm run test:any-day` uses this with far-east and far-west `TZ`s).
 */
import { DateTime } from 'luxon';

/** The instant test services start their clock at when the environment asks for one, else undefined. */
export function testClockStart(env: NodeJS.ProcessEnv = process.env): Date | undefined {
  if (env.TEST_CLOCK_START) {
    const start = DateTime.fromISO(env.TEST_CLOCK_START, { setZone: true });
    if (!start.isValid)
      throw new Error(`TEST_CLOCK_START=${env.TEST_CLOCK_START} is not an ISO 8601 date-time`);
    return start.toJSDate();
  }
  if (env.TEST_CLOCK_YEARS_AHEAD) {
    const years = Number(env.TEST_CLOCK_YEARS_AHEAD);
    if (!Number.isInteger(years))
      throw new Error(`TEST_CLOCK_YEARS_AHEAD=${env.TEST_CLOCK_YEARS_AHEAD} is not a whole number`);
    return DateTime.utc().plus({ years }).toJSDate();
  }
  return undefined;
}

/**
 * The start for a test that runs its own manual clock: the environment's start if there is one,
 * else now (whole seconds, so that the ISO text a test compares with is short and stable).
 */
export function manualClockStart(): Date {
  return DateTime.fromJSDate(testClockStart() ?? new Date())
    .set({ millisecond: 0 })
    .toJSDate();
}

/** The service's current time (what `GET /v1/test_clock` answers with CLOCK=manual, else the system time). */
export function serviceNow(t: { service: { clock: { now(): Date } } }): Date {
  return t.service.clock.now();
}

/** The calendar date (`YYYY-MM-DD`) of `instant` in `zone`, moved by `days` calendar days. */
export function dateIn(zone: string, instant: Date, days = 0): string {
  return DateTime.fromJSDate(instant, { zone }).plus({ days }).toISODate() ?? '';
}

/** `date` (`YYYY-MM-DD`) moved by `days` calendar days (or `months`, `years`). */
export function addToDate(
  date: string,
  amount: { days?: number; months?: number; years?: number },
): string {
  return DateTime.fromISO(date, { zone: 'UTC' }).plus(amount).toISODate() ?? '';
}

/** The UTC instant (ISO 8601, milliseconds, `Z`) of wall time `time` (`HH:mm[:ss]`, default midnight) on `date` in `zone`. */
export function instantAt(date: string, zone: string, time = '00:00'): string {
  const local = DateTime.fromISO(`${date}T${time}`, { zone });
  if (!local.isValid) throw new Error(`${date}T${time} in ${zone} is not a valid local time`);
  return local.toUTC().toISO() ?? '';
}

/**
 * `instant` moved by a duration, as an ISO 8601 UTC string. Calendar units (days, months) keep the
 * wall time in `zone` (default UTC): 30 days after 12:00 in Los Angeles is 12:00 there, across DST.
 */
export function isoPlus(
  instant: Date | string,
  amount: {
    years?: number;
    months?: number;
    days?: number;
    hours?: number;
    minutes?: number;
    seconds?: number;
    milliseconds?: number;
  },
  zone = 'UTC',
): string {
  return DateTime.fromJSDate(new Date(instant), { zone }).plus(amount).toUTC().toISO() ?? '';
}

/**
 * The first date on or after `from` whose calendar days in `zone`, from the day before to `days`
 * after, all have the same UTC offset (and `offsetMinutes`, when given: e.g. -480 for Los Angeles
 * on standard time). A test that names hours of those days in UTC then keeps its meaning.
 */
export function steadyDateIn(
  zone: string,
  from: string,
  options: { days?: number; offsetMinutes?: number } = {},
): string {
  const days = options.days ?? 3;
  for (let date = from, tries = 0; tries < 800; date = addToDate(date, { days: 1 }), tries += 1) {
    const offsets = Array.from(
      { length: days + 3 },
      (_, index) => DateTime.fromISO(addToDate(date, { days: index - 1 }), { zone }).offset,
    );
    const wanted = options.offsetMinutes ?? offsets[0];
    if (offsets.every((offset) => offset === wanted)) return date;
  }
  throw new Error(
    `no date after ${from} has ${zone} at UTC offset ${options.offsetMinutes} minutes`,
  );
}

/**
 * Lets the service's clock reach `to`: a manual clock is moved there (`POST /v1/test_clock/advance`,
 * which also runs what became due), the system clock is waited for.
 */
export async function letTimeReach(
  t: {
    service: { clock: { now(): Date }; config: { clock: string } };
    request(
      method: string,
      path: string,
      body?: unknown,
    ): Promise<{ status: number; text: string }>;
  },
  to: Date,
): Promise<void> {
  if (t.service.config.clock === 'manual') {
    const moved = await t.request('POST', '/v1/test_clock/advance', { to: to.toISOString() });
    if (moved.status !== 200)
      throw new Error(
        `the test clock did not move to ${to.toISOString()}: ${moved.status} ${moved.text}`,
      );
    return;
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, to.getTime() - Date.now())));
}
