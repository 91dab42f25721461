/**
 * Block filters and effective dates through the api (LEDGER_RULES.md §2, §3): a manual decrement
 * has no item, so it draws only from unfiltered blocks; a block effective in the future is listed
 * but not drawn from; filters come back on the block and on the entries that touch it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValid } from '../../support/openApiValidator.ts';
import { dateIn, instantAt, manualClockStart, serviceNow } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { addEntry, createCustomer, expectLedgerConsistent } from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: manualClockStart().toISOString() });
});
afterAll(async () => {
  await t?.stop();
});

const GPU_ONLY = [{ field: 'item_id', operator: 'includes', values: ['gpu'] }];

describe('filters and effective dates', () => {
  it('a manual decrement skips filtered and not-yet-effective blocks', async () => {
    const customer = await createCustomer(t);
    const filtered = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 100,
      filters: GPU_ONLY,
    });
    expect(filtered.credit_block.filters).toEqual(GPU_ONLY);
    const effective = dateIn('UTC', serviceNow(t), 10);
    const future = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 50,
      effective_date: effective,
    });
    const plain = await addEntry(t, customer.id, { entry_type: 'increment', amount: 20 });
    const decrement = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 30 });
    // 20 from the plain block; the remaining 10 overdraws it (the last unfiltered never-expiring block).
    expect(decrement.credit_block.id).toBe(plain.credit_block.id);
    expect(decrement.amount).toBe(-30);

    const credits = await t.request('GET', `/v1/customers/${customer.id}/credits`);
    expectValid('CustomerCreditBalances', credits.body);
    const balances = Object.fromEntries(
      credits.body.data.map((b: { id: string; balance: number }) => [b.id, b.balance]),
    );
    expect(balances).toEqual({
      [filtered.credit_block.id]: 100,
      [future.credit_block.id]: 50,
      [plain.credit_block.id]: -10,
    });
    const futureBlock = credits.body.data.find(
      (b: { id: string }) => b.id === future.credit_block.id,
    );
    expect(futureBlock.effective_date).toBe(instantAt(effective, 'UTC'));
    await expectLedgerConsistent(t, customer.id);
  });

  it('refuses a filter on anything but item_id and duplicate values', async () => {
    const customer = await createCustomer(t);
    for (const filters of [
      [{ field: 'price_id', operator: 'includes', values: ['x'] }],
      [{ field: 'item_id', operator: 'includes', values: ['a', 'a'] }],
      [{ field: 'item_id', operator: 'contains', values: ['a'] }],
    ]) {
      const response = await t.request(
        'POST',
        `/v1/customers/${customer.id}/credits/ledger_entry`,
        { entry_type: 'increment', amount: 1, filters },
      );
      expect(response.status, JSON.stringify(filters)).toBe(400);
    }
  });
});

describe('scheduled expiry', () => {
  it('registers one sweep (expiries, closed usage days) with BullMQ, repeated well within a minute', async () => {
    const queue = t.service.queueStore.queue('{maintenance}', t.queuePrefix);
    const schedulers = await queue.getJobSchedulers();
    await queue.close();
    expect(schedulers.map((s) => [s.key, s.name])).toEqual([['sweeps', 'maintenance.sweep']]);
    expect(Number(schedulers[0]?.every)).toBeLessThanOrEqual(60_000);
  });
});
