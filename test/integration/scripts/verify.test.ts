/**
 * scripts/verify.ts against the real service's database: ledgers written through HTTP (increments,
 * decrements into overdraft, expiration_change, void) verify clean; then each kind of corruption,
 * made by hand in SQL on a customer of its own, is reported naming that customer and what failed,
 * and is undone before the next case so that every case starts from a clean database.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDatabase } from '../../../scripts/verify.ts';
import { addToDate, dateIn, instantAt, isoPlus, serviceNow } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { addEntry, createCustomer, sql } from '../ledgerTestHelpers.ts';

const VERIFY_SCRIPT = fileURLToPath(new URL('../../../scripts/verify.ts', import.meta.url));
/** Midnight UTC, decades after the service's today: the expiring block never expires during the run. */
let FAR_EXPIRY: string;

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
  FAR_EXPIRY = instantAt(addToDate(dateIn('UTC', serviceNow(t)), { years: 70 }), 'UTC');
});
afterAll(async () => {
  await t?.stop();
});

interface Activity {
  customerId: string;
  /** Never-expiring: 100, partly voided to 90. */
  mainBlockId: string;
  /** Expires at FAR_EXPIRY: 50, drawn first (soonest expiry), then 5 moved out: 15 left. */
  expiringBlockId: string;
}

/**
 * A customer with a little of everything, 6 entries: 0 increment +100 (main), 1 increment +50
 * (expiring), 2 decrement −30 (expiring), 3 expiration_change 5, 4 void_initiated 10, 5 void −10;
 * balance 110.
 */
async function customerWithActivity(): Promise<Activity> {
  const { id } = await createCustomer(t);
  const main = await addEntry(t, id, { entry_type: 'increment', amount: 100 });
  const expiring = await addEntry(t, id, {
    entry_type: 'increment',
    amount: 50,
    expiry_date: FAR_EXPIRY,
  });
  await addEntry(t, id, { entry_type: 'decrement', amount: 30 });
  await addEntry(t, id, {
    entry_type: 'expiration_change',
    block_id: expiring.credit_block.id,
    amount: 5,
    target_expiry_date: addToDate(FAR_EXPIRY.slice(0, 10), { months: 5 }),
  });
  await addEntry(t, id, {
    entry_type: 'void',
    block_id: main.credit_block.id,
    amount: 10,
    void_reason: 'refund',
  });
  return {
    customerId: id,
    mainBlockId: main.credit_block.id,
    expiringBlockId: expiring.credit_block.id,
  };
}

/** A customer whose ledger ends in overdraft: increment 10, decrement 25 → one block at −15. */
async function customerInOverdraft(): Promise<{ customerId: string; blockId: string }> {
  const { id } = await createCustomer(t);
  const increment = await addEntry(t, id, { entry_type: 'increment', amount: 10 });
  await addEntry(t, id, { entry_type: 'decrement', amount: 25 });
  return { customerId: id, blockId: increment.credit_block.id };
}

/** Expiry is judged at the service's time (a manual clock may be years ahead of the database's now()). */
async function expectClean(): Promise<void> {
  const result = await verifyDatabase(t.databaseUrl, { now: serviceNow(t) });
  expect(result.violations).toEqual([]);
  expect(result.ok).toBe(true);
}

/** Verifies, expects a violation naming the customer that matches `what`, and returns them all. */
async function expectReported(customerId: string, what: RegExp, options = {}): Promise<string[]> {
  const result = await verifyDatabase(t.databaseUrl, { now: serviceNow(t), ...options });
  expect(result.ok).toBe(false);
  const mine = result.violations.filter((violation) =>
    violation.includes(`customer ${customerId}, currency credits:`),
  );
  expect(
    mine.some((violation) => what.test(violation)),
    `expected ${what} among:\n${result.violations.join('\n')}`,
  ).toBe(true);
  return mine;
}

const runCli = promisify(execFile);

describe('scripts/verify.ts', () => {
  it('finds every ledger written through HTTP consistent', async () => {
    const customers = [await customerWithActivity(), await customerWithActivity()];
    await customerInOverdraft();
    const result = await verifyDatabase(t.databaseUrl);
    expect(result).toEqual({ ok: true, ledgers: 3, entries: 2 * 6 + 2, violations: [] });
    const [stored] = await sql<{ balance: string }>(
      t,
      `select balance::text as balance from ledgers where customer_id = ?`,
      [customers[0]!.customerId],
    );
    // 100 + 50 − 30 − 10 (void); the expiration_change moved 5 without changing the balance.
    expect(Number(stored?.balance)).toBe(110);
  });

  it('reports a block balance changed by hand', async () => {
    const { customerId, mainBlockId } = await customerWithActivity();
    await sql(t, 'update credit_blocks set balance = balance - 1 where id = ?', [mainBlockId]);
    await expectReported(customerId, /ledgers\.balance 110 ≠ Σ block balances 109/);
    await sql(t, 'update credit_blocks set balance = balance + 1 where id = ?', [mainBlockId]);
    await expectClean();
  });

  it('reports an entry deleted from the middle as a sequence gap', async () => {
    const { customerId } = await customerWithActivity();
    const [saved] = await sql<{ row: unknown }>(
      t,
      'select to_jsonb(e) as row from ledger_entries e where customer_id = ? and ledger_sequence_number = 2',
      [customerId],
    );
    await sql(
      t,
      'delete from ledger_entries where customer_id = ? and ledger_sequence_number = 2',
      [customerId],
    );
    const found = await expectReported(customerId, /sequence gap: entry 3 follows entry 1/);
    expect(
      found.some((violation) => /not gapless from 0: 5 entries numbered 0\.\.5/.test(violation)),
    ).toBe(true);
    expect(
      found.some((violation) => /next_sequence_number 6 ≠ entry count 5/.test(violation)),
    ).toBe(true);
    expect(
      found.some((violation) => /ledgers\.balance 110 ≠ Σ entry amounts 140/.test(violation)),
    ).toBe(true);
    await sql(
      t,
      'insert into ledger_entries overriding system value select * from jsonb_populate_record(null::ledger_entries, ?::jsonb)',
      [JSON.stringify(saved?.row)],
    );
    await expectClean();
  });

  it("reports an entry's ending balance changed together with its amount as a broken chain", async () => {
    // The schema's arithmetic check still holds (ending = starting + amount); the chain does not.
    const { customerId } = await customerWithActivity();
    const shift = `update ledger_entries set amount = amount + ?, ending_balance = ending_balance + ?
                    where customer_id = ? and ledger_sequence_number = 2`;
    await sql(t, shift, [1, 1, customerId]);
    const found = await expectReported(
      customerId,
      /entries do not chain: entry 3 starts at 120 but entry 2 ended at 121/,
    );
    expect(found.some((violation) => /Σ entry amounts 111/.test(violation))).toBe(true);
    await sql(t, shift, [-1, -1, customerId]);
    await expectClean();
  });

  it("reports an entry's ending balance that breaks its own arithmetic (schema check dropped)", async () => {
    const { customerId } = await customerWithActivity();
    await sql(t, 'alter table ledger_entries drop constraint ledger_entries_balance_arithmetic');
    try {
      await sql(
        t,
        'update ledger_entries set ending_balance = ending_balance + 7 where customer_id = ? and ledger_sequence_number = 3',
        [customerId],
      );
      await expectReported(
        customerId,
        /entry 3 \(expiration_change, \w+\) breaks ending = starting: starting 120, amount 5, ending 127/,
      );
      await sql(
        t,
        'update ledger_entries set ending_balance = ending_balance - 7 where customer_id = ? and ledger_sequence_number = 3',
        [customerId],
      );
    } finally {
      await sql(
        t,
        `alter table ledger_entries add constraint ledger_entries_balance_arithmetic check (
        (entry_type in ('expiration_change', 'void_initiated') and ending_balance = starting_balance)
        or (entry_type not in ('expiration_change', 'void_initiated') and ending_balance = starting_balance + amount))`,
      );
    }
    await expectClean();
  });

  it('reports a head row whose next_sequence_number disagrees with the entries', async () => {
    const { customerId } = await customerInOverdraft();
    await sql(
      t,
      'update ledgers set next_sequence_number = next_sequence_number + 1 where customer_id = ?',
      [customerId],
    );
    await expectReported(customerId, /next_sequence_number 3 ≠ entry count 2/);
    await sql(
      t,
      'update ledgers set next_sequence_number = next_sequence_number - 1 where customer_id = ?',
      [customerId],
    );
    await expectClean();
  });

  it('reports a negative block that is not an overdraft block (schema check dropped)', async () => {
    const { customerId, blockId } = await customerInOverdraft();
    await sql(t, 'alter table credit_blocks drop constraint credit_blocks_negative_only_overdraft');
    try {
      await sql(t, 'update credit_blocks set expiry_date = ? where id = ?', [FAR_EXPIRY, blockId]);
      await expectReported(
        customerId,
        new RegExp(`block ${blockId} has negative balance -15 but is not an overdraft block`),
      );
      await sql(t, 'update credit_blocks set expiry_date = null where id = ?', [blockId]);
    } finally {
      await sql(
        t,
        `alter table credit_blocks add constraint credit_blocks_negative_only_overdraft
        check (balance >= 0 or (expiry_date is null and filters = '[]'::jsonb))`,
      );
    }
    await expectClean();
  });

  it('reports a block past its expiry still holding credit, once the slack has passed', async () => {
    const { customerId, expiringBlockId } = await customerWithActivity();
    const expiry = new Date(FAR_EXPIRY).getTime();
    // Judged at instants after the block's expiry instead of moving data under the scheduler.
    const within = await verifyDatabase(t.databaseUrl, { now: new Date(expiry + 30_000) });
    expect(within.violations.filter((violation) => violation.includes(expiringBlockId))).toEqual(
      [],
    );
    await expectReported(
      customerId,
      new RegExp(
        `block ${expiringBlockId} expired at ${FAR_EXPIRY} \\(more than 60 s ago\\) but still holds 15`,
      ),
      {
        now: new Date(expiry + 61_000),
      },
    );
    const slack = await verifyDatabase(t.databaseUrl, {
      now: new Date(expiry + 61_000),
      expirySlackSeconds: 3600,
    });
    expect(slack.violations.filter((violation) => violation.includes(expiringBlockId))).toEqual([]);
  });

  it('reports a committed ledger request without entries', async () => {
    const { customerId } = await customerInOverdraft();
    await sql(
      t,
      `insert into requests (id, customer_id, partition, currency, payload, status, entry_ids, created_at, completed_at)
       values ('req_without_entries', ?, 0, 'credits', '{}'::jsonb, 'committed', '[]'::jsonb, now(), now())`,
      [customerId],
    );
    await expectReported(
      customerId,
      /ledger request req_without_entries is committed but has no entries/,
    );
    await sql(t, `delete from requests where id = 'req_without_entries'`);
    await expectClean();
  });

  it('accepts a usage decrement that grew after later entries were written (LEDGER_RULES.md §5)', async () => {
    // What the usage worker does when later events of a pending group arrive: the entry's amount
    // and ending balance move by the same delta, and so do its block and the ledger head; the
    // entries written after it keep the starting balance they were written with.
    const { customerId, expiringBlockId } = await customerWithActivity();
    const price = await t.request('POST', '/v1/usage_prices', {
      name: 'calls',
      event_name: 'verify_calls',
      item_id: 'calls',
      unit_amount: '1',
    });
    expect(price.status, price.text).toBe(201);
    await sql(
      t,
      `update ledger_entries set entry_status = 'pending', price_id = ?, usage_day = ?, closes_at = ?,
              amount = amount - 2, ending_balance = ending_balance - 2
        where customer_id = ? and ledger_sequence_number = 2`,
      [
        price.body.id,
        dateIn('UTC', serviceNow(t)),
        isoPlus(serviceNow(t), { days: 1 }),
        customerId,
      ],
    );
    await sql(t, 'update credit_blocks set balance = balance - 2 where id = ?', [expiringBlockId]);
    await sql(t, 'update ledgers set balance = balance - 2 where customer_id = ?', [customerId]);
    await expectClean();
    // The next entry starts at the lowered head, 2 below where its predecessor (not the usage
    // entry) ended: the chain breaks there too, and that is the rule working.
    await addEntry(t, customerId, { entry_type: 'decrement', amount: 1 });
    await expectClean();
  });

  it('reports a block whose creation_sequence names no entry, or one after an entry that used it (§3 creation order)', async () => {
    const { customerId, mainBlockId, expiringBlockId } = await customerWithActivity();
    // main was made by entry 0; 99 names no entry of the ledger.
    await sql(t, 'update credit_blocks set creation_sequence = 99 where id = ?', [mainBlockId]);
    await expectReported(
      customerId,
      new RegExp(
        `block ${mainBlockId} has creation_sequence 99, which names no entry of its ledger`,
      ),
    );
    await sql(t, 'update credit_blocks set creation_sequence = 0 where id = ?', [mainBlockId]);
    // expiring was made by entry 1 and drawn by entry 2: numbered 4 (a void's, free), it was used before it was made.
    await sql(t, 'update credit_blocks set creation_sequence = 4 where id = ?', [expiringBlockId]);
    await expectReported(
      customerId,
      new RegExp(`block ${expiringBlockId} has creation_sequence 4 but entry 1 used it before`),
    );
    await sql(t, 'update credit_blocks set creation_sequence = 1 where id = ?', [expiringBlockId]);
    await expectClean();
  });

  it('runs as a command: exit 0 with a summary, exit 1 with the first violation', async () => {
    const env = { ...process.env, DATABASE_URL: t.databaseUrl };
    const clean = await runCli(process.execPath, [VERIFY_SCRIPT], { env });
    expect(clean.stdout).toMatch(/^verified \d+ ledgers, \d+ entries: ok\n$/);

    const { customerId, blockId } = await customerInOverdraft();
    await sql(t, 'update credit_blocks set balance = balance + 5 where id = ?', [blockId]);
    try {
      const failed = await runCli(
        process.execPath,
        [VERIFY_SCRIPT, '--expiry-slack-seconds', '120'],
        { env },
      ).then(
        () => undefined,
        (error: { code: number; stdout: string }) => error,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stdout.split('\n')[0]).toBe(
        `violation: customer ${customerId}, currency credits: ledgers.balance -15 ≠ Σ block balances -10`,
      );
    } finally {
      await sql(t, 'update credit_blocks set balance = balance - 5 where id = ?', [blockId]);
    }
    await expectClean();
  });
});
