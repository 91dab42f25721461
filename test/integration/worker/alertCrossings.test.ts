/**
 * Balance alerts evaluated in the transaction of every ledger change (worker/processors/
 * ledgerNews.ts): one event per crossing, in ledger order, each naming the entry that caused it,
 * written to the outbox with the change. The alerts are stored directly here (their API has its
 * own tests); what is checked is what each write tells.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  createUsagePrice,
  eventually,
  ledgerEntryPath,
  sql,
} from '../ledgerTestHelpers.ts';
import { serviceNow } from '../../support/testDates.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

type Thresholds = { value: string; at_or_below: boolean }[];

async function addAlert(
  customerId: string,
  type: string,
  thresholds: Thresholds,
  enabled = true,
): Promise<string> {
  const id = `alert_${randomUUID()}`;
  await sql(
    t,
    `insert into alerts (id, customer_id, currency, type, thresholds, enabled, created_at, updated_at)
     values (?, ?, 'credits', ?, ?::jsonb, ?, now(), now())`,
    [id, customerId, type, JSON.stringify(thresholds), enabled],
  );
  return id;
}

interface Told {
  type: string;
  sequence: number | null;
  threshold: string | undefined;
  alertId: string | undefined;
}

/** The ledger's events told about this customer since `afterSeq`, in outbox order. */
async function told(customerId: string, afterSeq = '0'): Promise<{ events: Told[]; last: string }> {
  const rows = await sql<{ seq: string; body: string }>(
    t,
    `select seq::text as seq, body from webhook_events
      where customer_id = ? and seq > ?::bigint and type <> 'customer.created' order by seq`,
    [customerId, afterSeq],
  );
  return {
    last: rows.at(-1)?.seq ?? afterSeq,
    events: rows.map(({ body }) => {
      const parsed = JSON.parse(body);
      return {
        type: parsed.type,
        sequence: parsed.properties?.ledger_sequence_number ?? null,
        threshold: parsed.properties?.balance_threshold,
        alertId: parsed.properties?.alert_configuration?.id,
      };
    }),
  };
}

async function alertState(id: string): Promise<Thresholds> {
  const [row] = await sql<{ thresholds: Thresholds }>(
    t,
    'select thresholds from alerts where id = ?',
    [id],
  );
  return row!.thresholds;
}

describe('alert crossings', () => {
  it('fires each crossing once, highest threshold first, then depleted; recovered going up', async () => {
    const customer = await createCustomer(t, {});
    const dropped = await addAlert(customer.id, 'credit_balance_dropped', [
      { value: '50', at_or_below: true },
      { value: '20', at_or_below: true },
    ]);
    const depleted = await addAlert(customer.id, 'credit_balance_depleted', [
      { value: '0', at_or_below: true },
    ]);
    const recovered = await addAlert(customer.id, 'credit_balance_recovered', [
      { value: '0', at_or_below: true },
    ]);

    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    let seen = await told(customer.id);
    expect(seen.events).toEqual([
      {
        type: 'customer.credit_ledger_incremented',
        sequence: 0,
        threshold: undefined,
        alertId: undefined,
      },
      {
        type: 'customer.credit_balance_recovered',
        sequence: 0,
        // Orb's depleted and recovered payloads carry no balance_threshold.
        threshold: undefined,
        alertId: recovered,
      },
    ]);

    // 100 → 10 crosses 50 and 20 in one step: two events, highest first; not depleted.
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 90 });
    seen = await told(customer.id, seen.last);
    expect(seen.events.map(({ type, threshold, alertId }) => [type, threshold, alertId])).toEqual([
      ['customer.credit_balance_dropped', '50', dropped],
      ['customer.credit_balance_dropped', '20', dropped],
    ]);
    expect(seen.events.every((event) => event.sequence === 1)).toBe(true);

    // 10 → -5: depleted; the dropped thresholds are already in alert and stay quiet.
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 15 });
    seen = await told(customer.id, seen.last);
    expect(seen.events.map(({ type, alertId }) => [type, alertId])).toEqual([
      ['customer.credit_balance_depleted', depleted],
    ]);

    // -5 → 5: incremented then recovered, both naming the increment.
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 10 });
    seen = await told(customer.id, seen.last);
    expect(seen.events.map(({ type, sequence }) => [type, sequence])).toEqual([
      ['customer.credit_ledger_incremented', 3],
      ['customer.credit_balance_recovered', 3],
    ]);
    expect(await alertState(dropped)).toEqual([
      { value: '50', at_or_below: true },
      { value: '20', at_or_below: true },
    ]);
    expect(await alertState(depleted)).toEqual([{ value: '0', at_or_below: false }]);

    // 5 → 60: above both thresholds again, nothing fires going up for dropped...
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 55 });
    seen = await told(customer.id, seen.last);
    expect(seen.events.map(({ type }) => type)).toEqual(['customer.credit_ledger_incremented']);
    // ...and the next drop fires again.
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 10 });
    seen = await told(customer.id, seen.last);
    expect(seen.events.map(({ type, threshold }) => [type, threshold])).toEqual([
      ['customer.credit_balance_dropped', '50'],
    ]);
  });

  it('a disabled alert keeps its state and tells nothing', async () => {
    const customer = await createCustomer(t, {});
    const alert = await addAlert(
      customer.id,
      'credit_balance_dropped',
      [{ value: '10', at_or_below: true }],
      false,
    );
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 30 });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 25 });
    const seen = await told(customer.id);
    expect(seen.events.map(({ type }) => type)).toEqual(['customer.credit_ledger_incremented']);
    expect(await alertState(alert)).toEqual([{ value: '10', at_or_below: true }]);
  });

  it('a refused write tells nothing and changes no state', async () => {
    const customer = await createCustomer(t, {});
    const alert = await addAlert(customer.id, 'credit_balance_depleted', [
      { value: '0', at_or_below: true },
    ]);
    const refused = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'void',
      block_id: 'no_such_block',
      amount: 5,
    });
    expect(refused.status).toBe(404);
    expect((await told(customer.id)).events).toEqual([]);
    expect(await alertState(alert)).toEqual([{ value: '0', at_or_below: true }]);
  });

  it('usage that triggers a top-up fires depleted then recovered in one transaction', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const depleted = await addAlert(customer.id, 'credit_balance_depleted', [
      { value: '0', at_or_below: false },
    ]);
    const recovered = await addAlert(customer.id, 'credit_balance_recovered', [
      { value: '0', at_or_below: false },
    ]);
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 20 });
    const topUp = await t.request('POST', `/v1/customers/${customer.id}/credits/top_ups`, {
      currency: 'credits',
      threshold: '0',
      amount: '100',
      per_unit_cost_basis: '0.5',
      invoice_settings: { auto_collection: false, net_terms: 7 },
    });
    expect(topUp.status, topUp.text).toBe(201);
    const price = await createUsagePrice(t, { unit_amount: '25' });
    const before = await told(customer.id);
    const ingest = await t.request('POST', '/v1/ingest', {
      events: [
        {
          idempotency_key: randomUUID(),
          event_name: price.event_name,
          timestamp: new Date(serviceNow(t).getTime() - 60_000).toISOString(),
          customer_id: customer.id,
          properties: {},
        },
      ],
    });
    expect(ingest.status, ingest.text).toBe(200);
    // 20 → -5 (depleted) → the top-up's 100 → 95 (recovered), in ledger order.
    const seen = await eventually(async () => {
      const next = await told(customer.id, before.last);
      return next.events.length >= 3 ? next : undefined;
    });
    expect(seen.events.map(({ type, alertId }) => [type, alertId])).toEqual([
      ['customer.credit_balance_depleted', depleted],
      ['customer.credit_ledger_incremented', undefined],
      ['customer.credit_balance_recovered', recovered],
    ]);
    const [drop, increment, recovery] = seen.events;
    expect(drop!.sequence).toBeLessThan(increment!.sequence!);
    expect(recovery!.sequence).toBe(increment!.sequence);
  });
});
