/**
 * `POST /v1/usage_prices`, `GET /v1/usage_prices`, `GET /v1/usage_prices/{id}` and
 * `POST /v1/usage_prices/{id}/archive` against the real service: the wire shape with
 * `unit_amount` as exact decimal text whether sent as a string or a JSON number, RFC 7807
 * refusals, one live price per event name, idempotent archiving, newest-first cursor pagination
 * and Idempotency-Key replays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';
import { ERROR_TYPE, sleep, sql } from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t.stop();
});

let eventCounter = 0;
function uniqueEvent(prefix = 'event'): string {
  eventCounter += 1;
  return `${prefix}_${eventCounter}`;
}

function priceBody(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'API calls',
    event_name: uniqueEvent(),
    item_id: 'item_api',
    unit_amount: '0.5',
    ...fields,
  };
}

async function createPrice(fields: Record<string, unknown> = {}): Promise<any> {
  const response = await t.request('POST', '/v1/usage_prices', priceBody(fields));
  expect(response.status, response.text).toBe(201);
  return response.body;
}

async function archive(id: string): Promise<any> {
  const response = await t.request('POST', `/v1/usage_prices/${id}/archive`);
  expect(response.status, response.text).toBe(200);
  return response.body;
}

async function priceRows(where: string, params: unknown[]): Promise<number> {
  const [row] = await sql<{ count: string }>(
    t,
    `select count(*)::text as count from usage_prices where ${where}`,
    params,
  );
  return Number(row?.count);
}

describe('POST /v1/usage_prices', () => {
  it('creates a price in wire shape with currency "credits" and quantity_property null by default', async () => {
    const before = Date.now();
    const eventName = uniqueEvent('api_call');
    const response = await t.request('POST', '/v1/usage_prices', {
      name: 'API calls',
      event_name: eventName,
      item_id: 'item_api',
      unit_amount: '0.002',
    });
    expect(response.status, response.text).toBe(201);
    const price = response.body;
    expect(Object.keys(price).sort()).toEqual([
      'archived_at',
      'created_at',
      'currency',
      'event_name',
      'id',
      'item_id',
      'name',
      'quantity_property',
      'unit_amount',
    ]);
    expect(price).toMatchObject({
      name: 'API calls',
      event_name: eventName,
      item_id: 'item_api',
      unit_amount: '0.002',
      quantity_property: null,
      currency: 'credits',
      archived_at: null,
    });
    expect(price.id).toMatch(/^[0-9A-Za-z]{16}$/);
    expect(price.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(price.created_at)).toBeGreaterThanOrEqual(before - 1000);
    const [stored] = await sql<{ unit_amount: string }>(
      t,
      'select unit_amount::text as unit_amount from usage_prices where id = ?',
      [price.id],
    );
    expect(stored?.unit_amount).toBe('0.002000000000');
  });

  it('keeps a JSON number exactly: {"unit_amount":0.002} stays "0.002" on the wire', async () => {
    const eventName = uniqueEvent('tokens');
    const raw = `{"name":"Tokens","event_name":"${eventName}","item_id":"item_tokens","unit_amount":0.002,"quantity_property":"tokens","currency":"USD"}`;
    const response = await t.request('POST', '/v1/usage_prices', raw);
    expect(response.status, response.text).toBe(201);
    expect(response.text).toContain('"unit_amount":"0.002"');
    expect(response.body).toMatchObject({
      unit_amount: '0.002',
      quantity_property: 'tokens',
      currency: 'USD',
    });
  });

  it.each([
    ['a 12-decimal number', '0.000000000001', '0.000000000001'],
    ['trailing zeros', '"1.2300"', '1.23'],
    ['zero', '0', '0'],
    ['26 integer digits', '"12345678901234567890123456.5"', '12345678901234567890123456.5'],
    [
      'a number with more digits than a double holds',
      '12345678901234567890.123456789012',
      '12345678901234567890.123456789012',
    ],
  ])('answers canonical decimal text for %s', async (_what, sent, expected) => {
    const raw = `{"name":"N","event_name":"${uniqueEvent()}","item_id":"item","unit_amount":${sent}}`;
    const response = await t.request('POST', '/v1/usage_prices', raw);
    expect(response.status, response.text).toBe(201);
    expect(response.body.unit_amount).toBe(expected);
  });

  it.each([
    ['a negative amount', { unit_amount: '-0.5' }, 'unit_amount'],
    ['a negative JSON number', '-1', 'unit_amount'],
    ['13 decimals', { unit_amount: '0.0000000000001' }, 'unit_amount'],
    ['13 decimals as a JSON number', '0.0000000000001', 'unit_amount'],
    ['27 integer digits', { unit_amount: '123456789012345678901234567' }, 'unit_amount'],
    ['a non-numeric string', { unit_amount: 'abc' }, 'unit_amount'],
    ['a boolean amount', { unit_amount: true }, 'unit_amount'],
    ['an unknown key', { quantity_propery: 'tokens' }, 'quantity_propery'],
    ['a missing event_name', { event_name: undefined }, 'event_name'],
    ['an empty item_id', { item_id: '' }, 'item_id'],
  ])('answers 400 request-validation for %s', async (_what, fields, field) => {
    const countBefore = await priceRows('true', []);
    const body =
      typeof fields === 'string'
        ? `{"name":"N","event_name":"${uniqueEvent()}","item_id":"item","unit_amount":${fields}}`
        : priceBody(fields);
    const response = await t.request('POST', '/v1/usage_prices', body);
    expect(response.status, response.text).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(response.body).toMatchObject({
      type: ERROR_TYPE.validation,
      status: 400,
      title: expect.any(String),
    });
    expect(response.body.validation_errors.join(' ')).toContain(field);
    expect(await priceRows('true', [])).toBe(countBefore);
  });

  it('refuses a second live price for the same event_name (400 duplicate_resource_creation naming the live one)', async () => {
    const first = await createPrice({ event_name: 'dup_event' });
    const response = await t.request(
      'POST',
      '/v1/usage_prices',
      priceBody({ event_name: 'dup_event', unit_amount: '2' }),
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(response.body).toMatchObject({ type: ERROR_TYPE.duplicate, status: 400 });
    expect(response.body.detail).toContain(first.id);
    expect(await priceRows('event_name = ?', ['dup_event'])).toBe(1);
  });

  it('lets exactly one of concurrent creates for one event_name win; the others get 400 duplicate', async () => {
    const eventName = uniqueEvent('race');
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        t.request('POST', '/v1/usage_prices', priceBody({ event_name: eventName })),
      ),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([201, 400, 400, 400, 400]);
    for (const answer of answers.filter((one) => one.status === 400))
      expect(answer.body.type).toBe(ERROR_TYPE.duplicate);
    expect(await priceRows('event_name = ?', [eventName])).toBe(1);
  });

  it('answers 401 without an API key', async () => {
    const response = await t.request('POST', '/v1/usage_prices', priceBody(), {
      authorization: '',
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const list = await t.request('GET', '/v1/usage_prices', undefined, { authorization: '' });
    expect(list.status).toBe(401);
  });
});

describe('POST /v1/usage_prices/{id}/archive', () => {
  it('archives at the service time, idempotently, and frees the event_name for a new price', async () => {
    const eventName = uniqueEvent('archived');
    const price = await createPrice({ event_name: eventName });
    const before = Date.now();
    const archived = await archive(price.id);
    expect(archived).toEqual({ ...price, archived_at: expect.any(String) });
    expect(Date.parse(archived.archived_at)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(archived.archived_at)).toBeLessThanOrEqual(Date.now() + 1000);
    await sleep(5);
    expect(await archive(price.id)).toEqual(archived);

    const next = await t.request(
      'POST',
      '/v1/usage_prices',
      priceBody({ event_name: eventName, unit_amount: 3 }),
    );
    expect(next.status, next.text).toBe(201);
    expect(next.body.id).not.toBe(price.id);
    expect(next.body.archived_at).toBeNull();
    expect((await t.request('GET', `/v1/usage_prices/${price.id}`)).body).toEqual(archived);
  });

  it('answers 404 resource-not-found for an unknown id', async () => {
    const response = await t.request('POST', '/v1/usage_prices/doesNotExist0000/archive');
    expect(response.status).toBe(404);
    expect(response.body.type).toBe(ERROR_TYPE.notFound);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
  });
});

describe('GET /v1/usage_prices/{id}', () => {
  it('answers the same body as at creation', async () => {
    const price = await createPrice({ quantity_property: 'bytes', unit_amount: '0.000001' });
    const response = await t.request('GET', `/v1/usage_prices/${price.id}`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual(price);
  });

  it('answers 404 resource-not-found for an unknown id', async () => {
    const response = await t.request('GET', '/v1/usage_prices/doesNotExist0000');
    expect(response.status).toBe(404);
    expect(response.body.type).toBe(ERROR_TYPE.notFound);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
  });
});

describe('GET /v1/usage_prices', () => {
  async function page(query: string): Promise<any> {
    const response = await t.request('GET', `/v1/usage_prices?${query}`);
    expect(response.status, response.text).toBe(200);
    return response.body;
  }

  it('pages newest first with limit=1, leaving archived prices out unless include_archived=true', async () => {
    const eventName = uniqueEvent('paged');
    const made = [];
    for (let index = 0; index < 3; index += 1) {
      const price = await createPrice({ event_name: eventName });
      made.push(index < 2 ? await archive(price.id) : price);
      await sleep(5);
    }
    const newestFirst = made.map((price) => price.id).reverse();

    const live = await page(`event_name=${eventName}`);
    expect(live.data).toEqual([made[2]]);
    expect(live.pagination_metadata).toEqual({ has_more: false, next_cursor: null });
    expect((await page(`event_name=${eventName}&include_archived=false`)).data).toEqual([made[2]]);

    const seen: string[] = [];
    let cursor: string | null = null;
    for (let index = 0; index < 3; index += 1) {
      const body: any = await page(
        `limit=1&include_archived=true&event_name=${eventName}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(body.data).toHaveLength(1);
      seen.push(body.data[0].id);
      expect(body.pagination_metadata.has_more).toBe(index < 2);
      cursor = body.pagination_metadata.next_cursor;
      expect(cursor === null).toBe(index === 2);
    }
    expect(seen).toEqual(newestFirst);
  });

  it('lists every live price with the default limit, newest first, and treats empty values as unset', async () => {
    const body = await page('limit=&cursor=&include_archived=&event_name=');
    expect(body.data.length).toBeGreaterThan(3);
    expect(body.data.length).toBeLessThanOrEqual(20);
    for (const price of body.data) expect(price.archived_at).toBeNull();
    const createdAts = body.data.map((price: { created_at: string }) =>
      Date.parse(price.created_at),
    );
    expect([...createdAts].sort((a, b) => b - a)).toEqual(createdAts);
  });

  it('refuses a limit above 100, a bad include_archived and a cursor it did not give out', async () => {
    for (const query of ['limit=101', 'include_archived=yes', 'cursor=bm90LWEtY3Vyc29y']) {
      const response = await t.request('GET', `/v1/usage_prices?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.type).toBe(ERROR_TYPE.validation);
    }
  });
});

describe('Idempotency-Key on POST /v1/usage_prices', () => {
  it('replays the first answer with idempotent-replayed: true and creates one row', async () => {
    const body = priceBody({ event_name: 'idem_event' });
    const headers = { 'idempotency-key': 'usage-price-key-1' };
    const first = await t.request('POST', '/v1/usage_prices', body, headers);
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const second = await t.request('POST', '/v1/usage_prices', body, headers);
    expect(second.status, second.text).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(await priceRows('event_name = ?', ['idem_event'])).toBe(1);
  });

  it('answers 409 resource-conflict for the same key with another body', async () => {
    const headers = { 'idempotency-key': 'usage-price-key-2' };
    const first = await t.request('POST', '/v1/usage_prices', priceBody(), headers);
    expect(first.status).toBe(201);
    const otherEvent = uniqueEvent('other');
    const other = await t.request(
      'POST',
      '/v1/usage_prices',
      priceBody({ event_name: otherEvent }),
      headers,
    );
    expect(other.status).toBe(409);
    expect(other.body.type).toBe(ERROR_TYPE.conflict);
    expect(await priceRows('event_name = ?', [otherEvent])).toBe(0);
  });

  it('never answers 400 to concurrent creates with the same key, and creates one row', async () => {
    for (let round = 0; round < 5; round += 1) {
      const eventName = uniqueEvent('idem_race');
      const headers = { 'idempotency-key': `usage-price-race-${round}` };
      const answers = await Promise.all(
        Array.from({ length: 4 }, () =>
          t.request('POST', '/v1/usage_prices', priceBody({ event_name: eventName }), headers),
        ),
      );
      const statuses = answers.map((answer) => answer.status);
      expect(
        statuses.filter((status) => status === 201).length,
        `round ${round}: ${statuses.join(',')}`,
      ).toBeGreaterThanOrEqual(1);
      for (const status of statuses)
        expect([201, 409], `round ${round}: ${statuses.join(',')}`).toContain(status);
      expect(
        new Set(answers.filter((answer) => answer.status === 201).map((answer) => answer.body.id))
          .size,
      ).toBe(1);
      expect(await priceRows('event_name = ?', [eventName])).toBe(1);
    }
  });

  it('refuses an empty Idempotency-Key', async () => {
    const response = await t.request('POST', '/v1/usage_prices', priceBody(), {
      'idempotency-key': '',
    });
    expect(response.status).toBe(400);
    expect(response.body.type).toBe(ERROR_TYPE.validation);
  });
});
