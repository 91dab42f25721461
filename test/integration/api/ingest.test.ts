/**
 * `POST /v1/ingest` against the real service (LEDGER_RULES.md §5; Orb's IngestionResponse): each
 * event is validated on its own and a bad one is reported in `validation_failed` with its
 * idempotency key while the good ones are accepted; timestamps must lie inside the grace period
 * and at most five minutes ahead; each idempotency key is applied once; events without a price
 * or without their quantity are kept and deduct nothing; events for an external customer id that
 * names no customer yet wait for that customer.
 *
 * Ingest answers once Postgres holds the events (status `accepted`) and Redis the job that rings
 * the worker, which applies them moments later; so a test that expects something NOT to be
 * applied sends a good event alongside and waits for that one.
 * Manual clock at D 20:00Z, D the clock's today in UTC (now, or TEST_CLOCK_START), with the default
 * 12 h grace: events from D 08:00Z to D 20:05Z are accepted. Only the last test moves the clock.
 */
import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValid } from '../../support/openApiValidator.ts';
import { addToDate, dateIn, manualClockStart } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  createUsagePrice,
  dec,
  ERROR_TYPE,
  eventually,
  expectLedgerConsistent,
  sleep,
  sql,
  uniqueName,
} from '../ledgerTestHelpers.ts';

const DAY = dateIn('UTC', manualClockStart());
const PREVIOUS_DAY = addToDate(DAY, { days: -1 });
const START = `${DAY}T20:00:00.000Z`;
/** Before every usage day used here (customers are in UTC). */
const EFFECTIVE = addToDate(DAY, { days: -20 });

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START });
});
afterAll(async () => {
  await t?.stop();
});

function createPrice(
  fields: Record<string, unknown> = {},
): Promise<{ id: string; event_name: string }> {
  return createUsagePrice(t, fields, 'ingest');
}

type Event = Record<string, unknown> & { idempotency_key: string };

function usageEvent(
  customerId: string,
  eventName: string,
  fields: Record<string, unknown> = {},
): Event {
  return {
    idempotency_key: randomUUID(),
    event_name: eventName,
    timestamp: `${DAY}T19:00:00Z`,
    customer_id: customerId,
    properties: {},
    ...fields,
  };
}

async function ingest(
  events: unknown[],
): Promise<{ validation_failed: { idempotency_key: string; validation_errors: string[] }[] }> {
  const response = await t.request('POST', '/v1/ingest', { events });
  expect(response.status, response.text).toBe(200);
  expectValid('IngestionResponse', response.body);
  return response.body;
}

interface EventRow {
  idempotency_key: string;
  customer_id: string | null;
  external_customer_id: string | null;
  status: string;
  price_id: string | null;
  credits: string | null;
  usage_day: string | null;
}

async function eventRows(keys: string[]): Promise<EventRow[]> {
  const rows = await sql<EventRow>(
    t,
    `select idempotency_key, customer_id, external_customer_id, status, price_id, credits::text as credits, usage_day::text as usage_day
       from events where idempotency_key in (select jsonb_array_elements_text(?::jsonb)) order by timestamp, idempotency_key`,
    [JSON.stringify(keys)],
  );
  return rows.map((row) => ({ ...row, credits: row.credits === null ? null : dec(row.credits) }));
}

/**
 * Waits until the worker has applied these events (with their ledger change, same transaction):
 * until then they are `accepted`, written by the api before it answered.
 */
async function applied(keys: string[], status?: string, timeoutMs = 10_000): Promise<void> {
  await eventually(
    async () => {
      const rows = await eventRows(keys);
      return rows.length === keys.length &&
        rows.every((row) =>
          status === undefined ? row.status !== 'accepted' : row.status === status,
        )
        ? true
        : undefined;
    },
    timeoutMs,
    `${keys.length} events written`,
  );
}

async function balance(customerId: string): Promise<number> {
  const response = await t.request('GET', `/v1/customers/${customerId}/credits`);
  expect(response.status, response.text).toBe(200);
  expectValid('CustomerCreditBalances', response.body);
  return response.body.data.reduce(
    (sum: number, block: { balance: number }) => sum + block.balance,
    0,
  );
}

async function usageEntries(customerId: string): Promise<any[]> {
  const response = await t.request(
    'GET',
    `/v1/customers/${customerId}/credits/ledger?entry_type=decrement`,
  );
  expect(response.status, response.text).toBe(200);
  expectValid('CreditLedgerEntries', response.body);
  return response.body.data;
}

/** A customer in UTC with 100 credits drawable all of November. */
async function fundedCustomer(fields: Record<string, unknown> = {}): Promise<any> {
  const customer = await createCustomer(t, fields);
  await addEntry(t, customer.id, {
    entry_type: 'increment',
    amount: 100,
    effective_date: EFFECTIVE,
  });
  return customer;
}

function failureKeys(body: { validation_failed: { idempotency_key: string }[] }): string[] {
  return body.validation_failed.map((failure) => failure.idempotency_key);
}

describe('per-event validation', () => {
  it('reports each malformed event with its idempotency key and still accepts the good one', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice();
    const good = usageEvent(customer.id, price.event_name);
    const { idempotency_key: _omitted, ...noKey } = usageEvent(customer.id, price.event_name);
    const { event_name: _noName, ...noName } = usageEvent(customer.id, price.event_name);
    const { properties: _noProperties, ...noProperties } = usageEvent(
      customer.id,
      price.event_name,
    );
    const bad: Record<string, Event> = {
      noName: noName as Event,
      noProperties: noProperties as Event,
      bothIds: usageEvent(customer.id, price.event_name, { external_customer_id: 'ext-both' }),
      neitherId: usageEvent(customer.id, price.event_name, { customer_id: undefined }),
      bothNull: usageEvent(customer.id, price.event_name, {
        customer_id: null,
        external_customer_id: null,
      }),
      nested: usageEvent(customer.id, price.event_name, { properties: { region: { name: 'eu' } } }),
      arrayProperty: usageEvent(customer.id, price.event_name, { properties: { tags: ['a'] } }),
      unknownCustomer: usageEvent('cus_does_not_exist', price.event_name),
      unknownField: usageEvent(customer.id, price.event_name, { source: 'x' }),
      badTimestamp: usageEvent(customer.id, price.event_name, { timestamp: 'yesterday' }),
      emptyName: usageEvent(customer.id, price.event_name, { event_name: '' }),
    };
    const body = await ingest([noKey, ...Object.values(bad), good]);

    expect(failureKeys(body).sort()).toEqual(
      ['', ...Object.values(bad).map((event) => event.idempotency_key)].sort(),
    );
    for (const failure of body.validation_failed) {
      expect(failure.validation_errors.length, failure.idempotency_key).toBeGreaterThan(0);
      for (const error of failure.validation_errors) expect(typeof error).toBe('string');
    }
    const reasons = (event: Event) =>
      body.validation_failed
        .find((failure) => failure.idempotency_key === event.idempotency_key)
        ?.validation_errors.join(' | ');
    expect(
      body.validation_failed
        .find((failure) => failure.idempotency_key === '')
        ?.validation_errors.join(' '),
    ).toMatch(/idempotency_key/);
    expect(reasons(bad.noName!)).toMatch(/event_name/);
    expect(reasons(bad.bothIds!)).toMatch(/customer_id/);
    expect(reasons(bad.neitherId!)).toMatch(/customer_id/);
    expect(reasons(bad.unknownCustomer!)).toMatch(/cus_does_not_exist/);
    expect(reasons(bad.nested!)).toMatch(/properties/);

    await applied([good.idempotency_key], 'applied');
    const stored = await eventRows(Object.values(bad).map((event) => event.idempotency_key));
    expect(stored).toEqual([]);
    expect(await balance(customer.id)).toBe(99);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('99');
  });

  it('answers 413 for 501 events and accepts exactly 500', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice({ unit_amount: '0.1' });
    const tooMany = Array.from({ length: 501 }, () => usageEvent(customer.id, price.event_name));
    const refused = await t.request('POST', '/v1/ingest', { events: tooMany });
    expect(refused.status, refused.text).toBe(413);
    expectValid('413Error', refused.body);

    const events = tooMany.slice(0, 500);
    expect((await ingest(events)).validation_failed).toEqual([]);
    await applied(
      events.map((event) => event.idempotency_key),
      'applied',
    );
    const [sum] = await sql<{ credits: string }>(
      t,
      `select sum(credits)::text as credits from events where customer_id = ?`,
      [customer.id],
    );
    expect(dec(sum!.credits)).toBe('50');
    expect(await balance(customer.id)).toBe(50);
    // A request after the refusal stored nothing of the 501st.
    expect(await eventRows([tooMany[500]!.idempotency_key])).toEqual([]);
  });

  it('answers 400 for an unknown top-level key, a missing or non-array events, and non-JSON', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice();
    const event = usageEvent(customer.id, price.event_name);
    for (const body of [{ events: [event], debug: true }, {}, { events: event }, '{"events": [']) {
      const response = await t.request('POST', '/v1/ingest', body);
      expect(response.status, `${JSON.stringify(body)}: ${response.text}`).toBe(400);
      expectValid('400Error', response.body);
      expect(response.body.type).toBe(ERROR_TYPE.validation);
    }
    // Nothing of a refused request is applied; the same event sent properly afterwards is.
    await ingest([event]);
    await applied([event.idempotency_key], 'applied');
    expect(await balance(customer.id)).toBe(99);
  });
});

describe('what a 200 means', () => {
  it('every accepted event is in Postgres when the answer leaves, whatever Redis does next', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice();
    const events = [1, 2, 3].map(() => usageEvent(customer.id, price.event_name));
    expect((await ingest(events)).validation_failed).toEqual([]);
    // Read at once, before the worker can have been rung: written by the api, not the worker.
    const rows = await eventRows(events.map((event) => event.idempotency_key));
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(['accepted', 'applied']).toContain(row.status);
    await applied(
      events.map((event) => event.idempotency_key),
      'applied',
    );
    expect(await balance(customer.id)).toBe(97);
  });
});

describe('timestamps: grace period and future skew', () => {
  it('refuses events older than now - grace or more than 5 minutes ahead; accepts those just inside', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice();
    const tooOld = usageEvent(customer.id, price.event_name, { timestamp: `${DAY}T07:59:59Z` });
    const oldest = usageEvent(customer.id, price.event_name, { timestamp: `${DAY}T08:00:01Z` });
    const latest = usageEvent(customer.id, price.event_name, { timestamp: `${DAY}T20:04:59Z` });
    const tooNew = usageEvent(customer.id, price.event_name, { timestamp: `${DAY}T20:05:01Z` });
    const body = await ingest([tooOld, oldest, latest, tooNew]);

    expect(failureKeys(body).sort()).toEqual(
      [tooOld.idempotency_key, tooNew.idempotency_key].sort(),
    );
    const reason = (event: Event) =>
      body.validation_failed
        .find((failure) => failure.idempotency_key === event.idempotency_key)
        ?.validation_errors.join(' ');
    expect(reason(tooOld)).toMatch(/grace/);
    expect(reason(tooNew)).toMatch(/future/);

    await applied([oldest.idempotency_key, latest.idempotency_key], 'applied');
    expect(await eventRows([tooOld.idempotency_key, tooNew.idempotency_key])).toEqual([]);
    expect(await balance(customer.id)).toBe(98);
    const entries = await usageEntries(customer.id);
    expect(entries.map((entry) => [entry.entry_status, entry.amount, entry.price_id])).toEqual([
      ['pending', -2, price.id],
    ]);
  });

  it('a date-time the validator admits but Date cannot read (ISO ordinal, week, hour-only) fails alone, not the request', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice();
    const good = usageEvent(customer.id, price.event_name);
    // All three name D 19:00Z in ISO 8601 forms that luxon reads and `new Date` does not.
    const day = DateTime.fromISO(DAY, { zone: 'UTC' });
    const odd = [
      `${day.toFormat('yyyy-ooo')}T19:00:00Z`,
      `${day.toFormat("kkkk-'W'WW-c")}T19:00:00Z`,
      `${DAY}T19Z`,
    ].map((timestamp) => usageEvent(customer.id, price.event_name, { timestamp }));
    const response = await t.request('POST', '/v1/ingest', { events: [...odd, good] });
    expect(response.status, response.text).toBe(200);
    expectValid('IngestionResponse', response.body);
    const failed = new Set(failureKeys(response.body));
    expect(failed.has(good.idempotency_key)).toBe(false);
    await applied([good.idempotency_key], 'applied');
    // Each odd one is either refused in validation_failed or read as the instant it names.
    const accepted = odd
      .filter((event) => !failed.has(event.idempotency_key))
      .map((event) => event.idempotency_key);
    await applied(accepted);
    const [row] = await sql<{ count: number }>(
      t,
      `select count(*)::int as count from events where idempotency_key in (select jsonb_array_elements_text(?::jsonb)) and timestamp = ?`,
      [JSON.stringify(accepted), `${DAY}T19:00:00Z`],
    );
    expect(row?.count).toBe(accepted.length);
    expect(await balance(customer.id)).toBe(99 - accepted.length);
  });

  it('a timestamp without an offset is UTC (Orb: "no timezone offset (i.e. UTC)"), whatever the server timezone', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice();
    const event = usageEvent(customer.id, price.event_name, { timestamp: `${DAY}T12:00:00` });
    expect((await ingest([event])).validation_failed).toEqual([]);
    await applied([event.idempotency_key], 'applied');
    const [row] = await sql<{ at: string }>(
      t,
      `select to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') as at from events where idempotency_key = ?`,
      [event.idempotency_key],
    );
    expect(row?.at).toBe(`${DAY}T12:00:00`);
  });

  it('a refused event can be sent again, fixed, under the same idempotency key', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice();
    const late = usageEvent(customer.id, price.event_name, {
      timestamp: `${PREVIOUS_DAY}T12:00:00Z`,
    });
    expect(failureKeys(await ingest([late]))).toEqual([late.idempotency_key]);
    const fixed = { ...late, timestamp: `${DAY}T12:00:00Z` };
    expect((await ingest([fixed])).validation_failed).toEqual([]);
    await applied([late.idempotency_key], 'applied');
    expect(await balance(customer.id)).toBe(99);
  });
});

describe('idempotency keys', () => {
  it('the same key twice in one request is applied once', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice();
    const event = usageEvent(customer.id, price.event_name);
    expect((await ingest([event, event, { ...event }])).validation_failed).toEqual([]);
    await applied([event.idempotency_key], 'applied');
    const [row] = await sql<{ count: number }>(
      t,
      'select count(*)::int as count from events where customer_id = ?',
      [customer.id],
    );
    expect(row?.count).toBe(1);
    expect(await balance(customer.id)).toBe(99);
    expect((await usageEntries(customer.id)).map((entry) => entry.amount)).toEqual([-1]);
  });

  it('the same key across two requests is applied once', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice();
    const event = usageEvent(customer.id, price.event_name);
    await ingest([event]);
    await applied([event.idempotency_key], 'applied');
    // The repeat rides with a fresh event; once that one is written, the repeat has been handled too.
    const marker = usageEvent(customer.id, price.event_name);
    expect((await ingest([event, marker])).validation_failed).toEqual([]);
    await applied([marker.idempotency_key], 'applied');
    const [row] = await sql<{ count: number }>(
      t,
      'select count(*)::int as count from events where customer_id = ?',
      [customer.id],
    );
    expect(row?.count).toBe(2);
    expect(await balance(customer.id)).toBe(98);
    expect((await usageEntries(customer.id)).map((entry) => entry.amount)).toEqual([-2]);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('98');
  });
});

describe('events that price nothing', () => {
  it('stores an event with no live price as unpriced and deducts nothing', async () => {
    const customer = await fundedCustomer();
    const event = usageEvent(customer.id, uniqueName('no_price'));
    expect((await ingest([event])).validation_failed).toEqual([]);
    await applied([event.idempotency_key]);
    expect(await eventRows([event.idempotency_key])).toEqual([
      {
        idempotency_key: event.idempotency_key,
        customer_id: customer.id,
        external_customer_id: null,
        status: 'unpriced',
        price_id: null,
        credits: null,
        usage_day: null,
      },
    ]);
    expect(await balance(customer.id)).toBe(100);
    expect(await usageEntries(customer.id)).toEqual([]);
  });

  it('marks a missing, non-numeric or negative quantity invalid_quantity; numeric strings and decimals are priced exactly', async () => {
    const customer = await fundedCustomer();
    const price = await createPrice({ unit_amount: '0.1', quantity_property: 'tokens' });
    const missing = usageEvent(customer.id, price.event_name, {
      timestamp: `${DAY}T19:00:01Z`,
      properties: { other: 5 },
    });
    const text = usageEvent(customer.id, price.event_name, {
      timestamp: `${DAY}T19:00:02Z`,
      properties: { tokens: 'many' },
    });
    const negative = usageEvent(customer.id, price.event_name, {
      timestamp: `${DAY}T19:00:03Z`,
      properties: { tokens: -3 },
    });
    const flag = usageEvent(customer.id, price.event_name, {
      timestamp: `${DAY}T19:00:04Z`,
      properties: { tokens: true },
    });
    const numericString = usageEvent(customer.id, price.event_name, {
      timestamp: `${DAY}T19:00:05Z`,
      properties: { tokens: '3' },
    });
    const decimal = usageEvent(customer.id, price.event_name, {
      timestamp: `${DAY}T19:00:06Z`,
      properties: { tokens: 0.3 },
    });
    const events = [missing, text, negative, flag, numericString, decimal];
    expect((await ingest(events)).validation_failed).toEqual([]);
    await applied(events.map((event) => event.idempotency_key));

    const rows = await eventRows(events.map((event) => event.idempotency_key));
    expect(rows.map((row) => [row.status, row.price_id, row.credits])).toEqual([
      ['invalid_quantity', price.id, null],
      ['invalid_quantity', price.id, null],
      ['invalid_quantity', price.id, null],
      ['invalid_quantity', price.id, null],
      ['applied', price.id, '0.3'],
      ['applied', price.id, '0.03'],
    ]);
    expect(
      (await usageEntries(customer.id)).map((entry) => [entry.amount, entry.ending_balance]),
    ).toEqual([[-0.33, 99.67]]);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('99.67');
  });
});

describe('external customer ids', () => {
  it('applies events sent by the external id of an existing customer', async () => {
    const external = uniqueName('ext');
    const customer = await fundedCustomer({ external_customer_id: external });
    const price = await createPrice();
    const event = usageEvent(customer.id, price.event_name, {
      customer_id: undefined,
      external_customer_id: external,
    });
    expect((await ingest([event])).validation_failed).toEqual([]);
    await applied([event.idempotency_key], 'applied');
    expect((await eventRows([event.idempotency_key]))[0]).toMatchObject({
      customer_id: customer.id,
      external_customer_id: external,
    });
    expect(await balance(customer.id)).toBe(99);
  });

  it('keeps events for an external id that names no customer yet, and applies them when it is created', async () => {
    const external = uniqueName('ext_later');
    const price = await createPrice({ quantity_property: 'n' });
    const events = [2, 3].map((n, index) =>
      usageEvent('', price.event_name, {
        customer_id: null,
        external_customer_id: external,
        timestamp: `${DAY}T1${index}:00:00Z`,
        properties: { n },
      }),
    );
    expect((await ingest(events)).validation_failed).toEqual([]);
    const keys = events.map((event) => event.idempotency_key);
    expect(
      (await eventRows(keys)).map((row) => [row.status, row.customer_id, row.external_customer_id]),
    ).toEqual([
      ['awaiting_customer', null, external],
      ['awaiting_customer', null, external],
    ]);
    // A repeat while waiting is still one event.
    expect((await ingest([events[0]])).validation_failed).toEqual([]);

    const customer = await createCustomer(t, { external_customer_id: external });
    await applied(keys, 'applied');
    const rows = await eventRows(keys);
    expect(rows.map((row) => [row.status, row.customer_id, row.credits, row.usage_day])).toEqual([
      ['applied', customer.id, '2', DAY],
      ['applied', customer.id, '3', DAY],
    ]);
    const entries = await usageEntries(customer.id);
    expect(entries.map((entry) => [entry.entry_status, entry.amount, entry.price_id])).toEqual([
      ['pending', -5, price.id],
    ]);
    expect(await balance(customer.id)).toBe(-5);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('-5');
  });
  it('applies an event kept by an older version (written with its applied_at) when its customer is created', async () => {
    const external = uniqueName('ext_old');
    const price = await createPrice();
    const key = randomUUID();
    await sql(
      t,
      `insert into events (idempotency_key, customer_id, external_customer_id, event_name, timestamp, properties, status, ingested_at, applied_at)
       values (?, null, ?, ?, ?, '{}'::jsonb, 'awaiting_customer', ?, ?)`,
      [key, external, price.event_name, `${DAY}T19:00:00Z`, START, START],
    );
    const customer = await createCustomer(t, { external_customer_id: external });
    await applied([key], 'applied');
    expect((await eventRows([key]))[0]).toMatchObject({ customer_id: customer.id });
    expect(await balance(customer.id)).toBe(-1);
  });
  it('applies an event whose external id gets its customer while the ingest request is still in flight', async () => {
    const external = uniqueName('ext_race');
    const price = await createPrice();
    const target = usageEvent('', price.event_name, {
      customer_id: null,
      external_customer_id: external,
    });
    // The request stays in validation for a while (one customer lookup per event); the customer
    // is created meanwhile. Whichever side runs last must hand the event to the worker.
    const filler = Array.from({ length: 400 }, () =>
      usageEvent('', price.event_name, {
        customer_id: null,
        external_customer_id: uniqueName('nobody'),
      }),
    );
    const [answer, customer] = await Promise.all([
      t.request('POST', '/v1/ingest', { events: [target, ...filler] }),
      sleep(20).then(() => createCustomer(t, { external_customer_id: external })),
    ]);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body.validation_failed).toEqual([]);
    await applied([target.idempotency_key], 'applied', 3000).catch(() => undefined);
    expect((await eventRows([target.idempotency_key]))[0]).toMatchObject({
      status: 'applied',
      customer_id: customer.id,
    });
    expect(await balance(customer.id)).toBe(-1);
  });
});

describe("POST /v1/ingest?debug=true (Orb's debug: {duplicate, ingested})", () => {
  /** A minute before the service's own clock, whatever date that clock shows. */
  async function justBeforeServiceNow(): Promise<string> {
    const clock = await t.request('GET', '/v1/test_clock');
    expect(clock.status, clock.text).toBe(200);
    return new Date(Date.parse(clock.body.now) - 60_000).toISOString();
  }

  async function ingestDebug(events: unknown[], query = '?debug=true'): Promise<any> {
    const response = await t.request('POST', `/v1/ingest${query}`, { events });
    expect(response.status, response.text).toBe(200);
    expectValid('IngestionResponse', response.body);
    return response.body;
  }

  it('lists new keys as ingested, keys seen before or repeated in the request as duplicate, and failed ones in neither', async () => {
    const timestamp = await justBeforeServiceNow();
    const customer = await fundedCustomer();
    const price = await createPrice();
    const first = usageEvent(customer.id, price.event_name, { timestamp });
    const awaitingKey = {
      ...usageEvent('', price.event_name, { timestamp }),
      customer_id: undefined,
      external_customer_id: uniqueName('debug-nobody'),
    };
    const firstAnswer = await ingestDebug([first, first, awaitingKey]);
    expect(firstAnswer).toEqual({
      validation_failed: [],
      debug: {
        ingested: [first.idempotency_key, awaitingKey.idempotency_key],
        duplicate: [first.idempotency_key],
      },
    });
    await applied([first.idempotency_key], 'applied');

    const fresh = usageEvent(customer.id, price.event_name, { timestamp });
    const broken = { ...usageEvent(customer.id, price.event_name), timestamp: 'yesterday' };
    const unknownCustomer = usageEvent('noSuchCustomer00', price.event_name, { timestamp });
    const second = await ingestDebug([first, fresh, broken, unknownCustomer, awaitingKey]);
    expect(failureKeys(second).sort()).toEqual(
      [broken.idempotency_key, unknownCustomer.idempotency_key].sort(),
    );
    expect(second.debug).toEqual({
      ingested: [fresh.idempotency_key],
      duplicate: [first.idempotency_key, awaitingKey.idempotency_key],
    });
    // Reporting a duplicate changes nothing about how it is applied: still once.
    await applied([fresh.idempotency_key], 'applied');
    expect(await balance(customer.id)).toBe(98);
  });

  it('answers debug: null without debug=true or with debug=false, and 400 for another value', async () => {
    const timestamp = await justBeforeServiceNow();
    const customer = await fundedCustomer();
    const price = await createPrice();
    expect(
      (await ingestDebug([usageEvent(customer.id, price.event_name, { timestamp })], '')).debug,
    ).toBeNull();
    expect(
      (
        await ingestDebug(
          [usageEvent(customer.id, price.event_name, { timestamp })],
          '?debug=false',
        )
      ).debug,
    ).toBeNull();
    const wrong = await t.request('POST', '/v1/ingest?debug=yes', { events: [] });
    expect(wrong.status, wrong.text).toBe(400);
    expect(wrong.body.type).toBe(ERROR_TYPE.validation);
  });
});

describe('kept events past the grace period (runs last: it moves the clock)', () => {
  it('an event kept for an unknown external id is not applied if the customer appears after its grace period', async () => {
    const external = uniqueName('ext_too_late');
    const price = await createPrice();
    const event = usageEvent('', price.event_name, {
      customer_id: null,
      external_customer_id: external,
      timestamp: `${DAY}T09:00:00Z`,
    });
    expect((await ingest([event])).validation_failed).toEqual([]);
    const moved = await t.request('POST', '/v1/test_clock/advance', { to: `${DAY}T22:00:00Z` });
    expect(moved.status, moved.text).toBe(200);
    const customer = await createCustomer(t, { external_customer_id: external });
    // A fresh event for the same customer is the barrier: the kept one would travel before it.
    const marker = usageEvent(customer.id, price.event_name, { timestamp: `${DAY}T21:00:00Z` });
    await ingest([marker]);
    await applied([marker.idempotency_key], 'applied');
    expect((await eventRows([event.idempotency_key]))[0]).toMatchObject({
      status: 'awaiting_customer',
      customer_id: null,
    });
    expect((await usageEntries(customer.id)).map((entry) => entry.amount)).toEqual([-1]);
  });
});
