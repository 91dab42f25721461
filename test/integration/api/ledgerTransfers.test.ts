/**
 * expiration_change, void, amendment and automatic expiry through the HTTP api and the worker,
 * on a manual clock started now (or where TEST_CLOCK_YEARS_AHEAD puts it), every date derived from
 * it: LEDGER_RULES.md §8 examples 4-8, with every response
 * body checked against Orb's OpenAPI schema and the ledger's invariants checked after each case.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValid } from '../../support/openApiValidator.ts';
import {
  addToDate,
  dateIn,
  instantAt,
  isoPlus,
  manualClockStart,
  serviceNow,
} from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  dec,
  expectLedgerConsistent,
  ledgerEntryPath,
} from '../ledgerTestHelpers.ts';

const START = manualClockStart().toISOString();
const LA = 'America/Los_Angeles';
/** The Los Angeles date `days` after the clock's today. */
const laDate = (days: number) => dateIn(LA, serviceNow(t), days);

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START });
});
afterAll(async () => {
  await t?.stop();
});

async function post(customerId: string, body: Record<string, unknown>) {
  const response = await t.request('POST', ledgerEntryPath(customerId), body);
  if (response.status === 201) expectValid('CreditLedgerEntry', response.body);
  else expectValid(`${response.status}Error`, response.body);
  return response;
}

async function block(blockId: string) {
  const response = await t.request('GET', `/v1/credit_blocks/${blockId}`);
  expect(response.status, response.text).toBe(200);
  expectValid('CreditBlock', response.body);
  return response.body;
}

describe('expiration_change (§8 example 4)', () => {
  it('moves 10 of 30 credits into a new block expiring a year later, at midnight in the customer timezone', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    const expiry = laDate(37);
    const target = addToDate(expiry, { years: 1 });
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 30,
      expiry_date: expiry,
    });
    const response = await post(customer.id, {
      entry_type: 'expiration_change',
      amount: 10,
      block_id: a.credit_block.id,
      target_expiry_date: target,
    });
    expect(response.status, response.text).toBe(201);
    expect(response.body).toMatchObject({
      entry_type: 'expiration_change',
      amount: 10,
      starting_balance: 30,
      ending_balance: 30,
      credit_block: { id: a.credit_block.id },
      // Midnight in Los Angeles: 08:00 UTC in winter, 07:00 in summer time.
      new_block_expiry_date: instantAt(target, LA),
    });
    expect((await block(a.credit_block.id)).balance).toBe(20);
    const credits = await t.request('GET', `/v1/customers/${customer.id}/credits`);
    // Both blocks were made at the same (manual clock) instant, so the list order is by id: compare as a set.
    const listed = credits.body.data.map((b: { balance: number; expiry_date: string }) => [
      b.balance,
      b.expiry_date,
    ]);
    expect(
      listed.sort((x: [number, string], y: [number, string]) => x[1].localeCompare(y[1])),
    ).toEqual([
      [20, instantAt(expiry, LA)],
      [10, instantAt(target, LA)],
    ]);
    await expectLedgerConsistent(t, customer.id);
  });

  it('finds the source block by its expiry date and moves its whole balance by default', async () => {
    const customer = await createCustomer(t, { timezone: LA });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 7, expiry_date: laDate(72) });
    const response = await post(customer.id, {
      entry_type: 'expiration_change',
      expiry_date: laDate(72),
      target_expiry_date: laDate(100),
    });
    expect(response.status, response.text).toBe(201);
    expect(response.body.amount).toBe(7);
    await expectLedgerConsistent(t, customer.id);
  });

  it('answers 404 for an unknown block and 400 for a target in the past, writing nothing', async () => {
    const customer = await createCustomer(t);
    const today = dateIn('UTC', serviceNow(t));
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 5,
      expiry_date: addToDate(today, { days: 41 }),
    });
    const unknown = await post(customer.id, {
      entry_type: 'expiration_change',
      block_id: 'nope',
      target_expiry_date: addToDate(today, { days: 192 }),
    });
    expect(unknown.status, unknown.text).toBe(404);
    const past = await post(customer.id, {
      entry_type: 'expiration_change',
      block_id: a.credit_block.id,
      target_expiry_date: addToDate(today, { days: -300 }),
    });
    expect(past.status, past.text).toBe(400);
    const ledger = await t.request('GET', `/v1/customers/${customer.id}/credits/ledger`);
    expect(ledger.body.data).toHaveLength(1);
  });
});

describe('void (§8 examples 5 and 6)', () => {
  it('voids 40 of a block holding 40 (initial 100): void_initiated +40 then void -40', async () => {
    const customer = await createCustomer(t);
    const a = await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 60 });
    const refused = await post(customer.id, {
      entry_type: 'void',
      block_id: a.credit_block.id,
      amount: 60,
    });
    expect(refused.status, refused.text).toBe(400);
    const response = await post(customer.id, {
      entry_type: 'void',
      block_id: a.credit_block.id,
      amount: 40,
      void_reason: 'refund',
    });
    expect(response.status, response.text).toBe(201);
    expect(response.body).toMatchObject({
      entry_type: 'void',
      amount: -40,
      void_amount: 40,
      void_reason: 'refund',
      starting_balance: 40,
      ending_balance: 0,
    });
    const ledger = await t.request('GET', `/v1/customers/${customer.id}/credits/ledger?limit=2`);
    expectValid('CreditLedgerEntries', ledger.body);
    expect(
      ledger.body.data.map((e: { entry_type: string; amount: number }) => [e.entry_type, e.amount]),
    ).toEqual([
      ['void', -40],
      ['void_initiated', 40],
    ]);
    expect((await block(a.credit_block.id)).balance).toBe(0);
    await expectLedgerConsistent(t, customer.id);
  });
});

describe('amendment (§8 example 7)', () => {
  it('refuses 70 onto a block at 40 of 100, then returns 60 to bring it to 100', async () => {
    const customer = await createCustomer(t);
    const a = await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 60 });
    const refused = await post(customer.id, {
      entry_type: 'amendment',
      block_id: a.credit_block.id,
      amount: 70,
    });
    expect(refused.status, refused.text).toBe(400);
    const response = await post(customer.id, {
      entry_type: 'amendment',
      block_id: a.credit_block.id,
      amount: 60,
    });
    expect(response.status, response.text).toBe(201);
    expect(response.body).toMatchObject({
      entry_type: 'amendment',
      amount: 60,
      ending_balance: 100,
    });
    expect((await block(a.credit_block.id)).balance).toBe(100);
    await expectLedgerConsistent(t, customer.id);
  });

  it('returns credit to a fully drawn block', async () => {
    const customer = await createCustomer(t);
    const a = await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 10 });
    const response = await post(customer.id, {
      entry_type: 'amendment',
      block_id: a.credit_block.id,
      amount: 4,
    });
    expect(response.status, response.text).toBe(201);
    expect(dec(response.body.ending_balance)).toBe('4');
    await expectLedgerConsistent(t, customer.id);
  });
});

describe('automatic expiry and the test clock (§8 example 8)', () => {
  it("expires an idle customer's block when the clock passes its expiry, before answering the advance", async () => {
    const customer = await createCustomer(t, { timezone: LA });
    // Expires at the next midnight in Los Angeles; the clock moves to an hour after it.
    const expiry = laDate(1);
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 30,
      expiry_date: expiry,
    });
    const clock = await t.request('GET', '/v1/test_clock');
    expect(clock.body.now).toBe(START);
    const advance = await t.request('POST', '/v1/test_clock/advance', {
      to: isoPlus(instantAt(expiry, LA), { hours: 1 }),
    });
    expect(advance.status, advance.text).toBe(200);
    expect(advance.body.jobs_run).toBeGreaterThanOrEqual(1);
    const ledger = await t.request('GET', `/v1/customers/${customer.id}/credits/ledger`);
    expect(ledger.body.data[0]).toMatchObject({
      entry_type: 'credit_block_expiry',
      amount: -30,
      ending_balance: 0,
    });
    expect((await block(a.credit_block.id)).balance).toBe(0);
    await expectLedgerConsistent(t, customer.id);
  });

  it('refuses to move the clock backwards', async () => {
    const response = await t.request('POST', '/v1/test_clock/advance', {
      to: isoPlus(serviceNow(t), { days: -1 }),
    });
    expect(response.status).toBe(400);
  });
});
