/**
 * Usage applied by the worker (LEDGER_RULES.md §5, §8 examples 9 and 10), through `POST /v1/ingest`
 * against the real Postgres and Redis, on a manual clock so that usage days are fixed: filtered
 * blocks first, one pending decrement per (price, block, usage day) growing with later events,
 * usage days in the customer's timezone, many concurrent ingest requests for one customer, and
 * days closing (pending → committed) when the test clock passes end of day + grace.
 *
 * Ingest answers once Redis holds the events; the worker writes the events and the ledger change
 * in one transaction, so a test waits until the events' rows are there and then reads the ledger.
 *
 * Day D is the first day on or after the clock's today (now, or TEST_CLOCK_START) on which Los
 * Angeles keeps standard time (UTC-8) from D-1 to D+2, so LA midnight is 08:00Z and every day has
 * 24 hours. The clock starts at D 16:00Z (08:00 in Los Angeles, 01:00 on D+1 in Tokyo) with the
 * default 12 h grace, so that both LA midnight (08:00Z) and Tokyo midnight (15:00Z) are inside the
 * grace window. The day-close tests move the clock and therefore run last.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import { expectValid } from '../../support/openApiValidator.ts';
import { addToDate, dateIn, manualClockStart, steadyDateIn } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  createUsagePrice,
  dec,
  eventually,
  expectLedgerConsistent,
  sql,
  storedEntries,
} from '../ledgerTestHelpers.ts';

const LA = 'America/Los_Angeles';
const TOKYO = 'Asia/Tokyo';
const DAY = steadyDateIn(LA, dateIn(LA, manualClockStart()), { days: 2, offsetMinutes: -8 * 60 });
const PREVIOUS_DAY = addToDate(DAY, { days: -1 });
const NEXT_DAY = addToDate(DAY, { days: 1 });
const DAY_AFTER_NEXT = addToDate(DAY, { days: 2 });
const START = `${DAY}T16:00:00.000Z`;
/** Before the start of every usage day used here, in every timezone used here. */
const EFFECTIVE = addToDate(DAY, { days: -20 });
const GPU_ONLY = [{ field: 'item_id', operator: 'includes', values: ['gpu'] }];

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START });
});
afterAll(async () => {
  await t?.stop();
});

interface PriceFields {
  item_id?: string;
  unit_amount?: string;
  quantity_property?: string;
}

function createPrice(
  fields: PriceFields = {},
): Promise<{ id: string; event_name: string; item_id: string }> {
  return createUsagePrice(t, { ...fields }, 'usage');
}

interface UsageEvent {
  idempotency_key: string;
  event_name: string;
  timestamp: string;
  customer_id: string;
  properties: Record<string, unknown>;
}

function usageEvent(
  customerId: string,
  eventName: string,
  timestamp: string,
  properties: Record<string, unknown> = {},
): UsageEvent {
  return {
    idempotency_key: randomUUID(),
    event_name: eventName,
    timestamp,
    customer_id: customerId,
    properties,
  };
}

/** Posts events and expects every one accepted. */
async function ingest(events: UsageEvent[]): Promise<void> {
  const response = await t.request('POST', '/v1/ingest', { events });
  expect(response.status, response.text).toBe(200);
  expectValid('IngestionResponse', response.body);
  expect(response.body.validation_failed).toEqual([]);
}

/** Waits until the worker has written all these events (their ledger change is in the same transaction). */
async function applied(events: UsageEvent[]): Promise<void> {
  const keys = events.map((event) => event.idempotency_key);
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
    `${keys.length} events applied`,
  );
}

async function ingestAndWait(events: UsageEvent[]): Promise<void> {
  await ingest(events);
  await applied(events);
}

interface UsageEntryRow {
  id: string;
  ledger_sequence_number: number;
  entry_status: string;
  amount: string;
  starting_balance: string;
  ending_balance: string;
  block_id: string;
  price_id: string;
  usage_day: string;
  closes_at: string;
}

async function usageEntries(customerId: string): Promise<UsageEntryRow[]> {
  const rows = await sql<UsageEntryRow>(
    t,
    `select id, ledger_sequence_number, entry_status, amount::text as amount, starting_balance::text as starting_balance,
            ending_balance::text as ending_balance, block_id, price_id, usage_day::text as usage_day, closes_at
       from ledger_entries where customer_id = ? and price_id is not null order by ledger_sequence_number`,
    [customerId],
  );
  return rows.map((row) => ({
    ...row,
    amount: dec(row.amount),
    closes_at: new Date(row.closes_at).toISOString(),
  }));
}

async function eventDays(
  keys: string[],
): Promise<Record<string, { status: string; usage_day: string | null; credits: string | null }>> {
  const rows = await sql<{
    idempotency_key: string;
    status: string;
    usage_day: string | null;
    credits: string | null;
  }>(
    t,
    'select idempotency_key, status, usage_day::text as usage_day, credits::text as credits from events where idempotency_key in (select jsonb_array_elements_text(?::jsonb))',
    [JSON.stringify(keys)],
  );
  return Object.fromEntries(
    rows.map((row) => [
      row.idempotency_key,
      { status: row.status, usage_day: row.usage_day, credits: row.credits && dec(row.credits) },
    ]),
  );
}

async function block(blockId: string): Promise<any> {
  const response = await t.request('GET', `/v1/credit_blocks/${blockId}`);
  expect(response.status, response.text).toBe(200);
  expectValid('CreditBlock', response.body);
  return response.body;
}

async function ledger(customerId: string, query = ''): Promise<any[]> {
  const response = await t.request(
    'GET',
    `/v1/customers/${customerId}/credits/ledger?limit=100${query}`,
  );
  expect(response.status, response.text).toBe(200);
  expectValid('CreditLedgerEntries', response.body);
  return response.body.data;
}

describe('§8 example 9: filtered blocks first', () => {
  it('30 credits of gpu usage draw from the gpu-only block A (100 → 70), not from the unfiltered B', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      filters: GPU_ONLY,
      effective_date: EFFECTIVE,
    });
    const b = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      effective_date: EFFECTIVE,
    });
    const gpu = await createPrice({
      item_id: 'gpu',
      unit_amount: '0.5',
      quantity_property: 'seconds',
    });

    await ingestAndWait([
      usageEvent(customer.id, gpu.event_name, `${DAY}T15:00:00Z`, { seconds: 60 }),
    ]);

    expect((await block(a.credit_block.id)).balance).toBe(70);
    expect((await block(b.credit_block.id)).balance).toBe(100);
    const pending = await ledger(customer.id, '&entry_status=pending');
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({
      entry_type: 'decrement',
      entry_status: 'pending',
      amount: -30,
      starting_balance: 200,
      ending_balance: 170,
      price_id: gpu.id,
      credit_block: { id: a.credit_block.id, filters: GPU_ONLY },
      customer: { id: customer.id },
    });
    expect(
      (await ledger(customer.id, '&entry_status=committed')).map((entry) => entry.entry_type),
    ).toEqual(['increment', 'increment']);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('170');
  });

  it('usage past the filtered block grows its entry and spills onto the unfiltered block; other items never touch the filtered block', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      filters: GPU_ONLY,
      effective_date: EFFECTIVE,
    });
    const b = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      effective_date: EFFECTIVE,
    });
    const gpu = await createPrice({ item_id: 'gpu', quantity_property: 'n' });
    const cpu = await createPrice({ item_id: 'cpu', quantity_property: 'n' });

    await ingestAndWait([usageEvent(customer.id, gpu.event_name, `${DAY}T09:00:00Z`, { n: 30 })]);
    await ingestAndWait([usageEvent(customer.id, cpu.event_name, `${DAY}T09:30:00Z`, { n: 5 })]);
    await ingestAndWait([usageEvent(customer.id, gpu.event_name, `${DAY}T10:00:00Z`, { n: 80 })]);

    expect((await block(a.credit_block.id)).balance).toBe(0);
    expect((await block(b.credit_block.id)).balance).toBe(85);
    const entries = await usageEntries(customer.id);
    expect(
      entries.map((entry) => [
        entry.price_id,
        entry.block_id,
        entry.amount,
        entry.entry_status,
        entry.usage_day,
      ]),
    ).toEqual([
      [gpu.id, a.credit_block.id, '-100', 'pending', DAY],
      [cpu.id, b.credit_block.id, '-5', 'pending', DAY],
      [gpu.id, b.credit_block.id, '-10', 'pending', DAY],
    ]);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('85');
  });
});

describe('§8 example 10: one pending entry per (price, block, usage day)', () => {
  it('1 + 2 + 3 credits in one request make one pending decrement of -6', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      effective_date: EFFECTIVE,
    });
    const price = await createPrice({ unit_amount: '0.5', quantity_property: 'units' });
    await ingestAndWait([
      usageEvent(customer.id, price.event_name, `${DAY}T08:30:00Z`, { units: 2 }),
      usageEvent(customer.id, price.event_name, `${DAY}T12:00:00Z`, { units: 4 }),
      usageEvent(customer.id, price.event_name, `${DAY}T15:59:00Z`, { units: '6' }),
    ]);
    const pending = await ledger(customer.id, '&entry_status=pending');
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({
      entry_type: 'decrement',
      amount: -6,
      starting_balance: 100,
      ending_balance: 94,
      price_id: price.id,
    });
    expect((await block(a.credit_block.id)).balance).toBe(94);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('94');
  });

  it('1 + 2 + 3 credits across three requests (each applied before the next) grow the same entry to -6', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      effective_date: EFFECTIVE,
    });
    const price = await createPrice({ quantity_property: 'units' });
    const seen: string[] = [];
    for (const [units, at] of [
      [1, `${DAY}T08:00:00Z`],
      [2, `${DAY}T13:00:00Z`],
      [3, `${DAY}T16:04:00Z`],
    ] as const) {
      await ingestAndWait([usageEvent(customer.id, price.event_name, at, { units })]);
      const entries = await usageEntries(customer.id);
      expect(entries).toHaveLength(1);
      seen.push(entries[0]!.amount);
    }
    expect(seen).toEqual(['-1', '-3', '-6']);
    const pending = await ledger(customer.id, '&entry_status=pending');
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({
      amount: -6,
      starting_balance: 100,
      ending_balance: 94,
      price_id: price.id,
      credit_block: { id: a.credit_block.id },
    });
    expect(await expectLedgerConsistent(t, customer.id)).toBe('94');
  });
});

describe('usage days in the customer timezone', () => {
  it('two events ten minutes apart around midnight in Los Angeles fall on two usage days', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      effective_date: EFFECTIVE,
    });
    const price = await createPrice();
    const before = usageEvent(customer.id, price.event_name, `${DAY}T07:55:00Z`); // 23:55 on D-1 in LA
    const after = usageEvent(customer.id, price.event_name, `${DAY}T08:05:00Z`); // 00:05 on D
    await ingestAndWait([before, after]);

    expect(await eventDays([before.idempotency_key, after.idempotency_key])).toEqual({
      [before.idempotency_key]: { status: 'applied', usage_day: PREVIOUS_DAY, credits: '1' },
      [after.idempotency_key]: { status: 'applied', usage_day: DAY, credits: '1' },
    });
    const entries = await usageEntries(customer.id);
    expect(
      entries.map((entry) => [entry.usage_day, entry.amount, entry.entry_status, entry.closes_at]),
    ).toEqual([
      [PREVIOUS_DAY, '-1', 'pending', `${DAY}T20:00:00.000Z`], // LA midnight (08:00Z) + 12 h
      [DAY, '-1', 'pending', `${NEXT_DAY}T20:00:00.000Z`],
    ]);
    expect(
      (await ledger(customer.id, '&entry_status=pending')).map((entry) => entry.amount),
    ).toEqual([-1, -1]);
    await expectLedgerConsistent(t, customer.id);
  });

  it('the same two instants around Tokyo midnight split for a Tokyo customer and not for a UTC one', async () => {
    const tokyo = await createCustomer(t, { timezone: TOKYO });
    const utc = await createCustomer(t, { timezone: 'UTC' });
    await addEntry(t, tokyo.id, {
      entry_type: 'increment',
      amount: 100,
      effective_date: EFFECTIVE,
    });
    await addEntry(t, utc.id, { entry_type: 'increment', amount: 100, effective_date: EFFECTIVE });
    const price = await createPrice();
    // 23:55 on D and 00:05 on D+1 in Tokyo; both on D in UTC.
    const events = [tokyo, utc].flatMap((customer) => [
      usageEvent(customer.id, price.event_name, `${DAY}T14:55:00Z`),
      usageEvent(customer.id, price.event_name, `${DAY}T15:05:00Z`),
    ]);
    await ingestAndWait(events);

    const days = await eventDays(events.map((event) => event.idempotency_key));
    expect(events.map((event) => days[event.idempotency_key]?.usage_day)).toEqual([
      DAY,
      NEXT_DAY,
      DAY,
      DAY,
    ]);
    const tokyoEntries = await usageEntries(tokyo.id);
    expect(tokyoEntries.map((entry) => [entry.usage_day, entry.amount, entry.closes_at])).toEqual([
      [DAY, '-1', `${NEXT_DAY}T03:00:00.000Z`], // Tokyo midnight (15:00Z) + 12 h
      [NEXT_DAY, '-1', `${DAY_AFTER_NEXT}T03:00:00.000Z`],
    ]);
    const utcEntries = await usageEntries(utc.id);
    expect(utcEntries.map((entry) => [entry.usage_day, entry.amount, entry.closes_at])).toEqual([
      [DAY, '-2', `${NEXT_DAY}T12:00:00.000Z`],
    ]);
    await expectLedgerConsistent(t, tokyo.id);
    await expectLedgerConsistent(t, utc.id);
  });
});

describe('concurrent ingest for one customer', () => {
  it('20 parallel requests × 25 events of 1 credit: exactly 500 deducted, one pending entry per (price, block, day)', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    const soon = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 200,
      expiry_date: addToDate(DAY, { days: 41 }),
      effective_date: EFFECTIVE,
    });
    const lasting = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 1000,
      effective_date: EFFECTIVE,
    });
    const api = await createPrice({ item_id: 'api' });
    const gpu = await createPrice({ item_id: 'gpu', unit_amount: '0.25', quantity_property: 'n' });
    // Two prices, two LA days (D-1 before 08:00Z, D after), every request mixing them.
    const requests = Array.from({ length: 20 }, (_, request) =>
      Array.from({ length: 25 }, (_, index) => {
        const day = index % 2 === 0 ? `${DAY}T06:00:00Z` : `${DAY}T12:00:00Z`;
        const at = new Date(
          new Date(day).getTime() + request * 60_000 + index * 1000,
        ).toISOString();
        return (request + index) % 3 === 0
          ? usageEvent(customer.id, gpu.event_name, at, { n: 4 })
          : usageEvent(customer.id, api.event_name, at);
      }),
    );
    const answers = await Promise.all(
      requests.map((events) => t.request('POST', '/v1/ingest', { events })),
    );
    for (const answer of answers) {
      expect(answer.status, answer.text).toBe(200);
      expect(answer.body.validation_failed).toEqual([]);
    }
    const all = requests.flat();
    await applied(all);

    const [counted] = await sql<{ events: number; credits: string }>(
      t,
      `select count(*)::int as events, sum(credits)::text as credits from events where customer_id = ? and status = 'applied'`,
      [customer.id],
    );
    expect(counted).toEqual({ events: 500, credits: expect.any(String) });
    expect(dec(counted!.credits)).toBe('500');
    expect((await block(soon.credit_block.id)).balance).toBe(0);
    expect((await block(lasting.credit_block.id)).balance).toBe(700);

    const entries = await usageEntries(customer.id);
    const keys = entries.map((entry) => `${entry.price_id}/${entry.block_id}/${entry.usage_day}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(entries.every((entry) => entry.entry_status === 'pending')).toBe(true);
    expect(entries.length).toBeLessThanOrEqual(8); // 2 prices × 2 blocks × 2 days
    // Per (price, day), the entries add up to what that price's events on that day cost.
    const expected = new Map<string, Decimal>();
    for (const event of all) {
      const day = event.timestamp < `${DAY}T08:00:00` ? PREVIOUS_DAY : DAY;
      const key = `${event.event_name === gpu.event_name ? gpu.id : api.id}/${day}`;
      expected.set(key, (expected.get(key) ?? Decimal.ZERO).plus(Decimal.of('1')));
    }
    const actual = new Map<string, Decimal>();
    for (const entry of entries) {
      const key = `${entry.price_id}/${entry.usage_day}`;
      actual.set(key, (actual.get(key) ?? Decimal.ZERO).minus(Decimal.of(entry.amount)));
    }
    expect(Object.fromEntries([...actual].map(([key, value]) => [key, value.toString()]))).toEqual(
      Object.fromEntries([...expected].map(([key, value]) => [key, value.toString()])),
    );
    expect(await expectLedgerConsistent(t, customer.id)).toBe('700');
  });
});

describe('closing usage days (runs last: it moves the clock)', () => {
  it('commits a day once its end + grace has passed; later usage opens a new pending entry for the new day', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    const b = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      effective_date: EFFECTIVE,
    });
    const price = await createPrice();
    const day20 = usageEvent(customer.id, price.event_name, `${DAY}T07:50:00Z`);
    const day21 = usageEvent(customer.id, price.event_name, `${DAY}T12:00:00Z`);
    await ingestAndWait([day20, day21]);
    const [entry20, entry21] = await usageEntries(customer.id);
    expect([entry20?.usage_day, entry21?.usage_day]).toEqual([PREVIOUS_DAY, DAY]);

    // D-1 (LA) ends at D 08:00Z and closes 12 h later.
    const first = await t.request('POST', '/v1/test_clock/advance', { to: `${DAY}T20:00:00Z` });
    expect(first.status, first.text).toBe(200);
    expect(first.body.jobs_run).toBeGreaterThanOrEqual(1);
    let entries = await usageEntries(customer.id);
    expect(
      entries.map((entry) => [entry.id, entry.usage_day, entry.entry_status, entry.amount]),
    ).toEqual([
      [entry20!.id, PREVIOUS_DAY, 'committed', '-1'],
      [entry21!.id, DAY, 'pending', '-1'],
    ]);
    const committed = await ledger(customer.id, '&entry_status=committed');
    expect(
      committed.map((entry) => [entry.entry_type, entry.amount, entry.price_id ?? null]),
    ).toEqual([
      ['decrement', -1, price.id],
      ['increment', 100, null],
    ]);

    // A closed day takes nothing more: its last instant is now older than the grace period.
    const late = await t.request('POST', '/v1/ingest', {
      events: [usageEvent(customer.id, price.event_name, `${DAY}T07:59:59Z`)],
    });
    expect(late.status, late.text).toBe(200);
    expect(late.body.validation_failed).toHaveLength(1);
    // The open day still grows.
    await ingestAndWait([usageEvent(customer.id, price.event_name, `${DAY}T19:59:00Z`)]);
    entries = await usageEntries(customer.id);
    expect(entries.map((entry) => [entry.usage_day, entry.entry_status, entry.amount])).toEqual([
      [PREVIOUS_DAY, 'committed', '-1'],
      [DAY, 'pending', '-2'],
    ]);

    // D closes at D+1 20:00Z; usage on D+1 then starts a new pending entry.
    const second = await t.request('POST', '/v1/test_clock/advance', {
      to: `${NEXT_DAY}T20:00:00.001Z`,
    });
    expect(second.status, second.text).toBe(200);
    await ingestAndWait([usageEvent(customer.id, price.event_name, `${NEXT_DAY}T19:00:00Z`)]);
    entries = await usageEntries(customer.id);
    expect(
      entries.map((entry) => [
        entry.usage_day,
        entry.entry_status,
        entry.amount,
        entry.starting_balance && dec(entry.starting_balance),
      ]),
    ).toEqual([
      [PREVIOUS_DAY, 'committed', '-1', '100'],
      [DAY, 'committed', '-2', '99'],
      [NEXT_DAY, 'pending', '-1', '97'],
    ]);
    const pending = await ledger(customer.id, '&entry_status=pending');
    expect(pending.map((entry) => [entry.amount, entry.ending_balance, entry.price_id])).toEqual([
      [-1, 96, price.id],
    ]);
    expect((await block(b.credit_block.id)).balance).toBe(96);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('96');
  });

  it('every pending entry whose day closed, of every customer, was committed by the sweep', async () => {
    const [row] = await sql<{ count: number }>(
      t,
      `select count(*)::int as count from ledger_entries where entry_status = 'pending' and closes_at <= ?`,
      [new Date(`${NEXT_DAY}T20:00:00.001Z`)],
    );
    expect(row?.count).toBe(0);
    const [open] = await sql<{ count: number }>(
      t,
      `select count(*)::int as count from ledger_entries where entry_status = 'pending'`,
    );
    // Tokyo's D+1 (closes D+2 03:00Z) and the last test's D+1 are still open.
    expect(open?.count).toBe(2);
  });
});
