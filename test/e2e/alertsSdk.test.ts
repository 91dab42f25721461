/**
 * Orb's official SDK (`orb-billing`) against the alert endpoints, unchanged and pointed at the
 * service with nothing but `baseURL`: every method of `client.alerts` — create by customer id and
 * by external id, retrieve, update, list (auto-paginated, with its filters), disable, enable,
 * delete, and the subscription create this service refuses — with the error classes the SDK maps
 * our problems to. Every alert body the SDK received is checked against the wire schema
 * (api/wire/alert.ts); every error body against Orb's OpenAPI error schemas.
 */
import Orb, { BadRequestError, NotFoundError } from 'orb-billing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { alertSchema, alertsSchema } from '../../api/wire/alert.ts';
import { expectValid } from '../support/openApiValidator.ts';
import { recordingFetch, type Recorded } from '../support/recordingFetch.ts';
import { manualClockStart, serviceNow } from '../support/testDates.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../support/testService.ts';
import { addEntry, uniqueName } from '../integration/ledgerTestHelpers.ts';

const recorded: Recorded[] = [];
let t: TestService;
let client: Orb;

beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: manualClockStart().toISOString() });
  client = new Orb({
    apiKey: TEST_API_KEY,
    baseURL: `${t.baseUrl}/v1`,
    maxRetries: 0,
    timeout: 20_000,
    fetch: recordingFetch(recorded),
  });
});
afterAll(async () => {
  await t?.stop();
});
beforeEach(() => {
  recorded.length = 0;
});

/** Every alert response recorded is valid against its schema; every error against Orb's. */
function expectRecordedValid(): void {
  expect(recorded.length).toBeGreaterThan(0);
  for (const { method, path, status, body } of recorded) {
    if (!path.startsWith('/v1/alerts')) continue;
    const where = `${method} ${path} ${status}`;
    if (status >= 300) expectValid(`${status}Error`, body);
    else if (status === 204) expect(body, where).toBeUndefined();
    else if (method === 'GET' && path === '/v1/alerts')
      expect(alertsSchema.safeParse(body).success, where).toBe(true);
    else expect(alertSchema.safeParse(body).success, where).toBe(true);
  }
}

async function advanceClock(milliseconds: number): Promise<string> {
  const to = new Date(serviceNow(t).getTime() + milliseconds).toISOString();
  const response = await t.request('POST', '/v1/test_clock/advance', { to });
  expect(response.status, response.text).toBe(200);
  return to;
}

describe('the SDK’s alerts resource', () => {
  it('creates, retrieves, updates, disables, enables and deletes alerts', async () => {
    const customer = await client.customers.create({
      name: 'Alerted',
      email: 'alerted@example.com',
      external_customer_id: uniqueName('sdk-alerts'),
    });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 100, currency: 'credits' });

    const dropped = await client.alerts.createForCustomer(customer.id, {
      currency: 'credits',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 20 }, { value: 150 }],
    });
    expect(dropped).toMatchObject({
      currency: 'credits',
      customer: { id: customer.id, external_customer_id: customer.external_customer_id },
      enabled: true,
      type: 'credit_balance_dropped',
      thresholds: [{ value: 150 }, { value: 20 }],
      balance_alert_status: [
        { in_alert: true, threshold_value: 150 },
        { in_alert: false, threshold_value: 20 },
      ],
    });

    const depleted = await client.alerts.createForExternalCustomer(customer.external_customer_id!, {
      currency: 'credits',
      type: 'credit_balance_depleted',
    });
    expect(depleted.customer?.id).toBe(customer.id);
    expect(depleted.thresholds).toBeNull();
    expect(depleted.balance_alert_status).toEqual([{ in_alert: false, threshold_value: 0 }]);

    expect(await client.alerts.retrieve(dropped.id)).toEqual(dropped);

    const updated = await client.alerts.update(dropped.id, {
      thresholds: [{ value: 100 }, { value: 99.5 }],
    });
    expect(updated.thresholds).toEqual([{ value: 100 }, { value: 99.5 }]);
    expect(updated.balance_alert_status).toEqual([
      { in_alert: true, threshold_value: 100 },
      { in_alert: false, threshold_value: 99.5 },
    ]);

    const disabled = await client.alerts.disable(dropped.id);
    expect(disabled.enabled).toBe(false);
    expect((await client.alerts.retrieve(dropped.id)).enabled).toBe(false);
    const enabled = await client.alerts.enable(dropped.id, {});
    expect(enabled).toEqual(updated);

    await client.alerts.delete(depleted.id);
    expect(recorded.at(-1)).toMatchObject({ method: 'DELETE', status: 204 });
    await expect(client.alerts.retrieve(depleted.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.alerts.delete(depleted.id)).rejects.toBeInstanceOf(NotFoundError);
    expectRecordedValid();
  });

  it('lists alerts page by page, newest first, with the customer and creation-time filters', async () => {
    const customer = await client.customers.create({
      name: 'Listed',
      email: 'listed@example.com',
      external_customer_id: uniqueName('sdk-list'),
    });
    const ids: string[] = [];
    const times: string[] = [];
    for (const currency of ['credits', 'USD', 'EUR', 'tokens', 'points']) {
      times.push(await advanceClock(1_000));
      ids.push(
        (
          await client.alerts.createForCustomer(customer.id, {
            currency,
            type: 'credit_balance_depleted',
          })
        ).id,
      );
    }
    const newestFirst = [...ids].reverse();

    const seen: string[] = [];
    for await (const alert of client.alerts.list({ customer_id: customer.id, limit: 2 }))
      seen.push(alert.id);
    expect(seen).toEqual(newestFirst);
    // Three pages of two, two and one.
    expect(recorded.filter((r) => r.method === 'GET' && r.path === '/v1/alerts')).toHaveLength(3);

    const page = await client.alerts.list({
      external_customer_id: customer.external_customer_id,
      'created_at[gte]': times[1],
      'created_at[lt]': times[4],
    });
    expect(page.data.map((alert) => alert.id)).toEqual(newestFirst.slice(1, 4));
    expect(page.hasNextPage()).toBe(false);
    expectRecordedValid();
  });

  it('maps refusals to the SDK’s error classes: duplicates, bad thresholds, subscriptions', async () => {
    const customer = await client.customers.create({ name: 'Refused', email: 'r@example.com' });
    await client.alerts.createForCustomer(customer.id, {
      currency: 'credits',
      type: 'credit_balance_recovered',
    });
    const duplicate = await client.alerts
      .createForCustomer(customer.id, { currency: 'credits', type: 'credit_balance_recovered' })
      .catch((error: unknown) => error);
    expect(duplicate).toBeInstanceOf(BadRequestError);
    expect((duplicate as BadRequestError).error).toMatchObject({ code: 'alert_exists' });

    await expect(
      client.alerts.createForCustomer(customer.id, {
        currency: 'credits',
        type: 'credit_balance_dropped',
      }),
    ).rejects.toBeInstanceOf(BadRequestError);
    await expect(
      client.alerts.createForSubscription('sub_1', {
        type: 'cost_exceeded',
        thresholds: [{ value: 10 }],
      }),
    ).rejects.toBeInstanceOf(BadRequestError);
    await expect(client.alerts.list({ subscription_id: 'sub_1' })).rejects.toBeInstanceOf(
      BadRequestError,
    );
    await expect(client.alerts.retrieve('no-such-alert')).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      client.alerts.update('no-such-alert', { thresholds: [{ value: 1 }] }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.alerts.enable('no-such-alert')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.alerts.disable('no-such-alert')).rejects.toBeInstanceOf(NotFoundError);
    expectRecordedValid();
  });
});
