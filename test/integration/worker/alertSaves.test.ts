/**
 * A ledger transaction saves its alerts' state only when it moved (worker/processors/
 * ledgerNews.ts): a write that crosses no threshold and leaves its ledger's recheck as it was
 * makes no `update alerts` statement at all — the round trip 1,000 configured alerts cost every
 * write (BENCHMARKS.md, "Balance alerts and webhooks") — while a crossing or a new recheck
 * instant is saved. Statements are counted by a statement-level trigger on this test's own
 * database, which fires for an update of zero rows too.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';
import { dateIn, serviceNow } from '../../support/testDates.ts';
import { addEntry, createCustomer, sql } from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
  await sql(t, 'create table alert_update_statements (at timestamptz not null default now())');
  await sql(
    t,
    `create function count_alert_updates() returns trigger language plpgsql as $$
     begin insert into alert_update_statements default values; return null; end $$`,
  );
  await sql(
    t,
    `create trigger count_alert_updates after update on alerts
       for each statement execute function count_alert_updates()`,
  );
});
afterAll(async () => {
  await t?.stop();
});

async function updateStatements(): Promise<number> {
  const [row] = await sql<{ count: string }>(
    t,
    'select count(*)::text as count from alert_update_statements',
  );
  return Number(row!.count);
}

async function alertRow(id: string) {
  const [row] = await sql<{ thresholds: unknown; recheck_at: Date | string | null }>(
    t,
    'select thresholds, recheck_at from alerts where id = ?',
    [id],
  );
  return row!;
}

describe('saving alert state', () => {
  it('makes no update statement for a write that moves nothing, and saves crossings and rechecks', async () => {
    const customer = await createCustomer(t);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    const alertId = `alert_${randomUUID()}`;
    await sql(
      t,
      `insert into alerts (id, customer_id, currency, type, thresholds, enabled, created_at, updated_at)
       values (?, ?, 'credits', 'credit_balance_dropped', ?::jsonb, true, now(), now())`,
      [alertId, customer.id, JSON.stringify([{ value: '50', at_or_below: false }])],
    );
    const before = await updateStatements();

    // 100 → 90: above the threshold, no recheck: nothing to save.
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 10 });
    expect(await updateStatements()).toBe(before);
    expect((await alertRow(alertId)).thresholds).toEqual([{ value: '50', at_or_below: false }]);

    // 90 → 45: the threshold is crossed; its state is saved and the event told.
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 45 });
    expect(await updateStatements()).toBe(before + 1);
    expect((await alertRow(alertId)).thresholds).toEqual([{ value: '50', at_or_below: true }]);
    const [dropped] = await sql<{ count: string }>(
      t,
      `select count(*)::text as count from webhook_events
        where customer_id = ? and type = 'customer.credit_balance_dropped'`,
      [customer.id],
    );
    expect(dropped!.count).toBe('1');

    // A block effective next week moves no balance but gives the ledger a recheck: saved.
    const nextWeek = dateIn('UTC', serviceNow(t), 7);
    await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 20,
      effective_date: nextWeek,
    });
    expect(await updateStatements()).toBe(before + 2);
    const recheckAt = (await alertRow(alertId)).recheck_at;
    expect(recheckAt).not.toBeNull();
    expect(new Date(recheckAt!).getTime()).toBeGreaterThan(serviceNow(t).getTime());

    // The same recheck and no crossing again: nothing to save.
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 1 });
    expect(await updateStatements()).toBe(before + 2);
    expect(await alertRow(alertId)).toEqual({
      thresholds: [{ value: '50', at_or_below: true }],
      recheck_at: recheckAt,
    });
  });
});
