/**
 * Usage draws from the blocks drawable at each event's own instant (LEDGER_RULES.md §5, §8
 * example 11), through `POST /v1/ingest` and the real worker, Postgres and Redis: credits bought
 * at 14:00 cover usage stamped 15:00 the same day, usage stamped before a block was effective
 * never draws from it, and events are drawn in the order the service accepted them.
 *
 * Dates come from the wall clock's "today" in Los Angeles: the service runs on a manual clock
 * started at 16:00 that day, so the tests mean the same on any day and in any TZ.
 */
import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  createUsagePrice,
  dec,
  eventually,
  expectLedgerConsistent,
  sql,
} from '../ledgerTestHelpers.ts';
import { manualClockStart } from '../../support/testDates.ts';

const LA = 'America/Los_Angeles';
const today = DateTime.fromJSDate(manualClockStart()).setZone(LA).startOf('day');
/** Today at `hour`:00 in Los Angeles, as an ISO instant. */
const laToday = (hour: number) => today.plus({ hours: hour }).toUTC().toISO() ?? '';
/** An expiry far enough ahead to stay out of the way, from the same "today". */
const IN_A_MONTH = today.plus({ days: 30 }).toUTC().toISO() ?? '';
const GPU_ONLY = [{ field: 'item_id', operator: 'includes', values: ['gpu'] }];

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: laToday(16) });
});
afterAll(async () => {
  await t?.stop();
});

interface UsageEvent {
  idempotency_key: string;
  event_name: string;
  timestamp: string;
  customer_id: string;
  properties: Record<string, unknown>;
}

const usageEvent = (
  customerId: string,
  eventName: string,
  timestamp: string,
  credits: number,
): UsageEvent => ({
  idempotency_key: randomUUID(),
  event_name: eventName,
  timestamp,
  customer_id: customerId,
  properties: { n: credits },
});

/** Posts the events in one request (one job, in this order) and waits until the worker wrote them. */
async function ingestAndWait(events: UsageEvent[]): Promise<void> {
  const response = await t.request('POST', '/v1/ingest', { events });
  expect(response.status, response.text).toBe(200);
  expect(response.body.validation_failed).toEqual([]);
  const keys = JSON.stringify(events.map((event) => event.idempotency_key));
  await eventually(
    async () => {
      const [row] = await sql<{ count: number }>(
        t,
        // Until then an event is `accepted`: written by the api before it answered.
        "select count(*)::int as count from events where idempotency_key in (select jsonb_array_elements_text(?::jsonb)) and status <> 'accepted'",
        [keys],
      );
      return row?.count === events.length ? true : undefined;
    },
    15_000,
    `${events.length} events applied`,
  );
}

/** Every block of the customer (GET .../credits?include_all_blocks=true): id → balance. */
async function balances(customerId: string): Promise<Record<string, number>> {
  const response = await t.request(
    'GET',
    `/v1/customers/${customerId}/credits?include_all_blocks=true&limit=100`,
  );
  expect(response.status, response.text).toBe(200);
  return Object.fromEntries(
    response.body.data.map((block: { id: string; balance: number }) => [block.id, block.balance]),
  );
}

async function usageEntries(customerId: string): Promise<Array<[string, string, string]>> {
  const rows = await sql<{ block_id: string; amount: string; entry_status: string }>(
    t,
    `select block_id, amount::text as amount, entry_status from ledger_entries
      where customer_id = ? and price_id is not null order by ledger_sequence_number`,
    [customerId],
  );
  return rows.map((row) => [row.block_id, dec(row.amount), row.entry_status]);
}

describe('usage draws from the blocks drawable at its event instant (§5)', () => {
  it('§8 example 11: credits effective today 14:00 (LA) cover 30 credits stamped 15:00: A → 70, no overdraft block', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    // An expiring block is never the overdraft block: only drawing it at 15:00 can pay for the usage.
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      effective_date: laToday(14),
      expiry_date: IN_A_MONTH,
    });
    const price = await createUsagePrice(t, { item_id: 'gpu', quantity_property: 'n' });
    await ingestAndWait([usageEvent(customer.id, price.event_name, laToday(15), 30)]);

    expect(await balances(customer.id)).toEqual({ [a.credit_block.id]: 70 });
    expect(await usageEntries(customer.id)).toEqual([[a.credit_block.id, '-30', 'pending']]);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('70');
  });

  it('§8 example 11 as written (A never expires): A → 70, one pending entry −30, no overdraft block', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      effective_date: laToday(14),
    });
    const price = await createUsagePrice(t, { item_id: 'gpu', quantity_property: 'n' });
    await ingestAndWait([usageEvent(customer.id, price.event_name, laToday(15), 30)]);

    expect(await balances(customer.id)).toEqual({ [a.credit_block.id]: 70 });
    expect(await usageEntries(customer.id)).toEqual([[a.credit_block.id, '-30', 'pending']]);
  });

  it('usage stamped before a block was effective never draws from it, not even as the overdraft block', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    const later = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 50,
      effective_date: laToday(14),
    });
    const price = await createUsagePrice(t, { item_id: 'gpu', quantity_property: 'n' });
    await ingestAndWait([usageEvent(customer.id, price.event_name, laToday(13), 20)]);

    const after = await balances(customer.id);
    expect(after[later.credit_block.id]).toBe(50);
    const overdraft = Object.keys(after).filter((id) => id !== later.credit_block.id);
    expect(overdraft.map((id) => after[id])).toEqual([-20]);
    expect(await usageEntries(customer.id)).toEqual([[overdraft[0], '-20', 'pending']]);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('30');
  });

  it('events are drawn in the order the service accepted them, each at its own instant', async () => {
    // Y (gpu only) is live all day, X (unfiltered) from 14:00. Accepted 15:00 first, the late event
    // takes Y (filtered first) and the 13:00 one may draw nothing: it goes onto a fresh overdraft
    // block, and X keeps its credit. The other order would draw Y then X.
    const customer = await createCustomer(t, { timezone: LA });
    const y = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 10,
      filters: GPU_ONLY,
      effective_date: laToday(0),
    });
    const x = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 10,
      effective_date: laToday(14),
    });
    const price = await createUsagePrice(t, { item_id: 'gpu', quantity_property: 'n' });
    await ingestAndWait([
      usageEvent(customer.id, price.event_name, laToday(15), 10),
      usageEvent(customer.id, price.event_name, laToday(13), 10),
    ]);

    const after = await balances(customer.id);
    expect(after[y.credit_block.id]).toBe(0);
    expect(after[x.credit_block.id]).toBe(10);
    const overdraft = Object.keys(after).filter(
      (id) => id !== x.credit_block.id && id !== y.credit_block.id,
    );
    expect(overdraft.map((id) => after[id])).toEqual([-10]);
    expect(await usageEntries(customer.id)).toEqual([
      [y.credit_block.id, '-10', 'pending'],
      [overdraft[0], '-10', 'pending'],
    ]);

    const other = await createCustomer(t, { timezone: LA });
    const y2 = await addEntry(t, other.id, {
      entry_type: 'increment',
      amount: 10,
      filters: GPU_ONLY,
      effective_date: laToday(0),
    });
    const x2 = await addEntry(t, other.id, {
      entry_type: 'increment',
      amount: 10,
      effective_date: laToday(14),
    });
    await ingestAndWait([
      usageEvent(other.id, price.event_name, laToday(13), 10),
      usageEvent(other.id, price.event_name, laToday(15), 10),
    ]);
    expect(await balances(other.id)).toEqual({ [y2.credit_block.id]: 0, [x2.credit_block.id]: 0 });
    expect(await expectLedgerConsistent(t, other.id)).toBe('0');
  });
});
