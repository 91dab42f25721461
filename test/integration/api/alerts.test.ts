/**
 * Orb's customer credit-balance alerts through the HTTP api and the worker (api/routes/alerts.ts,
 * worker/processors/kinds/alertChange.ts): create by Orb id and by external id, one alert of a
 * type per customer and currency (a second is Orb's 400 duplicate), list with its filters and cursor
 * pages, thresholds changed with their state set from the balance now, enable and disable, delete,
 * the refusals of bad bodies as RFC 7807 problems, Idempotency-Key replays and `Prefer:
 * respond-async`. Every alert answered is checked against the wire schema (api/wire/alert.ts).
 * Manual clock, started now; the creation times of the list tests are moved with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertSchema, alertsSchema } from '../../../api/wire/alert.ts';
import { manualClockStart, serviceNow } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  ERROR_TYPE,
  eventually,
  sql,
  uniqueName,
} from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({
    LOG_LEVEL: 'error',
    CLOCK: 'manual',
    CLOCK_START: manualClockStart().toISOString(),
  });
});
afterAll(async () => {
  await t?.stop();
});

/** A wire alert, checked against the schema the routes answer with. */
function expectAlert(body: unknown): any {
  const parsed = alertSchema.safeParse(body);
  expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  return body;
}

async function create(
  path: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<any> {
  const response = await t.request('POST', `/v1/alerts/${path}`, body, headers);
  expect(response.status, response.text).toBe(201);
  return expectAlert(response.body);
}

async function customerWithCredits(amount: string | null): Promise<any> {
  const customer = await createCustomer(t, { external_customer_id: uniqueName('ext') });
  if (amount !== null)
    await addEntry(t, customer.id, { entry_type: 'increment', amount, currency: 'credits' });
  return customer;
}

async function advanceClock(milliseconds: number): Promise<string> {
  const to = new Date(serviceNow(t).getTime() + milliseconds).toISOString();
  const response = await t.request('POST', '/v1/test_clock/advance', { to });
  expect(response.status, response.text).toBe(200);
  return to;
}

function expectProblem(
  response: { status: number; headers: Headers; body: any; text: string },
  status: number,
  type: string,
  code?: string,
): void {
  expect(response.status, response.text).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(response.body.type).toBe(type);
  expect(response.body.status).toBe(status);
  if (code !== undefined) expect(response.body.code).toBe(code);
}

describe('creating alerts', () => {
  it('creates each type by Orb id and by external id, its state from the balance now', async () => {
    const customer = await customerWithCredits('100');
    const depleted = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_depleted',
    });
    expect(depleted).toMatchObject({
      currency: 'credits',
      customer: { id: customer.id, external_customer_id: customer.external_customer_id },
      enabled: true,
      metric: null,
      plan: null,
      subscription: null,
      thresholds: null,
      type: 'credit_balance_depleted',
      balance_alert_status: [{ in_alert: false, threshold_value: 0 }],
    });
    expect(depleted.created_at).toBe(serviceNow(t).toISOString());

    // Unsorted and repeated thresholds are kept once each, highest first; 100 is reached already.
    const dropped = await create(`external_customer_id/${customer.external_customer_id}`, {
      currency: 'credits',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 50 }, { value: 150 }, { value: '100' }, { value: 50.0 }],
    });
    expect(dropped.customer.id).toBe(customer.id);
    expect(dropped.thresholds).toEqual([{ value: 150 }, { value: 100 }, { value: 50 }]);
    expect(dropped.balance_alert_status).toEqual([
      { in_alert: true, threshold_value: 150 },
      { in_alert: true, threshold_value: 100 },
      { in_alert: false, threshold_value: 50 },
    ]);

    // Recovered reports the condition it fires on: the balance is above zero now.
    const recovered = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_recovered',
      thresholds: null,
    });
    expect(recovered.balance_alert_status).toEqual([{ in_alert: true, threshold_value: 0 }]);

    const stored = await sql<{ id: string; thresholds: unknown }>(
      t,
      'select id, thresholds from alerts where customer_id = ? and type = ?',
      [customer.id, 'credit_balance_dropped'],
    );
    expect(stored).toEqual([
      {
        id: dropped.id,
        thresholds: [
          { value: '150', at_or_below: true },
          { value: '100', at_or_below: true },
          { value: '50', at_or_below: false },
        ],
      },
    ]);
  });

  it('a ledger without credits is at zero: depleted in alert, recovered not', async () => {
    const customer = await customerWithCredits(null);
    const depleted = await create(`customer_id/${customer.id}`, {
      currency: 'USD',
      type: 'credit_balance_depleted',
      thresholds: [{ value: 0 }],
    });
    expect(depleted.balance_alert_status).toEqual([{ in_alert: true, threshold_value: 0 }]);
    const recovered = await create(`customer_id/${customer.id}`, {
      currency: 'USD',
      type: 'credit_balance_recovered',
    });
    expect(recovered.balance_alert_status).toEqual([{ in_alert: false, threshold_value: 0 }]);
  });

  it('leaves out credit not yet effective, and asks for a recheck when it becomes so', async () => {
    const customer = await customerWithCredits(null);
    const effective = new Date(serviceNow(t).getTime() + 2 * 86_400_000).toISOString();
    await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 40,
      currency: 'credits',
      effective_date: effective,
    });
    const depleted = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_depleted',
    });
    expect(depleted.balance_alert_status).toEqual([{ in_alert: true, threshold_value: 0 }]);
    const [row] = await sql<{ recheck_at: string | Date | null }>(
      t,
      'select recheck_at from alerts where id = ?',
      [depleted.id],
    );
    expect(new Date(row!.recheck_at!).toISOString()).toBe(effective);

    // Time alone makes the credit count: the recheck sweep catches the ledger up, the recovered
    // alert fires (naming the increment, the ledger's last entry), and no recheck is left.
    const recovered = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_recovered',
    });
    await advanceClock(2 * 86_400_000 + 60_000);
    const told = await eventually(async () => {
      const rows = await sql<{ body: string }>(
        t,
        `select body from webhook_events where customer_id = ? and type = 'customer.credit_balance_recovered'`,
        [customer.id],
      );
      return rows.length > 0 ? rows.map((each) => JSON.parse(each.body)) : undefined;
    });
    expect(told).toHaveLength(1);
    expect(told[0].properties.alert_configuration.id).toBe(recovered.id);
    expect(told[0].properties.ledger_sequence_number).toBe(0);
    const after = await t.request('GET', `/v1/alerts/${depleted.id}`);
    expect(after.body.balance_alert_status).toEqual([{ in_alert: false, threshold_value: 0 }]);
    const [rechecked] = await sql<{ recheck_at: string | Date | null }>(
      t,
      'select recheck_at from alerts where id = ?',
      [depleted.id],
    );
    expect(rechecked!.recheck_at).toBeNull();
  });

  it('the state it starts from is the one later writes move on from', async () => {
    const customer = await customerWithCredits('100');
    const alert = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 50 }],
    });
    expect(alert.balance_alert_status).toEqual([{ in_alert: false, threshold_value: 50 }]);
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 60, currency: 'credits' });
    const after = await t.request('GET', `/v1/alerts/${alert.id}`);
    expect(after.body.balance_alert_status).toEqual([{ in_alert: true, threshold_value: 50 }]);
  });

  it('keeps every digit of a threshold, and takes negative ones', async () => {
    const customer = await customerWithCredits('1');
    // Sent as text: a JavaScript number could not carry these digits to the service.
    const response = await t.request(
      'POST',
      `/v1/alerts/customer_id/${customer.id}`,
      '{"currency": "credits", "type": "credit_balance_dropped", "thresholds": [{"value": 12345678901234.123456789012}, {"value": "-2.5"}]}',
    );
    expect(response.status, response.text).toBe(201);
    expect(response.text).toContain(
      '"thresholds":[{"value":12345678901234.123456789012},{"value":-2.5}]',
    );
  });

  it('refuses a second alert of one type for one customer and currency with Orb’s duplicate 400', async () => {
    const customer = await customerWithCredits('10');
    const first = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 5 }],
    });
    const again = await t.request(
      'POST',
      `/v1/alerts/external_customer_id/${customer.external_customer_id}`,
      { currency: 'credits', type: 'credit_balance_dropped', thresholds: [{ value: 1 }] },
    );
    expectProblem(again, 400, ERROR_TYPE.duplicate, 'alert_exists');
    expect(again.body.detail).toContain('credit_balance_dropped');
    // Another currency, or another type, is another alert.
    await create(`customer_id/${customer.id}`, {
      currency: 'USD',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 5 }],
    });
    const [row] = await sql<{ count: number }>(
      t,
      'select count(*)::int as count from alerts where customer_id = ?',
      [customer.id],
    );
    expect(row?.count).toBe(2);
    expectAlert((await t.request('GET', `/v1/alerts/${first.id}`)).body);
  });

  it('of concurrent creates of one type, exactly one is made', async () => {
    const customer = await customerWithCredits('10');
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        t.request(
          'POST',
          i % 2 === 0
            ? `/v1/alerts/customer_id/${customer.id}`
            : `/v1/alerts/external_customer_id/${customer.external_customer_id}`,
          { currency: 'credits', type: 'credit_balance_dropped', thresholds: [{ value: i + 1 }] },
        ),
      ),
    );
    const made = answers.filter((answer) => answer.status === 201);
    expect(made).toHaveLength(1);
    for (const answer of answers.filter((a) => a.status !== 201))
      expectProblem(answer, 400, ERROR_TYPE.duplicate, 'alert_exists');
    const stored = await sql<{ id: string }>(t, 'select id from alerts where customer_id = ?', [
      customer.id,
    ]);
    expect(stored.map((row) => row.id)).toEqual([made[0]!.body.id]);
  });

  it('answers 404 for an unknown customer and 400 for subscription alerts', async () => {
    const unknown = await t.request('POST', '/v1/alerts/customer_id/no-such-customer', {
      currency: 'credits',
      type: 'credit_balance_depleted',
    });
    expectProblem(unknown, 404, ERROR_TYPE.notFound);
    const subscription = await t.request('POST', '/v1/alerts/subscription_id/sub_1', {
      type: 'usage_exceeded',
      thresholds: [{ value: 10 }],
    });
    expectProblem(subscription, 400, ERROR_TYPE.validation);
    expect(subscription.body.detail).toMatch(/Only customer credit-balance alerts/);
  });
});

describe('bad bodies', () => {
  let customerId: string;
  beforeAll(async () => {
    customerId = (await customerWithCredits('10')).id;
  });

  it.each([
    ['a dropped alert without thresholds', { type: 'credit_balance_dropped' }, /at least one/],
    [
      'a dropped alert with an empty list',
      { type: 'credit_balance_dropped', thresholds: [] },
      /at least one/,
    ],
    [
      'a depleted alert with a threshold other than 0',
      { type: 'credit_balance_depleted', thresholds: [{ value: 5 }] },
      /against 0 only/,
    ],
    [
      'a recovered alert with a threshold other than 0',
      { type: 'credit_balance_recovered', thresholds: [{ value: 0 }, { value: 1 }] },
      /against 0 only/,
    ],
    ['a subscription type', { type: 'usage_exceeded', thresholds: [{ value: 5 }] }, /type/],
    [
      'a threshold that is not a number',
      { type: 'credit_balance_dropped', thresholds: [{ value: 'ten' }] },
      /number/,
    ],
    [
      'a threshold with 13 decimal places',
      { type: 'credit_balance_dropped', thresholds: [{ value: 0.0000000000001 }] },
      /12 decimal places/,
    ],
    [
      'an unknown key',
      { type: 'credit_balance_depleted', metric_id: 'm' },
      /metric_id|Unrecognized/,
    ],
    [
      '101 thresholds',
      {
        type: 'credit_balance_dropped',
        thresholds: Array.from({ length: 101 }, (_, i) => ({ value: i })),
      },
      /100/,
    ],
  ])('refuses %s', async (_, fields, message) => {
    const response = await t.request('POST', `/v1/alerts/customer_id/${customerId}`, {
      currency: 'credits',
      ...fields,
    });
    expectProblem(response, 400, ERROR_TYPE.validation);
    expect(response.body.validation_errors.join(' ')).toMatch(message);
    const [row] = await sql<{ count: number }>(
      t,
      'select count(*)::int as count from alerts where customer_id = ?',
      [customerId],
    );
    expect(row?.count).toBe(0);
  });

  it('refuses a body that is not JSON, and a missing currency', async () => {
    const notJson = await t.request('POST', `/v1/alerts/customer_id/${customerId}`, '{"type":');
    expectProblem(notJson, 400, ERROR_TYPE.validation);
    const noCurrency = await t.request('POST', `/v1/alerts/customer_id/${customerId}`, {
      type: 'credit_balance_depleted',
    });
    expectProblem(noCurrency, 400, ERROR_TYPE.validation);
    expect(noCurrency.body.validation_errors.join(' ')).toMatch(/currency/);
  });
});

describe('changing alerts', () => {
  it('new thresholds take their state from the balance now, in alert when already reached', async () => {
    const customer = await customerWithCredits('100');
    const alert = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 10 }],
    });
    expect(alert.balance_alert_status).toEqual([{ in_alert: false, threshold_value: 10 }]);
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 30, currency: 'credits' });

    const response = await t.request('PUT', `/v1/alerts/${alert.id}`, {
      thresholds: [{ value: 5 }, { value: 200 }, { value: 70 }],
    });
    expect(response.status, response.text).toBe(200);
    const updated = expectAlert(response.body);
    expect(updated.id).toBe(alert.id);
    expect(updated.created_at).toBe(alert.created_at);
    expect(updated.thresholds).toEqual([{ value: 200 }, { value: 70 }, { value: 5 }]);
    // The balance is 70: at or below 200 and 70, above 5.
    expect(updated.balance_alert_status).toEqual([
      { in_alert: true, threshold_value: 200 },
      { in_alert: true, threshold_value: 70 },
      { in_alert: false, threshold_value: 5 },
    ]);
    expect((await t.request('GET', `/v1/alerts/${alert.id}`)).body).toEqual(updated);
  });

  it('refuses thresholds the alert’s type cannot take, as the worker’s refusal', async () => {
    const customer = await customerWithCredits('100');
    const dropped = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 10 }],
    });
    const depleted = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_depleted',
    });
    const empty = await t.request('PUT', `/v1/alerts/${dropped.id}`, { thresholds: [] });
    expectProblem(empty, 400, ERROR_TYPE.validation, 'alert_thresholds_invalid');
    const nonZero = await t.request('PUT', `/v1/alerts/${depleted.id}`, {
      thresholds: [{ value: 3 }],
    });
    expectProblem(nonZero, 400, ERROR_TYPE.validation, 'alert_thresholds_invalid');
    // Thresholds that are all 0 are the depleted alert's own: its state is set again.
    const zero = await t.request('PUT', `/v1/alerts/${depleted.id}`, { thresholds: [] });
    expect(zero.status, zero.text).toBe(200);
    expect(zero.body.balance_alert_status).toEqual([{ in_alert: false, threshold_value: 0 }]);
    // Cost-alert fields are refused unless null; a missing thresholds list too.
    const filters = await t.request('PUT', `/v1/alerts/${dropped.id}`, {
      thresholds: [{ value: 1 }],
      price_filters: [],
    });
    expectProblem(filters, 400, ERROR_TYPE.validation);
    const missing = await t.request('PUT', `/v1/alerts/${dropped.id}`, {});
    expectProblem(missing, 400, ERROR_TYPE.validation);
    const fine = await t.request('PUT', `/v1/alerts/${dropped.id}`, {
      thresholds: [{ value: 1 }],
      price_filters: null,
      threshold_overrides: null,
    });
    expect(fine.status, fine.text).toBe(200);
    expect(fine.body.thresholds).toEqual([{ value: 1 }]);
  });

  it('disables and enables an alert, keeping its thresholds and state', async () => {
    const customer = await customerWithCredits('5');
    const alert = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 10 }],
    });
    const disabled = await t.request('POST', `/v1/alerts/${alert.id}/disable`);
    expect(disabled.status, disabled.text).toBe(200);
    expect(expectAlert(disabled.body)).toEqual({ ...alert, enabled: false });
    expect((await t.request('GET', `/v1/alerts/${alert.id}`)).body.enabled).toBe(false);
    // Disabling twice is no error (Orb's enable and disable are idempotent).
    expect((await t.request('POST', `/v1/alerts/${alert.id}/disable`)).body.enabled).toBe(false);
    const enabled = await t.request('POST', `/v1/alerts/${alert.id}/enable?subscription_id=`);
    expect(enabled.status, enabled.text).toBe(200);
    expect(enabled.body).toEqual(alert);
    const plan = await t.request('POST', `/v1/alerts/${alert.id}/enable?subscription_id=sub_1`);
    expectProblem(plan, 400, ERROR_TYPE.validation);
  });

  it('deletes an alert: gone from fetch, list and changes, and its type free again', async () => {
    const customer = await customerWithCredits('5');
    const alert = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_depleted',
    });
    const deleted = await t.request('DELETE', `/v1/alerts/${alert.id}`);
    expect(deleted.status, deleted.text).toBe(204);
    expect(deleted.text).toBe('');
    expectProblem(await t.request('GET', `/v1/alerts/${alert.id}`), 404, ERROR_TYPE.notFound);
    expectProblem(await t.request('DELETE', `/v1/alerts/${alert.id}`), 404, ERROR_TYPE.notFound);
    expectProblem(
      await t.request('PUT', `/v1/alerts/${alert.id}`, { thresholds: [] }),
      404,
      ERROR_TYPE.notFound,
    );
    expectProblem(
      await t.request('POST', `/v1/alerts/${alert.id}/enable`),
      404,
      ERROR_TYPE.notFound,
    );
    const list = await t.request('GET', `/v1/alerts?customer_id=${customer.id}`);
    expect(list.body.data).toEqual([]);
    const again = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_depleted',
    });
    expect(again.id).not.toBe(alert.id);
  });
});

describe('listing alerts', () => {
  it('lists newest first, filtered by customer either way and by creation time, in cursor pages', async () => {
    const customer = await customerWithCredits('50');
    const other = await customerWithCredits('50');
    const made: any[] = [];
    const times: string[] = [];
    for (const [type, currency] of [
      ['credit_balance_depleted', 'credits'],
      ['credit_balance_recovered', 'credits'],
      ['credit_balance_depleted', 'USD'],
    ] as const) {
      times.push(await advanceClock(60_000));
      made.push(await create(`customer_id/${customer.id}`, { currency, type }));
    }
    await create(`customer_id/${other.id}`, {
      currency: 'credits',
      type: 'credit_balance_depleted',
    });
    expect(made.map((alert) => alert.created_at)).toEqual(times);

    const first = await t.request('GET', `/v1/alerts?customer_id=${customer.id}&limit=2`);
    expect(first.status, first.text).toBe(200);
    expect(alertsSchema.safeParse(first.body).success).toBe(true);
    expect(first.body.data.map((alert: any) => alert.id)).toEqual([made[2].id, made[1].id]);
    expect(first.body.pagination_metadata.has_more).toBe(true);
    const second = await t.request(
      'GET',
      `/v1/alerts?customer_id=${customer.id}&limit=2&cursor=${first.body.pagination_metadata.next_cursor}`,
    );
    expect(second.body.data.map((alert: any) => alert.id)).toEqual([made[0].id]);
    expect(second.body.pagination_metadata).toEqual({ has_more: false, next_cursor: null });

    const byExternal = await t.request(
      'GET',
      `/v1/alerts?external_customer_id=${customer.external_customer_id}&created_at[gte]=${times[1]}`,
    );
    expect(byExternal.body.data.map((alert: any) => alert.id)).toEqual([made[2].id, made[1].id]);
    const before = await t.request(
      'GET',
      `/v1/alerts?customer_id=${customer.id}&created_at[lt]=${times[1]}&created_at[gt]=`,
    );
    expect(before.body.data.map((alert: any) => alert.id)).toEqual([made[0].id]);
    const between = await t.request(
      'GET',
      `/v1/alerts?customer_id=${customer.id}&created_at[gt]=${times[0]}&created_at[lte]=${times[1]}`,
    );
    expect(between.body.data.map((alert: any) => alert.id)).toEqual([made[1].id]);

    // Without a customer, every customer's alerts.
    const all = await t.request('GET', `/v1/alerts?limit=100`);
    const ids = all.body.data.map((alert: any) => alert.id);
    expect(ids).toEqual(expect.arrayContaining(made.map((alert) => alert.id)));
    expect(all.body.data.some((alert: any) => alert.customer.id === other.id)).toBe(true);
  });

  it('refuses filters naming two customers, subscriptions, unknown customers and foreign cursors', async () => {
    const one = await customerWithCredits(null);
    const two = await customerWithCredits(null);
    expectProblem(
      await t.request(
        'GET',
        `/v1/alerts?customer_id=${one.id}&external_customer_id=${two.external_customer_id}`,
      ),
      400,
      ERROR_TYPE.validation,
    );
    const same = await t.request(
      'GET',
      `/v1/alerts?customer_id=${one.id}&external_customer_id=${one.external_customer_id}`,
    );
    expect(same.status, same.text).toBe(200);
    expectProblem(
      await t.request('GET', '/v1/alerts?subscription_id=sub_1'),
      400,
      ERROR_TYPE.validation,
    );
    expectProblem(
      await t.request('GET', '/v1/alerts?customer_id=nobody'),
      404,
      ERROR_TYPE.notFound,
    );
    expectProblem(await t.request('GET', '/v1/alerts?cursor=bm9wZQ'), 400, ERROR_TYPE.validation);
    expectProblem(await t.request('GET', '/v1/alerts?limit=0'), 400, ERROR_TYPE.validation);
  });
});

describe('replays and asynchronous answers', () => {
  it('a keyed create answers the same alert again, and refuses the key with another body', async () => {
    const customer = await customerWithCredits('20');
    const key = { 'idempotency-key': uniqueName('alert-key') };
    const body = {
      currency: 'credits',
      type: 'credit_balance_dropped',
      thresholds: [{ value: 5 }],
    };
    const first = await create(`customer_id/${customer.id}`, body, key);
    const replay = await t.request('POST', `/v1/alerts/customer_id/${customer.id}`, body, key);
    expect(replay.status, replay.text).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first);
    // The external-id form of the same request is the same request.
    const external = await t.request(
      'POST',
      `/v1/alerts/external_customer_id/${customer.external_customer_id}`,
      body,
      key,
    );
    expect(external.status, external.text).toBe(201);
    expect(external.body.id).toBe(first.id);
    const other = await t.request(
      'POST',
      `/v1/alerts/customer_id/${customer.id}`,
      { ...body, thresholds: [{ value: 6 }] },
      key,
    );
    expectProblem(other, 409, ERROR_TYPE.conflict);
    const [row] = await sql<{ count: number }>(
      t,
      'select count(*)::int as count from alerts where customer_id = ?',
      [customer.id],
    );
    expect(row?.count).toBe(1);

    // A refused create replays its refusal.
    const dupKey = { 'idempotency-key': uniqueName('alert-key') };
    const refused = await t.request('POST', `/v1/alerts/customer_id/${customer.id}`, body, dupKey);
    expectProblem(refused, 400, ERROR_TYPE.duplicate, 'alert_exists');
    const refusedAgain = await t.request(
      'POST',
      `/v1/alerts/customer_id/${customer.id}`,
      body,
      dupKey,
    );
    expectProblem(refusedAgain, 400, ERROR_TYPE.duplicate, 'alert_exists');
    expect(refusedAgain.headers.get('idempotent-replayed')).toBe('true');
  });

  it('a keyed delete replays its 204', async () => {
    const customer = await customerWithCredits('20');
    const alert = await create(`customer_id/${customer.id}`, {
      currency: 'credits',
      type: 'credit_balance_recovered',
    });
    const key = { 'idempotency-key': uniqueName('alert-delete') };
    expect((await t.request('DELETE', `/v1/alerts/${alert.id}`, undefined, key)).status).toBe(204);
    // The alert is gone, but the replay is answered from the request: a retried delete is a 204.
    const replay = await t.request('DELETE', `/v1/alerts/${alert.id}`, undefined, key);
    expect(replay.status, replay.text).toBe(204);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    // Without the key, or with a fresh one, the alert is not found.
    const fresh = { 'idempotency-key': uniqueName('alert-delete') };
    expectProblem(
      await t.request('DELETE', `/v1/alerts/${alert.id}`, undefined, fresh),
      404,
      ERROR_TYPE.notFound,
    );
  });

  it('Prefer: respond-async answers 202 with the request to poll', async () => {
    const customer = await customerWithCredits('20');
    const response = await t.request(
      'POST',
      `/v1/alerts/customer_id/${customer.id}`,
      { currency: 'credits', type: 'credit_balance_depleted' },
      { prefer: 'respond-async' },
    );
    expect(response.status, response.text).toBe(202);
    const location = response.headers.get('location');
    expect(location).toMatch(/^\/v1\/ledger_requests\//);
    const done = await eventually(async () => {
      const polled = await t.request('GET', location!);
      return polled.body.status === 'committed' ? polled.body : undefined;
    });
    expect(done.status).toBe('committed');
    const list = await t.request('GET', `/v1/alerts?customer_id=${customer.id}`);
    expect(list.body.data.map((alert: any) => alert.type)).toEqual(['credit_balance_depleted']);
  });
});

describe('the OpenAPI document', () => {
  it('lists the alert routes, their writes with Idempotency-Key, Prefer, 202, 409 and 429', async () => {
    const { paths } = (await t.request('GET', '/openapi.json')).body;
    const writes: [string, string][] = [
      ['/v1/alerts/customer_id/{customer_id}', 'post'],
      ['/v1/alerts/external_customer_id/{external_customer_id}', 'post'],
      ['/v1/alerts/{alert_configuration_id}', 'put'],
      ['/v1/alerts/{alert_configuration_id}', 'delete'],
      ['/v1/alerts/{alert_configuration_id}/enable', 'post'],
      ['/v1/alerts/{alert_configuration_id}/disable', 'post'],
    ];
    for (const [path, method] of writes) {
      const operation = paths[path]?.[method];
      expect(operation, `${method} ${path}`).toBeDefined();
      const names = operation.parameters.map((parameter: { name: string }) => parameter.name);
      expect(names, `${method} ${path}`).toEqual(
        expect.arrayContaining(['Idempotency-Key', 'Prefer']),
      );
      expect(Object.keys(operation.responses), `${method} ${path}`).toEqual(
        expect.arrayContaining(['202', '400', '404', '409', '429']),
      );
    }
    expect(paths['/v1/alerts'].get.responses['200']).toBeDefined();
    expect(paths['/v1/alerts/{alert_configuration_id}'].get.responses['200']).toBeDefined();
  });
});
