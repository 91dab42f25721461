/**
 * `POST /v1/events/search` and `PUT /v1/events/{event_id}/deprecate` (Orb's event endpoints)
 * against the real service, Postgres and Redis, on a manual clock so that usage days are known.
 * Search: Orb's Event shape with exact property numbers, unknown ids left out, the timeframe
 * (start inclusive, end exclusive, default one week ago to now). Deprecation: exactly the event's
 * credits come back (its pending entry shrinks, the block and balance rise, the rest of its group
 * still counts), idempotent repeats, 404 for an unknown event, 400 for an event with no customer
 * and once the usage day has closed.
 *
 * The clock starts at D 16:00Z, D the clock's today in UTC (now, or TEST_CLOCK_START); customers
 * are in UTC (the default), so the events here fall on usage day D, which closes at D+1 12:00Z
 * (midnight + the 12 h grace).
 * The tests that move the clock run last.
 */
import { randomUUID } from 'node:crypto';
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
  sql,
  uniqueName,
} from '../ledgerTestHelpers.ts';

const DAY = dateIn('UTC', manualClockStart());
const NEXT_DAY = addToDate(DAY, { days: 1 });
const ELEVEN_DAYS_BEFORE = addToDate(DAY, { days: -11 });
const START = `${DAY}T16:00:00.000Z`;
const EFFECTIVE = addToDate(DAY, { days: -20 });
const CONSTRAINT_VIOLATION =
  'https://docs.withorb.com/reference/error-responses#400-constraint-violation';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START });
});
afterAll(async () => {
  await t?.stop();
});

/** A price of 0.5 credits per `tokens`. */
function createPrice(): Promise<{ id: string; event_name: string }> {
  return createUsagePrice(
    t,
    { item_id: 'item_tokens', unit_amount: '0.5', quantity_property: 'tokens' },
    'tokens',
  );
}

interface UsageEvent {
  idempotency_key: string;
  event_name: string;
  timestamp: string;
  properties: Record<string, unknown>;
  customer_id?: string;
  external_customer_id?: string;
}

function usageEvent(
  customerId: string,
  eventName: string,
  tokens: number,
  timestamp = `${DAY}T10:00:00.000Z`,
): UsageEvent {
  return {
    idempotency_key: randomUUID(),
    event_name: eventName,
    timestamp,
    customer_id: customerId,
    properties: { tokens },
  };
}

async function ingest(events: Array<UsageEvent | string>): Promise<void> {
  const body = typeof events[0] === 'string' ? `{"events":[${events.join(',')}]}` : { events };
  const response = await t.request('POST', '/v1/ingest', body);
  expect(response.status, response.text).toBe(200);
  expect(response.body.validation_failed).toEqual([]);
}

/** Polls until the worker has written every one of these events. */
async function stored(keys: string[]): Promise<void> {
  await eventually(
    async () => {
      const [row] = await sql<{ count: number }>(
        t,
        // Until then an event is `accepted`: written by the api before it answered.
        "select count(*)::int as count from events where idempotency_key in (select jsonb_array_elements_text(?::jsonb)) and status <> 'accepted'",
        [JSON.stringify(keys)],
      );
      return row?.count === keys.length ? true : undefined;
    },
    15_000,
    `${keys.length} events stored`,
  );
}

async function ingestAndWait(events: UsageEvent[]): Promise<void> {
  await ingest(events);
  await stored(events.map((event) => event.idempotency_key));
}

/** A customer with one block of 100 credits, effective before every usage day here. */
async function fundedCustomer(
  fields: Record<string, unknown> = {},
): Promise<{ customer: any; blockId: string }> {
  const customer = await createCustomer(t, fields);
  const increment = await addEntry(t, customer.id, {
    entry_type: 'increment',
    amount: 100,
    effective_date: EFFECTIVE,
  });
  return { customer, blockId: increment.credit_block.id };
}

async function search(
  body: Record<string, unknown>,
): Promise<{ status: number; body: any; text: string }> {
  return t.request('POST', '/v1/events/search', body);
}

async function deprecate(eventId: string): Promise<{ status: number; body: any; text: string }> {
  return t.request('PUT', `/v1/events/${encodeURIComponent(eventId)}/deprecate`);
}

async function ledgerBalance(customerId: string): Promise<string> {
  const [row] = await sql<{ balance: string }>(
    t,
    `select balance::text as balance from ledgers where customer_id = ? and currency = 'credits'`,
    [customerId],
  );
  return dec(row?.balance ?? '0');
}

async function blockBalance(blockId: string): Promise<string> {
  const [row] = await sql<{ balance: string }>(
    t,
    'select balance::text as balance from credit_blocks where id = ?',
    [blockId],
  );
  return dec(row?.balance ?? 'NaN');
}

/** Σ entry amounts (transfers aside), Σ block balances and the ledger head: always equal. */
async function sums(
  customerId: string,
): Promise<{ entries: string; blocks: string; head: string }> {
  const [row] = await sql<{ entries: string; blocks: string; head: string }>(
    t,
    `select (select sum(amount)::text from ledger_entries where customer_id = ?
               and entry_type not in ('expiration_change', 'void_initiated')) as entries,
            (select sum(balance)::text from credit_blocks where customer_id = ?) as blocks,
            (select balance::text from ledgers where customer_id = ?) as head`,
    [customerId, customerId, customerId],
  );
  return {
    entries: dec(row?.entries ?? '0'),
    blocks: dec(row?.blocks ?? '0'),
    head: dec(row?.head ?? '0'),
  };
}

async function usageEntries(
  customerId: string,
): Promise<
  Array<{ block_id: string; entry_status: string; amount: string; ending_balance: string }>
> {
  const rows = await sql<{
    block_id: string;
    entry_status: string;
    amount: string;
    ending_balance: string;
  }>(
    t,
    `select block_id, entry_status, amount::text as amount, ending_balance::text as ending_balance
       from ledger_entries where customer_id = ? and price_id is not null order by ledger_sequence_number`,
    [customerId],
  );
  return rows.map((row) => ({
    ...row,
    amount: dec(row.amount),
    ending_balance: dec(row.ending_balance),
  }));
}

describe('POST /v1/events/search', () => {
  it("finds applied events by id in Orb's Event shape, with exact property numbers, leaving unknown ids out", async () => {
    const price = await createPrice();
    const external = uniqueName('ext');
    const { customer } = await fundedCustomer({ external_customer_id: external });
    const first = usageEvent(customer.id, price.event_name, 10, `${DAY}T09:00:00.000Z`);
    const second = usageEvent(customer.id, price.event_name, 4, `${DAY}T11:30:00.000Z`);
    // Sent as raw JSON so that the numbers' digits are exactly these.
    const raw = (event: UsageEvent, properties: string) =>
      `{"idempotency_key":"${event.idempotency_key}","event_name":"${event.event_name}","timestamp":"${event.timestamp}","customer_id":"${customer.id}","properties":${properties}}`;
    await ingest([
      raw(
        first,
        '{"tokens":10,"ratio":0.10000000000000000001,"big":123456789012345678901234567890,"model":"gpt","cached":true}',
      ),
      raw(second, '{"tokens":4.50}'),
    ]);
    await stored([first.idempotency_key, second.idempotency_key]);

    const response = await search({
      event_ids: [second.idempotency_key, 'no-such-event', first.idempotency_key],
    });
    expect(response.status, response.text).toBe(200);
    expectValid('Events', response.body);
    expect(response.body.data).toEqual([
      {
        id: first.idempotency_key,
        customer_id: customer.id,
        external_customer_id: external,
        event_name: price.event_name,
        properties: {
          tokens: 10,
          ratio: 0.1,
          big: 1.2345678901234568e29,
          model: 'gpt',
          cached: true,
        },
        timestamp: `${DAY}T09:00:00.000Z`,
        deprecated: false,
      },
      {
        id: second.idempotency_key,
        customer_id: customer.id,
        external_customer_id: external,
        event_name: price.event_name,
        properties: { tokens: 4.5 },
        timestamp: `${DAY}T11:30:00.000Z`,
        deprecated: false,
      },
    ]);
    // The wire carries the digits as ingested, never through a float.
    expect(response.text).toContain('"ratio":0.10000000000000000001');
    expect(response.text).toContain('"big":123456789012345678901234567890');
    expect(response.text).toContain('"tokens":4.50');
  });

  it('answers an empty list when no id matches', async () => {
    const response = await search({ event_ids: ['nothing-here'] });
    expect(response.status, response.text).toBe(200);
    expectValid('Events', response.body);
    expect(response.body).toEqual({ data: [] });
  });

  it('respects the timeframe: start inclusive, end exclusive, by default one week ago to now', async () => {
    const price = await createPrice();
    const { customer } = await fundedCustomer();
    const event = usageEvent(customer.id, price.event_name, 2, `${DAY}T12:00:00.000Z`);
    await ingestAndWait([event]);
    // An event older than a week (kept from before; ingest would refuse it now).
    const old = randomUUID();
    await sql(
      t,
      `insert into events (idempotency_key, customer_id, event_name, timestamp, properties, status, ingested_at)
       values (?, ?, 'old_event', ?, '{"n": 1}', 'unpriced', ?)`,
      [old, customer.id, `${ELEVEN_DAYS_BEFORE}T12:00:00Z`, `${ELEVEN_DAYS_BEFORE}T12:00:00Z`],
    );
    const ids = [event.idempotency_key, old];
    const found = async (body: Record<string, unknown>) => {
      const response = await search({ event_ids: ids, ...body });
      expect(response.status, response.text).toBe(200);
      expectValid('Events', response.body);
      return response.body.data.map((item: { id: string }) => item.id);
    };
    expect(await found({})).toEqual([event.idempotency_key]);
    expect(await found({ timeframe_start: null, timeframe_end: null })).toEqual([
      event.idempotency_key,
    ]);
    expect(await found({ timeframe_start: `${EFFECTIVE}T00:00:00Z` })).toEqual([
      old,
      event.idempotency_key,
    ]);
    expect(await found({ timeframe_start: `${DAY}T12:00:00Z` })).toEqual([event.idempotency_key]);
    expect(await found({ timeframe_start: `${DAY}T12:00:00.001Z` })).toEqual([]);
    expect(
      await found({ timeframe_start: `${EFFECTIVE}T00:00:00Z`, timeframe_end: `${DAY}T12:00:00Z` }),
    ).toEqual([old]);
    expect(
      await found({
        timeframe_start: `${EFFECTIVE}T00:00:00Z`,
        timeframe_end: `${DAY}T12:00:00.001Z`,
      }),
    ).toEqual([old, event.idempotency_key]);
    // Offsets are instants: 04:00-08:00 is 12:00Z.
    expect(
      await found({
        timeframe_start: `${DAY}T04:00:00-08:00`,
        timeframe_end: `${DAY}T04:00:01-08:00`,
      }),
    ).toEqual([event.idempotency_key]);
  });

  it('refuses a search without ids, with more than 500, with unknown keys or an empty timeframe', async () => {
    const cases: Record<string, unknown>[] = [
      {},
      { event_ids: [] },
      { event_ids: Array.from({ length: 501 }, (_, index) => `e${index}`) },
      { event_ids: ['a'], customer_id: 'c' },
      { event_ids: ['a'], timeframe_start: 'yesterday' },
      { event_ids: ['a'], timeframe_start: `${DAY}T12:00:00Z`, timeframe_end: `${DAY}T12:00:00Z` },
    ];
    for (const body of cases) {
      const response = await search(body);
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(response.body.type).toBe(ERROR_TYPE.validation);
    }
    const max = await search({ event_ids: Array.from({ length: 500 }, (_, index) => `e${index}`) });
    expect(max.status, max.text).toBe(200);
  });
});

describe('PUT /v1/events/{event_id}/deprecate', () => {
  it("reverses exactly the event's credits: its pending entry shrinks, the rest of its group still counts", async () => {
    const price = await createPrice();
    const { customer, blockId } = await fundedCustomer();
    const ten = usageEvent(customer.id, price.event_name, 10); // 5 credits
    const four = usageEvent(customer.id, price.event_name, 4); // 2 credits
    await ingestAndWait([ten, four]);
    expect(await usageEntries(customer.id)).toEqual([
      { block_id: blockId, entry_status: 'pending', amount: '-7', ending_balance: '93' },
    ]);
    expect(await ledgerBalance(customer.id)).toBe('93');

    const response = await deprecate(ten.idempotency_key);
    expect(response.status, response.text).toBe(200);
    expectValid('DeprecatedEventResult', response.body);
    expect(response.body).toEqual({ deprecated: ten.idempotency_key });

    expect(await usageEntries(customer.id)).toEqual([
      { block_id: blockId, entry_status: 'pending', amount: '-2', ending_balance: '98' },
    ]);
    expect(await ledgerBalance(customer.id)).toBe('98');
    expect(await blockBalance(blockId)).toBe('98');
    expect(await expectLedgerConsistent(t, customer.id)).toBe('98');
    const [row] = await sql<{ status: string }>(
      t,
      'select status from events where idempotency_key = ?',
      [ten.idempotency_key],
    );
    expect(row?.status).toBe('deprecated');

    const found = await search({ event_ids: [ten.idempotency_key, four.idempotency_key] });
    expect(found.status, found.text).toBe(200);
    expectValid('Events', found.body);
    // Same timestamp: the order between them is by id, so compare by id.
    expect(
      Object.fromEntries(
        found.body.data.map((event: { id: string; deprecated: boolean }) => [
          event.id,
          event.deprecated,
        ]),
      ),
    ).toEqual({
      [ten.idempotency_key]: true,
      [four.idempotency_key]: false,
    });

    // Idempotent: a repeat answers the same and returns nothing twice.
    const again = await deprecate(ten.idempotency_key);
    expect(again.status, again.text).toBe(200);
    expect(again.body).toEqual({ deprecated: ten.idempotency_key });
    expect(await ledgerBalance(customer.id)).toBe('98');

    // Later usage of the group grows the same entry on top of what is still counted.
    const six = usageEvent(customer.id, price.event_name, 6); // 3 credits
    await ingestAndWait([six]);
    expect(await usageEntries(customer.id)).toEqual([
      { block_id: blockId, entry_status: 'pending', amount: '-5', ending_balance: '95' },
    ]);
    expect(await ledgerBalance(customer.id)).toBe('95');
  });

  it('goes through the one request path: Idempotency-Key replays, 409 for another event, one request recorded', async () => {
    const price = await createPrice();
    const { customer } = await fundedCustomer();
    const one = usageEvent(customer.id, price.event_name, 2);
    const two = usageEvent(customer.id, price.event_name, 2);
    await ingestAndWait([one, two]);
    const key = { 'idempotency-key': `deprecate-${one.idempotency_key}` };
    const path = (id: string) => `/v1/events/${encodeURIComponent(id)}/deprecate`;
    const first = await t.request('PUT', path(one.idempotency_key), undefined, key);
    expect(first.status, first.text).toBe(200);
    const replay = await t.request('PUT', path(one.idempotency_key), undefined, key);
    expect(replay.status, replay.text).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    const other = await t.request('PUT', path(two.idempotency_key), undefined, key);
    expect(other.status, other.text).toBe(409);
    const requests = await sql<{ kind: string; status: string }>(
      t,
      `select kind, status from requests where customer_id = ? and kind <> 'ledger_entry'`,
      [customer.id],
    );
    expect(requests).toEqual([{ kind: 'event_deprecation', status: 'committed' }]);
    expect(await ledgerBalance(customer.id)).toBe('99');
  });

  it('can deprecate a whole group: the pending entry ends at exactly 0', async () => {
    const price = await createPrice();
    const { customer, blockId } = await fundedCustomer();
    const events = [
      usageEvent(customer.id, price.event_name, 2),
      usageEvent(customer.id, price.event_name, 8),
    ];
    await ingestAndWait(events);
    for (const event of events) expect((await deprecate(event.idempotency_key)).status).toBe(200);
    expect(await usageEntries(customer.id)).toEqual([
      { block_id: blockId, entry_status: 'pending', amount: '0', ending_balance: '100' },
    ]);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('100');
  });

  it('repays the overdraft block first: usage that went negative comes back to 0', async () => {
    const price = await createPrice();
    const customer = await createCustomer(t);
    const event = usageEvent(customer.id, price.event_name, 10); // 5 credits on no credit at all
    await ingestAndWait([event]);
    expect(await ledgerBalance(customer.id)).toBe('-5');
    const response = await deprecate(event.idempotency_key);
    expect(response.status, response.text).toBe(200);
    expect(await ledgerBalance(customer.id)).toBe('0');
    expect((await usageEntries(customer.id)).map((entry) => entry.amount)).toEqual(['0']);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('0');
  });

  it('marks an unpriced event deprecated with nothing to reverse', async () => {
    const { customer } = await fundedCustomer();
    const event = usageEvent(customer.id, uniqueName('no_price'), 3);
    await ingestAndWait([event]);
    const response = await deprecate(event.idempotency_key);
    expect(response.status, response.text).toBe(200);
    expect(response.body).toEqual({ deprecated: event.idempotency_key });
    expect(await ledgerBalance(customer.id)).toBe('100');
    const found = await search({ event_ids: [event.idempotency_key] });
    expect(found.body.data.map((item: { deprecated: boolean }) => item.deprecated)).toEqual([true]);
  });

  it('answers 404 for an unknown event', async () => {
    const response = await deprecate(`missing-${randomUUID()}`);
    expect(response.status, response.text).toBe(404);
    expect(response.body.type).toBe(ERROR_TYPE.notFound);
  });

  it('refuses an event whose external customer id names no customer (Orb: the customer must exist)', async () => {
    const price = await createPrice();
    const event: UsageEvent = {
      ...usageEvent('', price.event_name, 2),
      customer_id: undefined,
      external_customer_id: uniqueName('nobody'),
    };
    await ingestAndWait([event]);
    const response = await deprecate(event.idempotency_key);
    expect(response.status, response.text).toBe(400);
    expect(response.body.type).toBe(CONSTRAINT_VIOLATION);
    const [row] = await sql<{ status: string }>(
      t,
      'select status from events where idempotency_key = ?',
      [event.idempotency_key],
    );
    expect(row?.status).toBe('awaiting_customer');
  });
});

describe('deprecation and the grace period (moves the clock)', () => {
  it('works after midnight inside the grace period, and is refused with 400 once the day has closed', async () => {
    const price = await createPrice();
    const { customer, blockId } = await fundedCustomer();
    const [early, late, kept] = [
      usageEvent(customer.id, price.event_name, 2),
      usageEvent(customer.id, price.event_name, 4),
      usageEvent(customer.id, price.event_name, 6),
    ];
    await ingestAndWait([early, late, kept]);
    // Fully deprecate another group, so that a usage decrement of 0 is committed at day close too.
    const otherPrice = await createPrice();
    const other = usageEvent(customer.id, otherPrice.event_name, 2);
    await ingestAndWait([other]);
    expect((await deprecate(other.idempotency_key)).status).toBe(200);

    // After midnight UTC but before midnight + 12 h: still inside the grace period.
    const inside = await t.request('POST', '/v1/test_clock/advance', {
      to: `${NEXT_DAY}T06:00:00Z`,
    });
    expect(inside.status, inside.text).toBe(200);
    const allowed = await deprecate(early.idempotency_key);
    expect(allowed.status, allowed.text).toBe(200);
    expect(await usageEntries(customer.id)).toEqual([
      { block_id: blockId, entry_status: 'pending', amount: '-5', ending_balance: '95' },
      // Growing (or shrinking) an earlier pending entry does not rewrite the entries after it.
      { block_id: blockId, entry_status: 'pending', amount: '0', ending_balance: '94' },
    ]);

    // Past end of day + GRACE_PERIOD: the day's entries are committed and never change again.
    const past = await t.request('POST', '/v1/test_clock/advance', {
      to: `${NEXT_DAY}T12:00:00.001Z`,
    });
    expect(past.status, past.text).toBe(200);
    expect(
      (await usageEntries(customer.id)).map((entry) => [entry.entry_status, entry.amount]),
    ).toEqual([
      ['committed', '-5'],
      ['committed', '0'],
    ]);
    const refused = await deprecate(late.idempotency_key);
    expect(refused.status, refused.text).toBe(400);
    expect(refused.body.type).toBe(CONSTRAINT_VIOLATION);
    expect(refused.body.detail).toMatch(/outside the grace period/);
    expect(await ledgerBalance(customer.id)).toBe('95');
    expect(await blockBalance(blockId)).toBe('95');
    const found = await search({
      event_ids: [late.idempotency_key],
      timeframe_start: `${DAY}T00:00:00Z`,
    });
    expect(found.body.data.map((item: { deprecated: boolean }) => item.deprecated)).toEqual([
      false,
    ]);
    expect(await sums(customer.id)).toEqual({ entries: '95', blocks: '95', head: '95' });
  });
});
