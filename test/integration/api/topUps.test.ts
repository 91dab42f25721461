/**
 * Top-ups (Orb `credits/top_ups`, issue 5 item 5) through the HTTP api, the orb-billing SDK and
 * the worker: create (one per customer and currency, replacing the previous), list and delete by
 * Orb id and by external id, every body checked against Orb's OpenAPI schema; then the automatic
 * increment: a decrement that crosses the threshold writes one top-up with its invoice, a crossing
 * while that invoice is unpaid writes none, and a usage batch crossing many times gets exactly one
 * while the first is unpaid. Manual clock started now (or where TEST_CLOCK_YEARS_AHEAD puts it);
 * every date is derived from it.
 */
import { randomUUID } from 'node:crypto';
import Orb from 'orb-billing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectValid } from '../../support/openApiValidator.ts';
import { recordingFetch, type Recorded } from '../../support/recordingFetch.ts';
import { dateIn, isoPlus, manualClockStart } from '../../support/testDates.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  eventually,
  expectLedgerConsistent,
  sql,
  storedEntries,
} from '../ledgerTestHelpers.ts';

const START = manualClockStart().toISOString();
/** The (UTC) date `days` after the clock's start: the customers here are in UTC. */
const day = (days: number) => dateIn('UTC', new Date(START), days);

const recorded: Recorded[] = [];

let t: TestService;
let client: Orb;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START });
  client = new Orb({
    apiKey: TEST_API_KEY,
    baseURL: `${t.baseUrl}/v1`,
    maxRetries: 0,
    timeout: 20_000,
    fetch: recordingFetch(recorded),
  });
});
afterAll(async () => {
  await t?.stop();
});
beforeEach(() => {
  recorded.length = 0;
});

/** Every recorded SDK response is valid against Orb's schema for it. */
function expectRecordedValid(): void {
  for (const { method, path, status, body } of recorded) {
    if (!path.includes('/credits/top_ups')) continue;
    if (status >= 300) expectValid(`${status}Error`, body);
    else if (method === 'POST') expectValid('TopUp', body);
    else if (method === 'GET') expectValid('TopUps', body);
    else expect(body).toBeUndefined();
  }
}

const TOP_UP = {
  currency: 'credits',
  threshold: '10',
  amount: '100',
  per_unit_cost_basis: '0.5',
  invoice_settings: { auto_collection: false, net_terms: 7 },
};

async function createTopUp(customerId: string, body: Record<string, unknown> = TOP_UP) {
  const response = await t.request('POST', `/v1/customers/${customerId}/credits/top_ups`, body);
  if (response.status !== 201) expectValid(`${response.status}Error`, response.body);
  expect(response.status, response.text).toBe(201);
  expectValid('TopUp', response.body);
  return response.body;
}

async function topUpIncrements(customerId: string) {
  return sql<{ id: string; amount: string; block_id: string; description: string | null }>(
    t,
    `select id, amount::text as amount, block_id, description from ledger_entries
      where customer_id = ? and entry_type = 'increment' and description = 'Automatic top-up' order by ledger_sequence_number`,
    [customerId],
  );
}

async function topUpInvoices(customerId: string) {
  return sql<{ id: string; status: string; total: string; block_id: string }>(
    t,
    `select id, status, total::text as total, block_id from invoices where customer_id = ? and top_up order by number`,
    [customerId],
  );
}

describe('top-up configuration', () => {
  it('creates, lists, replaces and deletes through the SDK, by Orb id and by external id', async () => {
    const customer = await client.customers.create({
      name: 'Top-up SDK',
      email: 'topup-sdk@example.com',
      currency: 'USD',
      external_customer_id: `tu-${randomUUID()}`,
    });
    const made = await client.customers.credits.topUps.create(customer.id, {
      ...TOP_UP,
      invoice_settings: {
        auto_collection: true,
        net_terms: 30,
        memo: 'Top-up',
        require_successful_payment: true,
      },
      expires_after: 2,
      expires_after_unit: 'month',
    });
    expect(made).toMatchObject({
      currency: 'credits',
      threshold: '10',
      amount: '100',
      per_unit_cost_basis: '0.5',
      invoice_settings: {
        auto_collection: true,
        net_terms: 30,
        memo: 'Top-up',
        require_successful_payment: true,
      },
      expires_after: 2,
      expires_after_unit: 'month',
    });
    let listed = await client.customers.credits.topUps.list(customer.id);
    expect(listed.data.map((topUp) => topUp.id)).toEqual([made.id]);

    // A second top-up for the same currency replaces the first; another currency is separate.
    const replaced = await client.customers.credits.topUps.createByExternalID(
      customer.external_customer_id!,
      { ...TOP_UP, threshold: '5' },
    );
    const usd = await client.customers.credits.topUps.create(customer.id, {
      ...TOP_UP,
      currency: 'USD',
    });
    listed = await client.customers.credits.topUps.listByExternalID(customer.external_customer_id!);
    expect(listed.data.map((topUp) => topUp.id).sort()).toEqual([replaced.id, usd.id].sort());
    expect(listed.data.find((topUp) => topUp.id === replaced.id)).toMatchObject({
      threshold: '5',
      expires_after: null,
      expires_after_unit: null,
    });

    await client.customers.credits.topUps.delete(replaced.id, { customer_id: customer.id });
    await client.customers.credits.topUps.deleteByExternalID(usd.id, {
      external_customer_id: customer.external_customer_id!,
    });
    expect((await client.customers.credits.topUps.list(customer.id)).data).toEqual([]);
    expect(recorded.filter((each) => each.path.includes('/credits/top_ups'))).toHaveLength(8);
    expectRecordedValid();
  });

  it('refuses a second delete with 404, bad bodies with 400, and a customer without a currency', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const made = await createTopUp(customer.id);
    const path = `/v1/customers/${customer.id}/credits/top_ups/${made.id}`;
    expect((await t.request('DELETE', path)).status).toBe(204);
    const again = await t.request('DELETE', path);
    expect(again.status).toBe(404);
    expectValid('404Error', again.body);

    for (const body of [
      { ...TOP_UP, amount: '0' },
      { ...TOP_UP, currency: 'EUR' },
      { ...TOP_UP, expires_after: 3 },
      { ...TOP_UP, invoice_settings: { auto_collection: false } },
      { ...TOP_UP, unknown: 1 },
      { ...TOP_UP, amount: '0.0000001', per_unit_cost_basis: '0.0000001' },
    ]) {
      const response = await t.request(
        'POST',
        `/v1/customers/${customer.id}/credits/top_ups`,
        body,
      );
      expect(response.status, JSON.stringify(body)).toBe(400);
      expectValid('400Error', response.body);
    }
    const noCurrency = await createCustomer(t);
    const response = await t.request(
      'POST',
      `/v1/customers/${noCurrency.id}/credits/top_ups`,
      TOP_UP,
    );
    expect(response.status).toBe(400);
    const missing = await t.request(
      'GET',
      `/v1/customers/external_customer_id/nobody-${randomUUID()}/credits/top_ups`,
    );
    expect(missing.status).toBe(404);
  });

  it('replays a create with the same Idempotency-Key', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const key = randomUUID();
    const first = await t.request('POST', `/v1/customers/${customer.id}/credits/top_ups`, TOP_UP, {
      'idempotency-key': key,
    });
    const second = await t.request('POST', `/v1/customers/${customer.id}/credits/top_ups`, TOP_UP, {
      'idempotency-key': key,
    });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.text).toBe(first.text);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
  });

  it('goes through the partition as requests: a replay after a replacement still answers the first top-up, deletes replay 204, 202 on respond-async', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const path = `/v1/customers/${customer.id}/credits/top_ups`;
    const key = { 'idempotency-key': randomUUID() };
    const first = await t.request('POST', path, TOP_UP, key);
    expect(first.status, first.text).toBe(201);
    // Replaced by another create: the first key still answers the top-up it made.
    const replacement = await t.request('POST', path, { ...TOP_UP, amount: '77' });
    expect(replacement.status, replacement.text).toBe(201);
    const replay = await t.request('POST', path, TOP_UP, key);
    expect(replay.text).toBe(first.text);
    // Deleting with a key: the retry replays 204 instead of a 404.
    const deleteKey = { 'idempotency-key': randomUUID() };
    const deleted = await t.request(
      'DELETE',
      `${path}/${replacement.body.id}`,
      undefined,
      deleteKey,
    );
    expect(deleted.status, deleted.text).toBe(204);
    const deletedAgain = await t.request(
      'DELETE',
      `${path}/${replacement.body.id}`,
      undefined,
      deleteKey,
    );
    expect(deletedAgain.status, deletedAgain.text).toBe(204);
    expect(deletedAgain.headers.get('idempotent-replayed')).toBe('true');
    const unkeyed = await t.request('DELETE', `${path}/${replacement.body.id}`);
    expect(unkeyed.status, unkeyed.text).toBe(404);
    // Prefer: respond-async: 202 and the request to poll, which ends committed.
    const accepted = await t.request('POST', path, TOP_UP, { prefer: 'respond-async' });
    expect(accepted.status, accepted.text).toBe(202);
    expect(accepted.body).toMatchObject({ kind: 'top_up_create', status: 'queued' });
    let polled = accepted;
    for (let tries = 0; tries < 100 && polled.body.status !== 'committed'; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      polled = await t.request('GET', accepted.headers.get('location') ?? '');
    }
    expect(polled.body.status).toBe('committed');
    const listed = await t.request('GET', path);
    expect(listed.body.data).toHaveLength(1);
    const kinds = await sql<{ kind: string; count: string }>(
      t,
      `select kind, count(*)::text as count from requests where customer_id = ? group by kind order by kind`,
      [customer.id],
    );
    expect(kinds).toEqual([
      { kind: 'top_up_create', count: '3' },
      { kind: 'top_up_delete', count: '2' },
    ]);
  });
});

describe('automatic top-ups after a manual decrement', () => {
  it('a crossing writes one top-up increment with its invoice; a second crossing while unpaid writes none', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 20 });
    await createTopUp(customer.id, { ...TOP_UP, expires_after: 10, expires_after_unit: 'day' });

    // 20 → 15: above the threshold, nothing.
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 5 });
    expect(await topUpIncrements(customer.id)).toEqual([]);

    // 15 → 5 crosses 10: one top-up of 100, invoiced at 0.5 each, expiring in 10 days.
    const decrement = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 10 });
    expect(decrement.ending_balance).toBe(5);
    let increments = await topUpIncrements(customer.id);
    expect(increments).toHaveLength(1);
    expect(increments[0]!.amount).toBe('100.000000000000');
    const [block] = await sql<{ expiry_date: Date; per_unit_cost_basis: string }>(
      t,
      'select expiry_date, per_unit_cost_basis from credit_blocks where id = ?',
      [increments[0]!.block_id],
    );
    expect(new Date(block!.expiry_date).toISOString()).toBe(isoPlus(START, { days: 10 }));
    const listed = await t.request('GET', `/v1/credit_blocks/${increments[0]!.block_id}`);
    expectValid('CreditBlock', listed.body);
    expect(listed.body.credit_block_source).toBe('top_up');
    let invoices = await topUpInvoices(customer.id);
    expect(invoices).toMatchObject([
      { status: 'issued', total: '50.000000000000', block_id: increments[0]!.block_id },
    ]);
    const invoice = await t.request('GET', `/v1/invoices/${invoices[0]!.id}`);
    expect(invoice.status).toBe(200);
    expectValid('Invoice', invoice.body);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('105');

    // 105 → 5 crosses again, but the first top-up is unpaid: nothing.
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 100 });
    expect(await topUpIncrements(customer.id)).toHaveLength(1);

    // Paid, then lifted above and crossed again: a second top-up.
    const paid = await t.request('POST', `/v1/invoices/${invoices[0]!.id}/mark_paid`, {
      payment_received_date: day(0),
    });
    expect(paid.status, paid.text).toBe(200);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 10 });
    increments = await topUpIncrements(customer.id);
    expect(increments).toHaveLength(2);
    invoices = await topUpInvoices(customer.id);
    expect(invoices.map((each) => each.status)).toEqual(['paid', 'issued']);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('105');
  });

  it('a deleted top-up writes nothing', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 20 });
    const made = await createTopUp(customer.id);
    expect(
      (await t.request('DELETE', `/v1/customers/${customer.id}/credits/top_ups/${made.id}`)).status,
    ).toBe(204);
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 15 });
    expect(await topUpIncrements(customer.id)).toEqual([]);
  });
});

describe('automatic top-ups from usage', () => {
  it('a batch crossing the threshold many times gets exactly one top-up while it is unpaid', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 20,
      effective_date: day(-20),
    });
    await createTopUp(customer.id, { ...TOP_UP, amount: '20' });
    // Three prices: three usage groups in one batch, 15 credits each. 20 → 5 (top-up → 25) →
    // 10 (a crossing, but the top-up is unpaid) → -5.
    const prices = [];
    for (let i = 0; i < 3; i += 1) {
      const eventName = `topup_usage_${randomUUID().slice(0, 8)}`;
      const response = await t.request('POST', '/v1/usage_prices', {
        name: eventName,
        event_name: eventName,
        item_id: 'item',
        unit_amount: '15',
      });
      expect(response.status, response.text).toBe(201);
      prices.push(response.body.event_name as string);
    }
    const events = prices.map((eventName) => ({
      idempotency_key: randomUUID(),
      event_name: eventName,
      timestamp: isoPlus(START, { hours: -1 }),
      customer_id: customer.id,
      properties: {},
    }));
    const response = await t.request('POST', '/v1/ingest', { events });
    expect(response.status, response.text).toBe(200);
    await eventually(async () => {
      const [row] = await sql<{ count: number }>(
        t,
        `select count(*)::int as count from events where customer_id = ? and status = 'applied'`,
        [customer.id],
      );
      return row?.count === events.length ? true : undefined;
    });
    expect(await topUpIncrements(customer.id)).toHaveLength(1);
    expect(await topUpInvoices(customer.id)).toMatchObject([
      { status: 'issued', total: '10.000000000000' },
    ]);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('-5');
    const entries = await storedEntries(t, customer.id);
    expect(entries.filter((entry) => entry.entry_type === 'increment')).toHaveLength(2);
  });
});

describe('active_from (issue 12 §3): a top-up does nothing before it', () => {
  const HOUR_MS = 3_600_000;
  const DAY_MS = 24 * HOUR_MS;

  /** The service's test clock, whatever date it was started at. */
  async function serviceNow(): Promise<Date> {
    const clock = await t.request('GET', '/v1/test_clock');
    expect(clock.status, clock.text).toBe(200);
    return new Date(clock.body.now);
  }

  it('is accepted by the SDK, stored, and read back by create and list', async () => {
    const now = await serviceNow();
    const customer = await client.customers.create({
      name: 'Top-up active_from',
      email: 'topup-active@example.com',
      currency: 'USD',
    });
    const activeFrom = new Date(now.getTime() + HOUR_MS).toISOString();
    const made = await client.customers.credits.topUps.create(customer.id, {
      ...TOP_UP,
      active_from: activeFrom,
    });
    expect(made).toMatchObject({ threshold: '10', amount: '100', active_from: activeFrom });
    const listed = await client.customers.credits.topUps.list(customer.id);
    expect(listed.data).toEqual([made]);
    // An offset is read as the instant it names and answered in UTC.
    const offset = await createTopUp(customer.id, {
      ...TOP_UP,
      active_from: activeFrom.replace('Z', '+00:00'),
    });
    expect(offset.active_from).toBe(activeFrom);
    const immediate = await createTopUp(customer.id, { ...TOP_UP, active_from: null });
    expect(immediate.active_from).toBeNull();
    expectRecordedValid();
  });

  it('refuses an active_from more than 10 days in the past or not a date-time (400), and takes one 9 days back', async () => {
    const now = await serviceNow();
    const customer = await createCustomer(t, { currency: 'USD' });
    for (const activeFrom of [
      new Date(now.getTime() - 11 * DAY_MS).toISOString(),
      'tomorrow',
      '2026-13-01T00:00:00Z',
      5,
    ]) {
      const response = await t.request('POST', `/v1/customers/${customer.id}/credits/top_ups`, {
        ...TOP_UP,
        active_from: activeFrom,
      });
      expect(response.status, `${activeFrom}: ${response.text}`).toBe(400);
      expectValid('400Error', response.body);
      expect(response.body.validation_errors.join(' ')).toContain('active_from');
    }
    const recent = new Date(now.getTime() - 9 * DAY_MS).toISOString();
    expect((await createTopUp(customer.id, { ...TOP_UP, active_from: recent })).active_from).toBe(
      recent,
    );
  });

  // Runs last in this file: it moves the service's clock forward.
  it('a crossing before active_from writes nothing; the first crossing after it writes the top-up', async () => {
    const now = await serviceNow();
    const customer = await createCustomer(t, { currency: 'USD' });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 20 });
    const activeFrom = new Date(now.getTime() + HOUR_MS);
    await createTopUp(customer.id, { ...TOP_UP, active_from: activeFrom.toISOString() });

    // 20 → 5 crosses 10, but the top-up starts in an hour.
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 15 });
    expect(await topUpIncrements(customer.id)).toEqual([]);

    const advanced = await t.request('POST', '/v1/test_clock/advance', {
      to: new Date(activeFrom.getTime() + 60_000).toISOString(),
    });
    expect(advanced.status, advanced.text).toBe(200);
    // Lifted above the threshold and crossed again, now that the top-up is active.
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 10 });
    expect(await topUpIncrements(customer.id)).toHaveLength(1);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('105');
  });
});
