/**
 * Ledger writes and reads through HTTP against the real service (Postgres + Redis + the partition
 * workers): `POST .../credits/ledger_entry` in both path forms, LEDGER_RULES.md §8 examples 1-3,
 * overdraft, currencies, Idempotency-Key, `Prefer: respond-async` with `/v1/ledger_requests`, and
 * the filters of `GET .../credits/ledger` and `GET .../credits`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dateIn, instantAt, isoPlus, letTimeReach, serviceNow } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  dec,
  ERROR_TYPE,
  eventually,
  expectLedgerConsistent,
  ledgerEntryPath,
  requestCount,
  sql,
  storedEntries,
} from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t.stop();
});

async function blocks(customerId: string, query = ''): Promise<any[]> {
  const response = await t.request('GET', `/v1/customers/${customerId}/credits${query}`);
  expect(response.status, response.text).toBe(200);
  return response.body.data;
}

async function ledger(customerId: string, query = ''): Promise<any> {
  const response = await t.request('GET', `/v1/customers/${customerId}/credits/ledger${query}`);
  expect(response.status, response.text).toBe(200);
  return response.body;
}

describe('increment and decrement through HTTP', () => {
  let customer: any;
  let increment: any;

  beforeAll(async () => {
    customer = await createCustomer(t, { external_customer_id: 'ext-paths-1' });
  });

  it('answers an increment on /v1/customers/{id}/... with the committed entry in Orb shape', async () => {
    increment = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      description: 'top-up',
      metadata: { source: 'test' },
    });
    expect(increment).toMatchObject({
      ledger_sequence_number: 0,
      entry_status: 'committed',
      entry_type: 'increment',
      customer: { id: customer.id, external_customer_id: 'ext-paths-1' },
      starting_balance: 0,
      ending_balance: 100,
      amount: 100,
      currency: 'credits',
      description: 'top-up',
      metadata: { source: 'test' },
      created_invoices: null,
      credit_block: { expiry_date: null, per_unit_cost_basis: null, filters: [] },
    });
    expect(increment.id).toMatch(/^[0-9A-Za-z]{16}$/);
    expect(increment.credit_block.id).toMatch(/^[0-9A-Za-z]{16}$/);
  });

  it('answers a decrement on /v1/customers/external_customer_id/{ext}/... drawing from that block', async () => {
    const response = await t.request(
      'POST',
      '/v1/customers/external_customer_id/ext-paths-1/credits/ledger_entry',
      {
        entry_type: 'decrement',
        amount: 30,
        description: 'usage',
      },
    );
    expect(response.status, response.text).toBe(201);
    expect(response.body).toMatchObject({
      ledger_sequence_number: 1,
      entry_type: 'decrement',
      amount: -30,
      starting_balance: 100,
      ending_balance: 70,
      price_id: null,
      invoice_id: null,
      event_id: null,
      credit_block: { id: increment.credit_block.id },
      customer: { id: customer.id, external_customer_id: 'ext-paths-1' },
    });
    expect(await expectLedgerConsistent(t, customer.id)).toBe('70');
  });

  it('lists the same ledger and blocks under both path forms', async () => {
    const byId = await ledger(customer.id);
    const byExternal = await t.request(
      'GET',
      '/v1/customers/external_customer_id/ext-paths-1/credits/ledger',
    );
    expect(byExternal.status).toBe(200);
    expect(byExternal.body).toEqual(byId);
    expect(byId.data.map((entry: any) => entry.ledger_sequence_number)).toEqual([1, 0]);
    expect(byId.data[1].id).toBe(increment.id);

    const credits = await blocks(customer.id);
    expect(credits).toHaveLength(1);
    expect(credits[0]).toMatchObject({
      id: increment.credit_block.id,
      balance: 70,
      maximum_initial_balance: 100,
      status: 'active',
      expiry_date: null,
    });
    const creditsByExternal = await t.request(
      'GET',
      '/v1/customers/external_customer_id/ext-paths-1/credits',
    );
    expect(creditsByExternal.body.data).toEqual(credits);
  });

  it('keeps amounts exact: 0.1 stays 0.1 on the wire and in Postgres', async () => {
    const other = await createCustomer(t);
    const entry = await t.request(
      'POST',
      ledgerEntryPath(other.id),
      '{"entry_type":"increment","amount":0.1}',
    );
    expect(entry.status, entry.text).toBe(201);
    expect(entry.text).toContain('"amount":0.1,');
    const twice = await addEntry(t, other.id, { entry_type: 'increment', amount: 0.2 });
    expect(twice.ending_balance).toBe(0.3);
    expect(await expectLedgerConsistent(t, other.id)).toBe('0.3');
  });

  it.each([
    ['amount 0', { entry_type: 'decrement', amount: 0 }],
    ['a negative amount', { entry_type: 'increment', amount: -5 }],
    ['13 fractional digits', { entry_type: 'increment', amount: '__raw__' }],
    ['an amount as a string with an exponent', { entry_type: 'increment', amount: '5e0' }],
    ['an unknown key', { entry_type: 'decrement', amount: 1, colour: 'red' }],
    ['an unknown entry_type', { entry_type: 'refund', amount: 1 }],
  ])('answers 400 request-validation for %s, writing nothing', async (_what, body) => {
    const before = await requestCount(t, customer.id);
    const raw =
      body.amount === '__raw__' ? '{"entry_type":"increment","amount":0.1234567890123}' : body;
    const response = await t.request('POST', ledgerEntryPath(customer.id), raw);
    expect(response.status, response.text).toBe(400);
    expect(response.body.type).toBe(ERROR_TYPE.validation);
    expect(response.body.validation_errors.length).toBeGreaterThan(0);
    expect(await requestCount(t, customer.id)).toBe(before);
  });

  it('answers 404 for an unknown customer in either form', async () => {
    const byId = await t.request('POST', ledgerEntryPath('noSuchCustomer00'), {
      entry_type: 'increment',
      amount: 1,
    });
    expect(byId.status).toBe(404);
    expect(byId.body.type).toBe(ERROR_TYPE.notFound);
    const byExternal = await t.request(
      'POST',
      '/v1/customers/external_customer_id/nobody/credits/ledger_entry',
      { entry_type: 'increment', amount: 1 },
    );
    expect(byExternal.status).toBe(404);
    expect(byExternal.body.type).toBe(ERROR_TYPE.notFound);
    const ledgerOfNobody = await t.request(
      'GET',
      '/v1/customers/external_customer_id/nobody/credits/ledger',
    );
    expect(ledgerOfNobody.status).toBe(404);
  });
});

describe('LEDGER_RULES §8 worked examples through the api (America/Los_Angeles)', () => {
  // A cost basis above 0 is invoiced (LEDGER_RULES §4), in the customer's currency.
  const invoice_settings = { auto_collection: false, net_terms: 30 };
  const LA = 'America/Los_Angeles';
  /** The Los Angeles date `days` after the service's today (§8's dates are examples). */
  const laDate = (days: number) => dateIn(LA, serviceNow(t), days);

  it('example 1: decrement 70 takes B (sooner expiry) then A; the response is the A entry', async () => {
    const customer = await createCustomer(t, { timezone: 'America/Los_Angeles', currency: 'USD' });
    // B expires sooner than A, both in the future.
    const [aExpiry, bExpiry] = [laDate(60), laDate(30)];
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      expiry_date: aExpiry,
      per_unit_cost_basis: '0.20',
      invoice_settings,
    });
    const b = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 50,
      expiry_date: bExpiry,
      per_unit_cost_basis: '0.50',
      invoice_settings,
    });
    // A date-only expiry is midnight in the customer's timezone (LEDGER_RULES §2): 08:00 UTC, or 07:00 in summer time.
    expect(a.credit_block).toMatchObject({
      expiry_date: instantAt(aExpiry, LA),
      per_unit_cost_basis: '0.20',
    });
    expect(b.credit_block.expiry_date).toBe(instantAt(bExpiry, LA));
    expect(b.ending_balance).toBe(150);

    const response = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 70 });
    expect(response).toMatchObject({
      credit_block: { id: a.credit_block.id },
      amount: -20,
      starting_balance: 100,
      ending_balance: 80,
      ledger_sequence_number: 3,
    });

    const entries = await storedEntries(t, customer.id);
    expect(entries.slice(2).map((entry) => [entry.block_id, dec(entry.amount)])).toEqual([
      [b.credit_block.id, '-50'],
      [a.credit_block.id, '-20'],
    ]);
    const all = await blocks(customer.id, '?include_all_blocks=true');
    const balances = Object.fromEntries(all.map((block) => [block.id, block.balance]));
    expect(balances).toEqual({ [a.credit_block.id]: 80, [b.credit_block.id]: 0 });
    expect(await expectLedgerConsistent(t, customer.id)).toBe('80');
  });

  it('example 2: decrement 25 empties B (cheaper) and overdraws A, the last never-expiring block, by 5', async () => {
    const customer = await createCustomer(t, { timezone: 'America/Los_Angeles', currency: 'USD' });
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 10,
      per_unit_cost_basis: '1.00',
      invoice_settings,
    });
    const b = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 10,
      per_unit_cost_basis: '0.00',
    });
    const response = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 25 });
    expect(response).toMatchObject({
      credit_block: { id: a.credit_block.id },
      amount: -15,
      starting_balance: 10,
      ending_balance: -5,
    });

    const entries = await storedEntries(t, customer.id);
    expect(entries.slice(2).map((entry) => [entry.block_id, dec(entry.amount)])).toEqual([
      [b.credit_block.id, '-10'],
      [a.credit_block.id, '-15'],
    ]);
    const all = await blocks(customer.id, '?include_all_blocks=true');
    expect(all).toHaveLength(2);
    expect(Object.fromEntries(all.map((block) => [block.id, block.balance]))).toEqual({
      [a.credit_block.id]: -5,
      [b.credit_block.id]: 0,
    });
    expect(await expectLedgerConsistent(t, customer.id)).toBe('-5');
  });

  it('example 3: an increment first repays the overdraft block, the new block keeps the rest', async () => {
    const customer = await createCustomer(t, { timezone: 'America/Los_Angeles' });
    const overdraft = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 5 });
    expect(overdraft).toMatchObject({
      amount: -5,
      starting_balance: 0,
      ending_balance: -5,
      credit_block: { expiry_date: null },
    });
    const overdraftBlock = overdraft.credit_block.id;

    const expiry = laDate(40);
    const increment = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 20,
      expiry_date: expiry,
    });
    expect(increment).toMatchObject({
      amount: 20,
      starting_balance: -5,
      ending_balance: 15,
      entry_type: 'increment',
    });
    expect(increment.credit_block.id).not.toBe(overdraftBlock);
    expect(increment.credit_block.expiry_date).toBe(instantAt(expiry, LA));

    const all = await blocks(customer.id, '?include_all_blocks=true');
    const byId = Object.fromEntries(all.map((block) => [block.id, block]));
    expect(byId[overdraftBlock]).toMatchObject({ balance: 0, maximum_initial_balance: 0 });
    expect(byId[increment.credit_block.id]).toMatchObject({
      balance: 15,
      maximum_initial_balance: 20,
    });
    expect(await expectLedgerConsistent(t, customer.id)).toBe('15');
  });
});

describe('overdraft and block listing', () => {
  it('a decrement beyond the balance creates an overdraft block and a negative balance', async () => {
    const customer = await createCustomer(t);
    const expiring = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 10,
      expiry_date: isoPlus(serviceNow(t), { days: 180 }),
    });
    // Blocks are listed by created_at, then id: on a manual clock the overdraft block must come a moment later.
    await letTimeReach(t, new Date(serviceNow(t).getTime() + 1));
    const response = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 15 });
    expect(response).toMatchObject({
      amount: -5,
      starting_balance: 0,
      ending_balance: -5,
      credit_block: { expiry_date: null, per_unit_cost_basis: null },
    });
    const overdraftBlock = response.credit_block.id;
    expect(overdraftBlock).not.toBe(expiring.credit_block.id);

    // Default listing: blocks that still hold credit, positive or negative; the depleted one is hidden.
    const live = await blocks(customer.id);
    expect(live.map((block) => [block.id, block.balance, block.maximum_initial_balance])).toEqual([
      [overdraftBlock, -5, 0],
    ]);
    const all = await blocks(customer.id, '?include_all_blocks=true');
    expect(all.map((block) => [block.id, block.balance])).toEqual([
      [expiring.credit_block.id, 0],
      [overdraftBlock, -5],
    ]);
    expect(await blocks(customer.id, '?include_all_blocks=false')).toEqual(live);

    // A second overdraft reuses the same block instead of making another.
    const again = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 2 });
    expect(again.credit_block.id).toBe(overdraftBlock);
    expect(again.ending_balance).toBe(-7);
    expect(await blocks(customer.id, '?include_all_blocks=true')).toHaveLength(2);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('-7');
  });
});

describe('limits and the clock', () => {
  it('an increment that would overflow the balance is refused with a 400, not a 500, and writes nothing', async () => {
    const customer = await createCustomer(t);
    const largest = '9'.repeat(26);
    const first = await t.request(
      'POST',
      ledgerEntryPath(customer.id),
      `{"entry_type":"increment","amount":${largest}}`,
    );
    expect(first.status, first.text).toBe(201);
    // A balance of 2 × (10^26 - 1) has 27 integer digits: more than numeric(38,12) or Decimal hold.
    const second = await t.request(
      'POST',
      ledgerEntryPath(customer.id),
      `{"entry_type":"increment","amount":${largest}}`,
    );
    expect(second.status, second.text).toBe(400);
    expect(second.body.type).toBe(ERROR_TYPE.validation);
    expect(await storedEntries(t, customer.id)).toHaveLength(1);
    expect(await expectLedgerConsistent(t, customer.id)).toBe(largest);
  });

  it('refuses an Idempotency-Key longer than 255 characters', async () => {
    const customer = await createCustomer(t);
    const response = await t.request(
      'POST',
      ledgerEntryPath(customer.id),
      { entry_type: 'increment', amount: 1 },
      { 'idempotency-key': 'k'.repeat(256) },
    );
    expect(response.status).toBe(400);
    expect(response.body.type).toBe(ERROR_TYPE.validation);
    expect(await requestCount(t, customer.id)).toBe(0);
  });

  it('a block whose expiry has passed is expired (credit_block_expiry) before the next command is decided', async () => {
    // LEDGER_RULES §4 "credit_block_expiry" and §8 example 8: catch up first, then decide.
    const customer = await createCustomer(t);
    const expiresAt = new Date(serviceNow(t).getTime() + 800);
    const block = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 10,
      expiry_date: expiresAt.toISOString(),
    });
    expect(block.credit_block.expiry_date).toBe(expiresAt.toISOString());
    // With a manual clock (TEST_CLOCK_YEARS_AHEAD) the advance's sweep applies the expiry; either way it precedes the decrement.
    await letTimeReach(t, new Date(expiresAt.getTime() + 100));

    const response = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 3 });
    expect(
      response.ending_balance,
      'balance after the decrement (the expired 10 must not count)',
    ).toBe(-3);
    const entries = await storedEntries(t, customer.id);
    expect(entries.map((entry) => [entry.entry_type, dec(entry.amount)])).toEqual([
      ['increment', '10'],
      ['credit_block_expiry', '-10'],
      ['decrement', '-3'],
    ]);
    // What GET credits shows and what the ledger says must agree.
    const live = await blocks(customer.id);
    expect(live.reduce((sum, listed) => sum + listed.balance, 0)).toBe(response.ending_balance);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('-3');
  });
});

describe('invoice_settings without an invoicing currency', () => {
  let customer: any;
  beforeAll(async () => {
    customer = await createCustomer(t);
  });

  it('an increment with invoice_settings for a customer without a currency answers 400 and writes nothing', async () => {
    const before = await requestCount(t, customer.id);
    const response = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: 10,
      per_unit_cost_basis: '0.50',
      invoice_settings: { auto_collection: false, net_terms: 30 },
    });
    expect(response.status, response.text).toBe(400);
    expect(response.body.type).toBe(ERROR_TYPE.validation);
    expect(response.body.detail).toMatch(/invoice_settings/);
    expect(await requestCount(t, customer.id)).toBe(before);
  });
});

describe('currencies', () => {
  it('refuses a real currency other than the customer invoicing currency, and keeps one ledger per currency', async () => {
    const customer = await createCustomer(t, { currency: 'EUR' });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 4 });

    const before = await requestCount(t, customer.id);
    const usd = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: 5,
      currency: 'USD',
    });
    expect(usd.status, usd.text).toBe(400);
    expect(usd.body.type).toBe(ERROR_TYPE.validation);
    expect(usd.body.detail).toContain('USD');
    expect(await requestCount(t, customer.id)).toBe(before);

    const eur = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 5,
      currency: 'EUR',
    });
    expect(eur).toMatchObject({
      currency: 'EUR',
      ledger_sequence_number: 0,
      starting_balance: 0,
      ending_balance: 5,
    });
    const eurDecrement = await addEntry(t, customer.id, {
      entry_type: 'decrement',
      amount: 2,
      currency: 'EUR',
    });
    expect(eurDecrement).toMatchObject({
      currency: 'EUR',
      ledger_sequence_number: 1,
      starting_balance: 5,
      ending_balance: 3,
    });

    const eurBlocks = await blocks(customer.id, '?currency=EUR');
    expect(eurBlocks.map((block) => [block.id, block.balance])).toEqual([[eur.credit_block.id, 3]]);
    const creditBlocks = await blocks(customer.id);
    expect(creditBlocks.map((block) => block.balance)).toEqual([6]);

    const eurLedger = await ledger(customer.id, '?currency=EUR');
    expect(
      eurLedger.data.map((entry: any) => [entry.currency, entry.ledger_sequence_number]),
    ).toEqual([
      ['EUR', 1],
      ['EUR', 0],
    ]);
    expect(await expectLedgerConsistent(t, customer.id, 'EUR')).toBe('3');
    expect(await expectLedgerConsistent(t, customer.id, 'credits')).toBe('6');
  });

  it('refuses a real currency for a customer without an invoicing currency', async () => {
    const customer = await createCustomer(t);
    const response = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: 5,
      currency: 'USD',
    });
    expect(response.status).toBe(400);
    expect(response.body.type).toBe(ERROR_TYPE.validation);
  });
});

describe('Idempotency-Key on ledger entries', () => {
  it('same key and body: the same entry, idempotent-replayed: true, applied once', async () => {
    const customer = await createCustomer(t, { external_customer_id: 'ext-idem-ledger' });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    const body = { entry_type: 'decrement', amount: 10, description: 'once' };
    const headers = { 'idempotency-key': 'ledger-key-1' };
    const first = await t.request('POST', ledgerEntryPath(customer.id), body, headers);
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const second = await t.request('POST', ledgerEntryPath(customer.id), body, headers);
    expect(second.status, second.text).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    // The key names the request, whichever path form names the customer.
    const third = await t.request(
      'POST',
      '/v1/customers/external_customer_id/ext-idem-ledger/credits/ledger_entry',
      body,
      headers,
    );
    expect(third.status, third.text).toBe(201);
    expect(third.body.id).toBe(first.body.id);

    expect(await requestCount(t, customer.id)).toBe(2);
    const entries = await storedEntries(t, customer.id);
    expect(entries).toHaveLength(2);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('90');
  });

  it('same key with another body: 409 resource-conflict, nothing applied', async () => {
    const customer = await createCustomer(t);
    const headers = { 'idempotency-key': 'ledger-key-2' };
    const first = await t.request(
      'POST',
      ledgerEntryPath(customer.id),
      { entry_type: 'increment', amount: 10 },
      headers,
    );
    expect(first.status).toBe(201);
    const other = await t.request(
      'POST',
      ledgerEntryPath(customer.id),
      { entry_type: 'increment', amount: 11 },
      headers,
    );
    expect(other.status, other.text).toBe(409);
    expect(other.body.type).toBe(ERROR_TYPE.conflict);
    expect(other.headers.get('content-type')).toMatch(/application\/problem\+json/);
    // The same key on another customer is another request too.
    const elsewhere = await createCustomer(t);
    const onOther = await t.request(
      'POST',
      ledgerEntryPath(elsewhere.id),
      { entry_type: 'increment', amount: 10 },
      headers,
    );
    expect(onOther.status).toBe(409);
    expect(await requestCount(t, customer.id)).toBe(1);
    expect(await requestCount(t, elsewhere.id)).toBe(0);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('10');
  });

  it('a key first used for a customer creation conflicts on a ledger entry', async () => {
    const customerKey = { 'idempotency-key': 'shared-key-customer' };
    const created = await t.request(
      'POST',
      '/v1/customers',
      { name: 'Keyed', email: 'keyed@example.com' },
      customerKey,
    );
    expect(created.status).toBe(201);
    const response = await t.request(
      'POST',
      ledgerEntryPath(created.body.id),
      { entry_type: 'increment', amount: 1 },
      customerKey,
    );
    expect(response.status).toBe(409);
    expect(await requestCount(t, created.body.id)).toBe(0);
  });

  it('concurrent requests with one key apply once; the others replay or answer 409', async () => {
    const customer = await createCustomer(t);
    const headers = { 'idempotency-key': 'ledger-key-race' };
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        t.request(
          'POST',
          ledgerEntryPath(customer.id),
          { entry_type: 'increment', amount: 3 },
          headers,
        ),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    for (const status of statuses) expect([201, 409], statuses.join(',')).toContain(status);
    expect(
      new Set(answers.filter((answer) => answer.status === 201).map((answer) => answer.body.id))
        .size,
    ).toBe(1);
    expect(await requestCount(t, customer.id)).toBe(1);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('3');
  });

  it('a refusal decided by the worker is replayed too', async () => {
    const customer = await createCustomer(t);
    // Expiry before the effective date, both in the future.
    const body = {
      entry_type: 'increment',
      amount: 5,
      effective_date: isoPlus(serviceNow(t), { days: 60 }),
      expiry_date: isoPlus(serviceNow(t), { days: 30 }),
    };
    const headers = { 'idempotency-key': 'ledger-key-refused' };
    const first = await t.request('POST', ledgerEntryPath(customer.id), body, headers);
    expect(first.status, first.text).toBe(400);
    expect(first.body.type).toBe(ERROR_TYPE.validation);
    const second = await t.request('POST', ledgerEntryPath(customer.id), body, headers);
    expect(second.status).toBe(400);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(await requestCount(t, customer.id)).toBe(1);
    expect(await storedEntries(t, customer.id)).toHaveLength(0);
  });
});

describe('Prefer: respond-async and /v1/ledger_requests', () => {
  it('answers 202 with a Location to poll until the request is committed with its entries', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 5,
      expiry_date: isoPlus(serviceNow(t), { days: 90 }),
    });
    const accepted = await t.request(
      'POST',
      ledgerEntryPath(customer.id),
      { entry_type: 'decrement', amount: 8 },
      { prefer: 'respond-async' },
    );
    expect(accepted.status, accepted.text).toBe(202);
    const location = accepted.headers.get('location');
    expect(location).toBe(`/v1/ledger_requests/${accepted.body.id}`);
    expect(accepted.body).toMatchObject({
      status: 'queued',
      entries: [],
      error: null,
      completed_at: null,
    });
    expect(Date.parse(accepted.body.created_at)).not.toBeNaN();

    const done = await eventually(
      async () => {
        const polled = await t.request('GET', location ?? '');
        expect(polled.status).toBe(200);
        expect(['queued', 'processing', 'committed']).toContain(polled.body.status);
        return polled.body.status === 'committed' ? polled.body : undefined;
      },
      10_000,
      'the request to commit',
    );
    expect(done.id).toBe(accepted.body.id);
    expect(done.error).toBeNull();
    expect(Date.parse(done.completed_at)).toBeGreaterThanOrEqual(Date.parse(done.created_at));
    // Two entries: the expiring block emptied, then the overdraft block made for the rest.
    expect(done.entries.map((entry: any) => [entry.entry_type, entry.amount])).toEqual([
      ['decrement', -5],
      ['decrement', -3],
    ]);
    const listed = await ledger(customer.id);
    expect(listed.data.slice(0, 2).map((entry: any) => entry.id)).toEqual(
      done.entries.map((entry: any) => entry.id).reverse(),
    );
    expect(await expectLedgerConsistent(t, customer.id)).toBe('-3');
  });

  it('reports a request the worker refused as failed with the problem', async () => {
    const customer = await createCustomer(t);
    const accepted = await t.request(
      'POST',
      ledgerEntryPath(customer.id),
      {
        entry_type: 'increment',
        amount: 5,
        effective_date: dateIn('UTC', serviceNow(t), 60),
        expiry_date: dateIn('UTC', serviceNow(t), 30),
      },
      { prefer: 'respond-async' },
    );
    expect(accepted.status).toBe(202);
    const failed = await eventually(
      async () => {
        const polled = await t.request('GET', accepted.headers.get('location') ?? '');
        return polled.body.status === 'failed' ? polled.body : undefined;
      },
      10_000,
      'the request to fail',
    );
    expect(failed.entries).toEqual([]);
    expect(failed.error).toMatchObject({ type: ERROR_TYPE.validation, status: 400 });
    expect(failed.error.detail).toMatch(/expiry_date/);
  });

  it('GET /v1/ledger_requests/{unknown} answers 404', async () => {
    const response = await t.request('GET', '/v1/ledger_requests/unknown');
    expect(response.status).toBe(404);
    expect(response.body.type).toBe(ERROR_TYPE.notFound);
  });
});

describe('GET .../credits/ledger filters and pagination', () => {
  let customer: any;
  const made: any[] = [];

  beforeAll(async () => {
    customer = await createCustomer(t);
    const bodies = [
      { entry_type: 'increment', amount: 100 },
      { entry_type: 'decrement', amount: 5 },
      { entry_type: 'decrement', amount: 50 },
      { entry_type: 'increment', amount: 1 },
      { entry_type: 'increment', amount: 7, currency: 'tokens' },
    ];
    for (const body of bodies) {
      made.push(await addEntry(t, customer.id, body));
      // Distinct created_at instants, on a manual clock too.
      await letTimeReach(t, new Date(serviceNow(t).getTime() + 5));
    }
  });

  const ids = (page: any) => page.data.map((entry: any) => entry.id);
  const newestFirst = (...indexes: number[]) => indexes.map((index) => made[index].id);

  it('lists newest first by default', async () => {
    const page = await ledger(customer.id);
    expect(ids(page)).toEqual(newestFirst(4, 3, 2, 1, 0));
    expect(page.pagination_metadata).toEqual({ has_more: false, next_cursor: null });
  });

  it('filters by entry_type, entry_status, currency and minimum_amount', async () => {
    expect(ids(await ledger(customer.id, '?entry_type=decrement'))).toEqual(newestFirst(2, 1));
    expect(ids(await ledger(customer.id, '?entry_type=increment&currency=credits'))).toEqual(
      newestFirst(3, 0),
    );
    expect(ids(await ledger(customer.id, '?entry_status=committed'))).toEqual(
      newestFirst(4, 3, 2, 1, 0),
    );
    expect(ids(await ledger(customer.id, '?entry_status=pending'))).toEqual([]);
    expect(ids(await ledger(customer.id, '?currency=tokens'))).toEqual(newestFirst(4));
    expect(ids(await ledger(customer.id, '?minimum_amount=50'))).toEqual(newestFirst(2, 0));
    expect(ids(await ledger(customer.id, '?minimum_amount=5.5'))).toEqual(newestFirst(4, 2, 0));
  });

  it('filters by created_at[gte] and created_at[lt]', async () => {
    const middle = encodeURIComponent(made[2].created_at);
    expect(ids(await ledger(customer.id, `?created_at[gte]=${middle}`))).toEqual(
      newestFirst(4, 3, 2),
    );
    expect(ids(await ledger(customer.id, `?created_at[lt]=${middle}`))).toEqual(newestFirst(1, 0));
    expect(
      ids(
        await ledger(
          customer.id,
          `?created_at[gt]=${middle}&created_at[lte]=${encodeURIComponent(made[3].created_at)}`,
        ),
      ),
    ).toEqual(newestFirst(3));
  });

  it('treats empty query values as unset', async () => {
    const page = await ledger(
      customer.id,
      '?entry_type=&entry_status=&currency=&minimum_amount=&limit=&cursor=&created_at[gte]=',
    );
    expect(ids(page)).toEqual(newestFirst(4, 3, 2, 1, 0));
  });

  it('pages with a cursor', async () => {
    const seen: string[] = [];
    let query = '?limit=2';
    for (;;) {
      const page = await ledger(customer.id, query);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...ids(page));
      if (!page.pagination_metadata.has_more) {
        expect(page.pagination_metadata.next_cursor).toBeNull();
        break;
      }
      query = `?limit=2&cursor=${encodeURIComponent(page.pagination_metadata.next_cursor)}`;
    }
    expect(seen).toEqual(newestFirst(4, 3, 2, 1, 0));
  });

  it('refuses limit > 1000, limit 0, a bad cursor and an unknown entry_type with 400', async () => {
    expect((await ledger(customer.id, '?limit=1000')).data).toHaveLength(5);
    for (const query of [
      '?limit=1001',
      '?limit=0',
      '?cursor=not-a-cursor',
      '?cursor=YWJj',
      '?entry_type=refund',
      '?minimum_amount=-1',
    ]) {
      const response = await t.request(
        'GET',
        `/v1/customers/${customer.id}/credits/ledger${query}`,
      );
      expect(response.status, query).toBe(400);
      expect(response.body.type, query).toBe(ERROR_TYPE.validation);
    }
  });
});
