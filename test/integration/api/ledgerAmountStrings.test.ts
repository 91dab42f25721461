/**
 * Ledger `amount` sent as a decimal string (LEDGER_RULES.md §1; issue 12 §3): exact-money clients
 * send `"2.5"`, and every entry type takes it as it takes the JSON number 2.5, digit for digit.
 * Strings that are not `digits[.digits]`, or that break the number limits, are a 400 that writes
 * nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  ERROR_TYPE,
  expectLedgerConsistent,
  ledgerEntryPath,
  requestCount,
  sql,
} from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t.stop();
});

describe('ledger amount as a decimal string', () => {
  it('increments by "2.5" exactly, like the number 2.5', async () => {
    const customer = await createCustomer(t);
    const entry = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: '2.5',
    });
    expect(entry.status, entry.text).toBe(201);
    expect(entry.text).toContain('"amount":2.5,');
    expect(entry.text).toContain('"ending_balance":2.5,');
    expect(await expectLedgerConsistent(t, customer.id)).toBe('2.5');
  });

  it('adds "0.1" and "0.2" to exactly 0.3, and keeps "0.000000000001"', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: '0.1' });
    const second = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: '0.2',
    });
    expect(second.status, second.text).toBe(201);
    expect(second.text).toContain('"ending_balance":0.3,');
    expect(await expectLedgerConsistent(t, customer.id)).toBe('0.3');
    const tiny = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: '0.000000000001',
    });
    expect(tiny.status, tiny.text).toBe(201);
    expect(tiny.text).toContain('"ending_balance":0.300000000001,');
    const blocks = await t.request('GET', `/v1/customers/${customer.id}/credits`);
    expect(blocks.text).toContain('"balance":0.000000000001,');
    expect(await expectLedgerConsistent(t, customer.id)).toBe('0.300000000001');
  });

  it('takes a string amount in every entry type: decrement, expiration_change, amendment, void', async () => {
    const customer = await createCustomer(t);
    const increment = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: '10',
      expiry_date: null,
    });
    const block = increment.credit_block.id;
    const decrement = await addEntry(t, customer.id, { entry_type: 'decrement', amount: '1.25' });
    expect(decrement.amount).toBe(-1.25);
    const target = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const moved = await addEntry(t, customer.id, {
      entry_type: 'expiration_change',
      block_id: block,
      amount: '0.75',
      target_expiry_date: target,
    });
    expect(moved.amount).toBe(0.75);
    const amended = await addEntry(t, customer.id, {
      entry_type: 'amendment',
      block_id: block,
      amount: '0.5',
    });
    expect(amended.amount).toBe(0.5);
    const voided = await addEntry(t, customer.id, {
      entry_type: 'void',
      block_id: block,
      amount: '0.25',
    });
    expect(voided.amount).toBe(-0.25);
    // 10 − 1.25 + 0.5 − 0.25: the expiration change moves credit between blocks.
    expect(await expectLedgerConsistent(t, customer.id)).toBe('9');
  });

  it.each([
    ['an exponent', '1e3'],
    ['a sign', '-1'],
    ['a leading space', ' 1'],
    ['the empty string', ''],
    ['13 fractional digits', '1.0000000000001'],
    ['zero', '0'],
  ])('answers 400 request-validation for %s (%j), writing nothing', async (_what, amount) => {
    const customer = await createCustomer(t);
    const response = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount,
    });
    expect(response.status, response.text).toBe(400);
    expect(response.body.type).toBe(ERROR_TYPE.validation);
    expect(response.body.validation_errors.join(' ')).toContain('amount');
    expect(await requestCount(t, customer.id)).toBe(0);
  });
});
