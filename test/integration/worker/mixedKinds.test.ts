/**
 * One processor shell for every kind (issue 13 item 2): a customer's requests of different kinds
 * waiting together are applied as ONE group, in acceptance order, in one transaction. The order is
 * visible: a decrement accepted after a top-up's creation is decided with it (and tops up), one
 * accepted after its deletion is not; the balance transaction between them changes the customer's
 * balance only. Requests are recorded through an intake whose jobs nobody runs, then applied here.
 */
import { Duration } from 'luxon';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRequests } from '../../../worker/processors/applyRequests.ts';
import { startIntakeOnly, type IntakeOnly } from '../../support/intakeOnly.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  expectLedgerConsistent,
  ledgerEntryPath,
  sql,
} from '../ledgerTestHelpers.ts';

let t: TestService;
let intake: IntakeOnly;
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  t = await startTestService();
  intake = await startIntakeOnly(t, logger);
});
afterAll(async () => {
  await intake.close();
  await t.stop();
});

const recordOnly = (method: string, path: string, body?: unknown) =>
  intake.recordOnly(method, path, body);

describe('one shell for every kind', () => {
  it('applies ledger entries, top-up changes and a balance transaction of one customer as one group, in acceptance order', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 20 });
    const topUps = `/v1/customers/${customer.id}/credits/top_ups`;
    const decrement = (amount: number) =>
      recordOnly('POST', ledgerEntryPath(customer.id), { entry_type: 'decrement', amount });
    const first = await decrement(5); // 15: above the threshold to come
    const create = await recordOnly('POST', topUps, {
      currency: 'credits',
      threshold: '10',
      amount: '50',
      per_unit_cost_basis: '1',
      invoice_settings: { auto_collection: false, net_terms: 0 },
    });
    const crossing = await decrement(6); // 9: crosses 10, so the new top-up adds 50 → 59
    const balance = await recordOnly('POST', `/v1/customers/${customer.id}/balance_transactions`, {
      type: 'increment',
      amount: '3',
    });
    const [created] = await sql<{ top_up_id: string }>(
      t,
      `select payload ->> 'top_up_id' as top_up_id from requests where id = ?`,
      [create],
    );
    const remove = await recordOnly('DELETE', `${topUps}/${created?.top_up_id}`);
    const last = await decrement(55); // 4: below the threshold, but the top-up is gone
    const ids = [first, create, crossing, balance, remove, last];

    const outcomes = await applyRequests(
      ids.map((requestId) => ({ requestId, customerId: customer.id })),
      {
        orm: t.service.orm,
        clock: t.service.clock,
        outbox: t.service.outbox,
        logger,
        gracePeriod: Duration.fromISO('PT12H'),
      },
    );
    expect(outcomes.map((outcome) => [outcome.kind, outcome.status])).toEqual([
      ['ledger_entry', 'committed'],
      ['top_up_create', 'committed'],
      ['ledger_entry', 'committed'],
      ['balance_transaction', 'committed'],
      ['top_up_delete', 'committed'],
      ['ledger_entry', 'committed'],
    ]);

    const entries = await sql<{ entry_type: string; amount: string; ending_balance: string }>(
      t,
      `select entry_type, amount::float8::text as amount, ending_balance::float8::text as ending_balance
         from ledger_entries where customer_id = ? order by ledger_sequence_number`,
      [customer.id],
    );
    expect(entries).toEqual([
      { entry_type: 'increment', amount: '20', ending_balance: '20' },
      { entry_type: 'decrement', amount: '-5', ending_balance: '15' },
      { entry_type: 'decrement', amount: '-6', ending_balance: '9' },
      { entry_type: 'increment', amount: '50', ending_balance: '59' },
      // The last decrement spans the first block's 9 and the top-up's block (§3 drawdown).
      { entry_type: 'decrement', amount: '-9', ending_balance: '50' },
      { entry_type: 'decrement', amount: '-46', ending_balance: '4' },
    ]);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('4');
    const [customerRow] = await sql<{ balance: string }>(
      t,
      'select balance::float8::text as balance from customers where id = ?',
      [customer.id],
    );
    expect(customerRow?.balance).toBe('3');
    // One transaction: every request of the group was completed at the same instant.
    const [finished] = await sql<{ instants: string }>(
      t,
      `select count(distinct completed_at)::text as instants from requests
        where id in (select jsonb_array_elements_text(?::jsonb))`,
      [JSON.stringify(ids)],
    );
    expect(finished?.instants).toBe('1');
    const [topUpsLeft] = await sql<{ count: string }>(
      t,
      'select count(*)::text as count from top_ups where customer_id = ?',
      [customer.id],
    );
    expect(topUpsLeft?.count).toBe('0');
  });

  it('an alert created between two writes of one group takes its state there: it does not look back', async () => {
    const customer = await createCustomer(t, {});
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    const decrement = (amount: number) =>
      recordOnly('POST', ledgerEntryPath(customer.id), { entry_type: 'decrement', amount });
    const before = await decrement(60); // 40: below 50, before the alert exists
    const create = await recordOnly('POST', `/v1/alerts/customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 50 }, { value: 20 }],
    });
    const after = await decrement(25); // 15: crosses 20, not 50 (already below when created)
    const outcomes = await applyRequests(
      [before, create, after].map((requestId) => ({ requestId, customerId: customer.id })),
      {
        orm: t.service.orm,
        clock: t.service.clock,
        outbox: t.service.outbox,
        logger,
        gracePeriod: Duration.fromISO('PT12H'),
      },
    );
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      'committed',
      'committed',
      'committed',
    ]);
    const told = await sql<{ body: string }>(
      t,
      `select body from webhook_events
        where customer_id = ? and type = 'customer.credit_balance_dropped' order by seq`,
      [customer.id],
    );
    expect(told.map(({ body }) => JSON.parse(body).properties.balance_threshold)).toEqual(['20']);
    const [alert] = await sql<{ thresholds: unknown }>(
      t,
      'select thresholds from alerts where customer_id = ?',
      [customer.id],
    );
    expect(alert?.thresholds).toEqual([
      { value: '50', at_or_below: true },
      { value: '20', at_or_below: true },
    ]);
  });
});
