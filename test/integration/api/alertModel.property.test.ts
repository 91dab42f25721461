/**
 * Balance alerts against a naive model through the real service (issue "Balance alerts and signed
 * webhooks", Proof): random sequences of increments, decrements, voids and usage (ingested events,
 * applied by the worker) for a customer with a dropped alert (random thresholds), a depleted and a
 * recovered alert. The model knows only the balance: it adds what each write moves and, from the
 * balance before and after, says which crossings there are (from above a threshold to at or below
 * it, highest first, then depleted; recovered from at or below zero to above). The service's
 * outbox must hold exactly those events, in that order — no more, no fewer.
 *
 * Every block here is effective at once and never expires, so the watched balance is the
 * ledger's, and each write moves it one way. Knobs: ALERT_MODEL_RUNS (4), ALERT_MODEL_STEPS (14),
 * ALERT_MODEL_SEED.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { serviceNow } from '../../support/testDates.ts';
import {
  addEntry,
  createCustomer,
  createUsagePrice,
  eventually,
  ledgerEntryPath,
  sql,
} from '../ledgerTestHelpers.ts';

const RUNS = Number(process.env.ALERT_MODEL_RUNS ?? 4);
const STEPS = Number(process.env.ALERT_MODEL_STEPS ?? 14);
const SEED = Number(process.env.ALERT_MODEL_SEED ?? 7);

let t: TestService;
let price: { event_name: string };
beforeAll(async () => {
  t = await startTestService();
  price = await createUsagePrice(t, { unit_amount: '1', quantity_property: 'quantity' });
});
afterAll(async () => {
  await t?.stop();
});

type Step =
  | { kind: 'increment'; amount: number }
  | { kind: 'decrement'; amount: number }
  | { kind: 'void'; pick: number }
  | { kind: 'usage'; quantities: number[] };

const amount = fc.integer({ min: 1, max: 80 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('increment' as const), amount }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('decrement' as const), amount }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('void' as const), pick: fc.nat(9) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('usage' as const),
      quantities: fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 3 }),
    }),
  },
);
const thresholds = fc.uniqueArray(fc.constantFrom(0, 5, 20, 35, 50, 80), {
  minLength: 1,
  maxLength: 3,
});

type Told = [type: string, threshold: string | null];

function naive(dropped: number[], from: Decimal, to: Decimal): Told[] {
  const told: Told[] = [];
  if (to.compare(from) < 0) {
    for (const value of [...dropped].sort((a, b) => b - a)) {
      const threshold = Decimal.of(String(value));
      if (from.compare(threshold) > 0 && to.compare(threshold) <= 0)
        told.push(['customer.credit_balance_dropped', String(value)]);
    }
    if (from.isPositive() && !to.isPositive())
      told.push(['customer.credit_balance_depleted', null]);
  } else if (!from.isPositive() && to.isPositive()) {
    told.push(['customer.credit_balance_recovered', null]);
  }
  return told;
}

async function alertEvents(customerId: string): Promise<Told[]> {
  const rows = await sql<{ body: string }>(
    t,
    `select body from webhook_events where customer_id = ? and type like 'customer.credit_balance_%'
      order by seq`,
    [customerId],
  );
  return rows.map(({ body }) => {
    const event = JSON.parse(body);
    return [event.type, event.properties.balance_threshold ?? null];
  });
}

async function appliedEvents(customerId: string): Promise<number> {
  const [row] = await sql<{ count: number }>(
    t,
    `select count(*)::int as count from events where customer_id = ? and status = 'applied'`,
    [customerId],
  );
  return row!.count;
}

describe('balance alerts against a naive model, through the service', () => {
  it('tell exactly the crossings the model sees, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 60, max: 160 }),
        thresholds,
        fc.array(step, { minLength: 1, maxLength: STEPS }),
        async (opening, dropped, steps) => {
          const customer = await createCustomer(t, {});
          // Credit first, so that the alerts start above some thresholds and drops cross them.
          await addEntry(t, customer.id, { entry_type: 'increment', amount: opening });
          for (const [type, values] of [
            ['credit_balance_dropped', dropped],
            ['credit_balance_depleted', []],
            ['credit_balance_recovered', []],
          ] as const) {
            const created = await t.request('POST', `/v1/alerts/customer_id/${customer.id}`, {
              currency: 'credits',
              type,
              ...(values.length > 0 && { thresholds: values.map((value) => ({ value })) }),
            });
            expect(created.status, created.text).toBe(201);
          }
          let balance = Decimal.of(String(opening));
          let applied = 0;
          const expected: Told[] = [];
          for (const each of steps) {
            let next = balance;
            if (each.kind === 'increment') {
              await addEntry(t, customer.id, { entry_type: 'increment', amount: each.amount });
              next = balance.plus(Decimal.of(String(each.amount)));
            } else if (each.kind === 'decrement') {
              await addEntry(t, customer.id, { entry_type: 'decrement', amount: each.amount });
              next = balance.minus(Decimal.of(String(each.amount)));
            } else if (each.kind === 'void') {
              // A void of what a block still holds, read from the service (drawdown decides which).
              const live = await t.request('GET', `/v1/customers/${customer.id}/credits`);
              const candidates = (live.body.data as { id: string; balance: number }[]).filter(
                (block) => block.balance > 0,
              );
              const block = candidates[each.pick % Math.max(1, candidates.length)];
              if (!block) continue;
              const left = Decimal.of(String(block.balance));
              const response = await t.request('POST', ledgerEntryPath(customer.id), {
                entry_type: 'void',
                block_id: block.id,
                amount: left.toString(),
              });
              expect(response.status, response.text).toBe(201);
              next = balance.minus(left);
            } else {
              const at = new Date(serviceNow(t).getTime() - 60_000).toISOString();
              const ingest = await t.request('POST', '/v1/ingest', {
                events: each.quantities.map((quantity) => ({
                  idempotency_key: randomUUID(),
                  event_name: price.event_name,
                  timestamp: at,
                  customer_id: customer.id,
                  properties: { quantity },
                })),
              });
              expect(ingest.status, ingest.text).toBe(200);
              applied += each.quantities.length;
              await eventually(async () =>
                (await appliedEvents(customer.id)) === applied ? true : undefined,
              );
              next = each.quantities.reduce(
                (sum, quantity) => sum.minus(Decimal.of(String(quantity))),
                balance,
              );
            }
            expected.push(...naive(dropped, balance, next));
            balance = next;
          }
          expect(await alertEvents(customer.id)).toEqual(expected);
        },
      ),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });
});
