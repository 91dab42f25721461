/**
 * Ties in drawdown order fall to creation order, never to a random id (LEDGER_RULES.md §3 rule 4,
 * §8 example 12), through the HTTP api and the real worker: on a manual clock, two increments
 * alike in expiry and cost basis are made in one instant, so only the order of the entries that
 * made them tells them apart. The service's ids are random, so the test makes pairs until B's id
 * sorts before A's (a coin toss each): an id tie-break would then draw B first.
 */
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATION_SEQUENCE_SQL } from '../../../worker/store/migrations/Migration20261203000000_blockCreationOrder.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  dec,
  expectLedgerConsistent,
  sql,
} from '../ledgerTestHelpers.ts';
import { manualClockStart } from '../../support/testDates.ts';

const START = DateTime.fromJSDate(manualClockStart()).toUTC().startOf('hour');
const EXPIRY = START.plus({ days: 90 }).toISO() ?? '';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START.toISO() ?? '' });
});
afterAll(async () => {
  await t?.stop();
});

/** A customer with blocks A then B (50 each, same expiry and cost basis, one instant), B's id below A's. */
async function tiedPair(): Promise<{ customerId: string; a: string; b: string }> {
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const customer = await createCustomer(t);
    const increment = {
      entry_type: 'increment',
      amount: 50,
      expiry_date: EXPIRY,
      per_unit_cost_basis: '0',
    };
    const a = (await addEntry(t, customer.id, increment)).credit_block.id as string;
    const b = (await addEntry(t, customer.id, increment)).credit_block.id as string;
    if (b < a) return { customerId: customer.id, a, b };
  }
  throw new Error('40 pairs of random ids and never B below A');
}

async function blockBalance(blockId: string): Promise<number> {
  const response = await t.request('GET', `/v1/credit_blocks/${blockId}`);
  expect(response.status, response.text).toBe(200);
  return response.body.balance;
}

describe('drawdown ties fall to creation order (§3 rule 4)', () => {
  it('§8 example 12: A and B made in one instant, A first; decrement 60 → A 0, B 40', async () => {
    const { customerId, a, b } = await tiedPair();
    const instants = await sql<{ created_at: string }>(
      t,
      'select distinct created_at::text as created_at from credit_blocks where customer_id = ?',
      [customerId],
    );
    expect(instants, 'A and B were made in one instant').toHaveLength(1);

    const response = await t.request('POST', `/v1/customers/${customerId}/credits/ledger_entry`, {
      entry_type: 'decrement',
      amount: 60,
    });
    expect(response.status, response.text).toBe(201);
    expect(await blockBalance(a)).toBe(0);
    expect(await blockBalance(b)).toBe(40);
    const entries = await sql<{ block_id: string; amount: string }>(
      t,
      `select block_id, amount::text as amount from ledger_entries where customer_id = ? and entry_type = 'decrement' order by ledger_sequence_number`,
      [customerId],
    );
    expect(entries.map((entry) => [entry.block_id, dec(entry.amount)])).toEqual([
      [a, '-50'],
      [b, '-10'],
    ]);
    expect(await expectLedgerConsistent(t, customerId)).toBe('40');
    // The tie-break itself: the entries that made them are 0 and 1.
    const numbered = await sql<{ id: string; creation_sequence: number }>(
      t,
      'select id, creation_sequence from credit_blocks where customer_id = ? order by creation_sequence',
      [customerId],
    );
    expect(numbered.map((row) => [row.id, row.creation_sequence])).toEqual([
      [a, 0],
      [b, 1],
    ]);
  });

  it('an increment repays negative blocks in creation order; a fresh overdraft block is numbered by the decrement that opened it', async () => {
    const customer = await createCustomer(t);
    // Expiring credit only: the decrement past it opens a fresh overdraft block (entries 1 and 2).
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10, expiry_date: EXPIRY });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 25 });
    const [overdraft] = await sql<{ id: string; creation_sequence: number; balance: string }>(
      t,
      `select id, creation_sequence, balance::text as balance from credit_blocks where customer_id = ? and expiry_date is null`,
      [customer.id],
    );
    const [opened] = await sql<{ ledger_sequence_number: number }>(
      t,
      `select ledger_sequence_number from ledger_entries where customer_id = ? and block_id = ? and entry_type = 'decrement'`,
      [customer.id, overdraft?.id],
    );
    expect(overdraft?.creation_sequence).toBe(opened?.ledger_sequence_number);
    expect(overdraft?.creation_sequence).toBe(2);
    expect(dec(overdraft?.balance ?? '')).toBe('-15');
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 20 });
    expect(await blockBalance(overdraft?.id ?? '')).toBe(0);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('5');
  });

  it('the migration numbers existing blocks from the entries that made them (runs last: it rebuilds the column)', async () => {
    // Every way a block is made: increments, an expiration_change's new block, a fresh overdraft
    // block, a top-up-free increment after it; plus the blocks the tests above made.
    const customer = await createCustomer(t);
    const a = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 30,
      expiry_date: EXPIRY,
    });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 30, expiry_date: EXPIRY });
    await addEntry(t, customer.id, {
      entry_type: 'expiration_change',
      block_id: a.credit_block.id,
      amount: 10,
      target_expiry_date: START.plus({ days: 120 }).toISO(),
    });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 80 });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 5, expiry_date: EXPIRY });
    const before = await sql<{ id: string; creation_sequence: number }>(
      t,
      'select id, creation_sequence from credit_blocks order by id',
    );
    expect(before.filter((row) => row.creation_sequence < 0)).toEqual([]);

    await sql(t, 'alter table credit_blocks drop column creation_sequence');
    // A block no entry accounts for (made by hand) goes below every numbered one.
    await sql(
      t,
      `insert into credit_blocks (id, customer_id, currency, balance, maximum_initial_balance, effective_date, filters, status, created_at)
       values ('blk_by_hand', ?, 'credits', 0, 0, now(), '[]'::jsonb, 'active', now())`,
      [customer.id],
    );
    await sql(t, CREATION_SEQUENCE_SQL);
    const after = await sql<{ id: string; creation_sequence: number }>(
      t,
      'select id, creation_sequence from credit_blocks order by id',
    );
    expect(after.filter((row) => row.id !== 'blk_by_hand')).toEqual(before);
    expect(after.find((row) => row.id === 'blk_by_hand')?.creation_sequence).toBe(-1);
  });
});
