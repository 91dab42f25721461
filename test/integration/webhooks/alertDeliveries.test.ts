/**
 * The proof, end to end: alerts made with the official SDK, ledger writes over HTTP, and a
 * real HTTP receiver behind `WEBHOOK_URL`. A decrement crossing two thresholds and zero delivers
 * two `dropped` events, highest threshold first, then `depleted`; an increment delivers
 * `incremented` then `recovered`; every delivery verifies with the SDK's `unwrap` and names the
 * entry that caused it.
 */
import { randomUUID } from 'node:crypto';
import Orb from 'orb-billing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, TEST_API_KEY, type TestService } from '../../support/testService.ts';
import { addEntry, createCustomer } from '../ledgerTestHelpers.ts';
import { Receiver, unwrap } from './receiver.ts';

const SECRET = `whsec_${randomUUID()}`;
let t: TestService;
let receiver: Receiver;
let client: Orb;

beforeAll(async () => {
  receiver = await Receiver.start();
  t = await startTestService({
    WEBHOOK_URL: receiver.url,
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_POLL_MS: '100',
  });
  client = new Orb({ apiKey: TEST_API_KEY, baseURL: `${t.baseUrl}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await t?.stop();
  await receiver?.stop();
});

/** The verified events of this customer delivered so far, leaving out `customer.created`. */
function deliveredFor(customerId: string): any[] {
  return receiver
    .delivered()
    .map((received) => unwrap(received, SECRET) as any)
    .filter((event) => event.customer?.id === customerId && event.type !== 'customer.created');
}

describe('alerts delivered to a real receiver', () => {
  it('dropped twice, highest first, then depleted; then incremented and recovered', async () => {
    const customer = await createCustomer(t, {});
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100 });
    const dropped = await client.alerts.createForCustomer(customer.id, {
      currency: 'credits',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 20 }, { value: 50 }],
    });
    const depleted = await client.alerts.createForCustomer(customer.id, {
      currency: 'credits',
      type: 'credit_balance_depleted',
    });
    const recovered = await client.alerts.createForCustomer(customer.id, {
      currency: 'credits',
      type: 'credit_balance_recovered',
    });
    await expect.poll(() => deliveredFor(customer.id).length, { timeout: 5_000 }).toBe(1);

    const decrement = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 120 });
    await expect.poll(() => deliveredFor(customer.id).length, { timeout: 5_000 }).toBe(4);
    const afterDrop = deliveredFor(customer.id).slice(1);
    expect(
      afterDrop.map((event) => [
        event.type,
        event.properties.alert_configuration.id,
        event.properties.balance_threshold,
      ]),
    ).toEqual([
      ['customer.credit_balance_dropped', dropped.id, '50'],
      ['customer.credit_balance_dropped', dropped.id, '20'],
      ['customer.credit_balance_depleted', depleted.id, undefined],
    ]);
    for (const event of afterDrop)
      expect(event.properties.ledger_sequence_number).toBe(decrement.ledger_sequence_number);

    const increment = await addEntry(t, customer.id, { entry_type: 'increment', amount: 30 });
    await expect.poll(() => deliveredFor(customer.id).length, { timeout: 5_000 }).toBe(6);
    const afterIncrement = deliveredFor(customer.id).slice(4);
    expect(afterIncrement.map((event) => event.type)).toEqual([
      'customer.credit_ledger_incremented',
      'customer.credit_balance_recovered',
    ]);
    expect(afterIncrement[1].properties.alert_configuration.id).toBe(recovered.id);
    for (const event of afterIncrement)
      expect(event.properties.ledger_sequence_number).toBe(increment.ledger_sequence_number);
    // Every id once: nothing was sent twice.
    const ids = deliveredFor(customer.id).map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    // The alert reports the state it was left in: 10, still below both thresholds.
    const now = await client.alerts.retrieve(dropped.id);
    expect(now.balance_alert_status).toEqual([
      { in_alert: true, threshold_value: 50 },
      { in_alert: true, threshold_value: 20 },
    ]);
  });
});
