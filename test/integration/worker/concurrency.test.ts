/**
 * Many writes at once: the partition queue applies one customer's writes one at a time, so
 * concurrent HTTP requests must all succeed and leave a ledger whose invariants hold exactly
 * (LEDGER_RULES.md §2 "Balance", §6 gapless sequence numbers), checked against Postgres itself.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from '../../../scripts/service.ts';
import { loadConfig } from '../../../worker/runtime/config.ts';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { isoPlus, serviceNow } from '../../support/testDates.ts';
import { REDIS_ENV, startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  dec,
  expectLedgerConsistent,
  ledgerEntryPath,
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

describe('concurrent decrements for one customer', () => {
  it('50 concurrent decrements of 1 against 30 credits in two blocks: all 201, a consistent ledger at -20', async () => {
    const customer = await createCustomer(t);
    const expiring = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 20,
      expiry_date: isoPlus(serviceNow(t), { days: 180 }),
    });
    const lasting = await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });

    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        t.request('POST', ledgerEntryPath(customer.id), {
          entry_type: 'decrement',
          amount: 1,
          description: `d${index}`,
        }),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 50 }, () => 201));
    for (const answer of answers) {
      expect(answer.body).toMatchObject({ entry_type: 'decrement', amount: -1 });
      expect(answer.body.ending_balance).toBe(answer.body.starting_balance - 1);
    }
    // Each answer is its own entry, and together they cover every balance from 30 down to -20.
    expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(50);
    expect(answers.map((answer) => answer.body.ending_balance).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, index) => index - 20),
    );

    const [committed] = await sql<{ count: string }>(
      t,
      `select count(*)::text as count from requests
        where customer_id = ? and status = 'committed' and payload->>'entry_type' = 'decrement'`,
      [customer.id],
    );
    expect(Number(committed?.count)).toBe(50);
    const [notCommitted] = await sql<{ count: string }>(
      t,
      `select count(*)::text as count from requests where customer_id = ? and status <> 'committed'`,
      [customer.id],
    );
    expect(Number(notCommitted?.count)).toBe(0);

    const entries = await storedEntries(t, customer.id);
    expect(entries.map((entry) => entry.ledger_sequence_number)).toEqual(
      Array.from({ length: 52 }, (_, index) => index),
    );
    for (let index = 1; index < entries.length; index += 1) {
      expect(dec(entries[index]!.starting_balance)).toBe(dec(entries[index - 1]!.ending_balance));
    }
    // Drawdown order held under load: the expiring block first, then the lasting one, which
    // then carries the overdraft (LEDGER_RULES §3, §4).
    const decrements = entries.slice(2);
    expect(
      decrements.slice(0, 20).every((entry) => entry.block_id === expiring.credit_block.id),
    ).toBe(true);
    expect(decrements.slice(20).every((entry) => entry.block_id === lasting.credit_block.id)).toBe(
      true,
    );

    expect(await expectLedgerConsistent(t, customer.id)).toBe('-20');
    const balances = await sql<{ id: string; balance: string }>(
      t,
      'select id, balance::text as balance from credit_blocks where customer_id = ?',
      [customer.id],
    );
    expect(Object.fromEntries(balances.map((row) => [row.id, dec(row.balance)]))).toEqual({
      [expiring.credit_block.id]: '0',
      [lasting.credit_block.id]: '-20',
    });
    const [head] = await sql<{ balance: string }>(
      t,
      `select balance::text as balance from ledgers where customer_id = ? and currency = 'credits'`,
      [customer.id],
    );
    expect(dec(head!.balance)).toBe('-20');
  });
});

describe('concurrent writes for several customers', () => {
  it('customers on different partitions are written at once, each ledger consistent', async () => {
    const partitions = t.service.config.partitions;
    const customers: any[] = [];
    const covered = new Set<number>();
    while (covered.size < Math.min(partitions, 3) || customers.length < 4) {
      const customer = await createCustomer(t);
      customers.push(customer);
      covered.add(partitionOf(customer.id, partitions));
    }
    expect(covered.size).toBeGreaterThanOrEqual(Math.min(partitions, 3));

    const writes = customers.flatMap((customer) => [
      { customer, body: { entry_type: 'increment', amount: 10 } },
      ...Array.from({ length: 8 }, () => ({
        customer,
        body: { entry_type: 'decrement', amount: 1.5 },
      })),
      { customer, body: { entry_type: 'increment', amount: 2.25, currency: 'tokens' } },
    ]);
    const answers = await Promise.all(
      writes.map(({ customer, body }) => t.request('POST', ledgerEntryPath(customer.id), body)),
    );
    expect(answers.map((answer) => answer.status)).toEqual(writes.map(() => 201));

    for (const customer of customers) {
      // The increment may land before or after some decrements; the end balance is the same.
      expect(await expectLedgerConsistent(t, customer.id)).toBe('-2');
      expect(await expectLedgerConsistent(t, customer.id, 'tokens')).toBe('2.25');
      const entries = await storedEntries(t, customer.id);
      expect(
        entries
          .filter((entry) => entry.entry_type === 'decrement')
          .reduce((sum, entry) => sum + Number(entry.amount), 0),
      ).toBe(-12);
    }
  });
});

describe('a second worker process on the same queues', () => {
  it("still applies one customer's concurrent writes one at a time, answering through queue events", async () => {
    const second = await startService(
      loadConfig({
        DATABASE_URL: t.databaseUrl,
        ...REDIS_ENV,
        QUEUE_STORE: t.service.config.queueStore,
        QUEUE_PREFIX: t.queuePrefix,
        PARTITIONS: String(t.service.config.partitions),
        ROLE: 'worker',
        WORKER_PORT: '0',
        LOG_LEVEL: 'silent',
      }),
      { logger: pino({ level: 'silent' }) },
    );
    try {
      expect(second.app).toBeUndefined();
      const customer = await createCustomer(t);
      await addEntry(t, customer.id, { entry_type: 'increment', amount: 25 });
      const answers = await Promise.all(
        Array.from({ length: 40 }, () =>
          t.request('POST', ledgerEntryPath(customer.id), { entry_type: 'decrement', amount: 1 }),
        ),
      );
      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 201));
      expect(answers.map((answer) => answer.body.ending_balance).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 40 }, (_, index) => index - 15),
      );
      expect(await expectLedgerConsistent(t, customer.id)).toBe('-15');
    } finally {
      await second.close();
    }
  });
});
