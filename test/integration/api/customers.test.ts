/**
 * `POST /v1/customers`, `GET /v1/customers`, `GET /v1/customers/{id}` and
 * `GET /v1/customers/external_customer_id/{id}` against the real service: Orb's Customer shape,
 * RFC 7807 errors, newest-first cursor pagination and Idempotency-Key replays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';
import { createCustomer, ERROR_TYPE, sleep, sql } from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t.stop();
});

async function customerRows(where: string, params: unknown[]): Promise<number> {
  const [row] = await sql<{ count: string }>(t, `select count(*)::text as count from customers where ${where}`, params);
  return Number(row?.count);
}

describe('POST /v1/customers', () => {
  it('creates a customer in Orb shape with UTC timezone and balance "0" by default', async () => {
    const before = Date.now();
    const response = await t.request('POST', '/v1/customers', {
      name: 'Acme',
      email: 'billing@acme.example',
      external_customer_id: 'acme-1',
      metadata: { plan: 'pro', dropped: null },
    });
    expect(response.status, response.text).toBe(201);
    const customer = response.body;
    expect(customer).toMatchObject({
      external_customer_id: 'acme-1',
      name: 'Acme',
      email: 'billing@acme.example',
      timezone: 'UTC',
      balance: '0',
      currency: null,
      payment_provider: null,
      payment_provider_id: null,
      auto_collection: false,
      email_delivery: true,
      additional_emails: [],
      metadata: { plan: 'pro' },
      hierarchy: { parent: null, children: [] },
    });
    expect(customer.id).toMatch(/^[0-9A-Za-z]{16}$/);
    expect(typeof customer.balance).toBe('string');
    const createdAt = Date.parse(customer.created_at);
    expect(customer.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(createdAt).toBeGreaterThanOrEqual(before - 1000);
    expect(createdAt).toBeLessThanOrEqual(Date.now() + 1000);
    expect(await customerRows('id = ?', [customer.id])).toBe(1);
  });

  it('keeps the timezone and currency it is given', async () => {
    const customer = await createCustomer(t, { timezone: 'America/Los_Angeles', currency: 'EUR' });
    expect(customer.timezone).toBe('America/Los_Angeles');
    expect(customer.currency).toBe('EUR');
  });

  it('refuses a second customer with the same external_customer_id (400 duplicate_resource_creation)', async () => {
    await createCustomer(t, { external_customer_id: 'dup-1' });
    const response = await t.request('POST', '/v1/customers', { name: 'Again', email: 'again@example.com', external_customer_id: 'dup-1' });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(response.body.type).toBe(ERROR_TYPE.duplicate);
    expect(response.body.status).toBe(400);
    expect(await customerRows('external_customer_id = ?', ['dup-1'])).toBe(1);
  });

  it.each([
    ['an invalid email', { name: 'X', email: 'not-an-email' }, 'email'],
    ['an unknown timezone', { name: 'X', email: 'x@example.com', timezone: 'Mars/Olympus_Mons' }, 'timezone'],
    ['an unknown key', { name: 'X', email: 'x@example.com', favourite_colour: 'blue' }, 'favourite_colour'],
    ['a missing name', { email: 'x@example.com' }, 'name'],
    ['a lowercase currency', { name: 'X', email: 'x@example.com', currency: 'usd' }, 'currency'],
  ])('answers 400 request-validation for %s', async (_what, body, field) => {
    const countBefore = await customerRows('true', []);
    const response = await t.request('POST', '/v1/customers', body);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(response.body).toMatchObject({ type: ERROR_TYPE.validation, status: 400, title: expect.any(String) });
    expect(Array.isArray(response.body.validation_errors)).toBe(true);
    expect(response.body.validation_errors.length).toBeGreaterThan(0);
    expect(response.body.validation_errors.join(' ')).toContain(field);
    expect(await customerRows('true', [])).toBe(countBefore);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await t.request('POST', '/v1/customers', '{"name": "X", ');
    expect(response.status).toBe(400);
    expect(response.body.type).toBe(ERROR_TYPE.validation);
  });
});

describe('GET /v1/customers/{id} and /v1/customers/external_customer_id/{id}', () => {
  it('finds a customer both ways, with the same body as at creation', async () => {
    const created = await createCustomer(t, { external_customer_id: 'lookup-1', timezone: 'Europe/Berlin' });
    const byId = await t.request('GET', `/v1/customers/${created.id}`);
    expect(byId.status).toBe(200);
    expect(byId.body).toEqual(created);
    const byExternal = await t.request('GET', '/v1/customers/external_customer_id/lookup-1');
    expect(byExternal.status).toBe(200);
    expect(byExternal.body).toEqual(created);
  });

  it('answers 404 resource-not-found for unknown ids', async () => {
    const byId = await t.request('GET', '/v1/customers/doesNotExist0000');
    expect(byId.status).toBe(404);
    expect(byId.body.type).toBe(ERROR_TYPE.notFound);
    expect(byId.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const byExternal = await t.request('GET', '/v1/customers/external_customer_id/nobody');
    expect(byExternal.status).toBe(404);
    expect(byExternal.body.type).toBe(ERROR_TYPE.notFound);
  });
});

describe('GET /v1/customers', () => {
  it('lists newest first and pages with limit=1 through has_more / next_cursor', async () => {
    const since = new Date().toISOString();
    await sleep(5);
    const made = [];
    for (let index = 0; index < 3; index += 1) {
      made.push(await createCustomer(t));
      await sleep(5);
    }
    const newestFirst = made.map((customer) => customer.id).reverse();

    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 3; page += 1) {
      const query: string = `limit=1&created_at[gte]=${encodeURIComponent(since)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const response = await t.request('GET', `/v1/customers?${query}`);
      expect(response.status, response.text).toBe(200);
      expect(response.body.data).toHaveLength(1);
      seen.push(response.body.data[0].id);
      const { has_more: hasMore, next_cursor: nextCursor } = response.body.pagination_metadata;
      if (page < 2) {
        expect(hasMore).toBe(true);
        expect(typeof nextCursor).toBe('string');
      } else {
        expect(hasMore).toBe(false);
        expect(nextCursor).toBeNull();
      }
      cursor = nextCursor;
    }
    expect(seen).toEqual(newestFirst);

    const all = await t.request('GET', `/v1/customers?limit=3&created_at[gte]=${encodeURIComponent(since)}`);
    expect(all.body.data.map((customer: { id: string }) => customer.id)).toEqual(newestFirst);
    expect(all.body.pagination_metadata).toEqual({ has_more: false, next_cursor: null });
  });

  it('lists every customer with the default limit, newest first', async () => {
    const response = await t.request('GET', '/v1/customers?limit=&cursor=');
    expect(response.status).toBe(200);
    const createdAts = response.body.data.map((customer: { created_at: string }) => Date.parse(customer.created_at));
    expect(createdAts.length).toBeGreaterThan(3);
    expect([...createdAts].sort((a, b) => b - a)).toEqual(createdAts);
  });

  it('refuses a limit above 100 and a cursor it did not give out', async () => {
    const tooMany = await t.request('GET', '/v1/customers?limit=101');
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.type).toBe(ERROR_TYPE.validation);
    const badCursor = await t.request('GET', '/v1/customers?cursor=bm90LWEtY3Vyc29y');
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.type).toBe(ERROR_TYPE.validation);
  });
});

describe('Idempotency-Key on POST /v1/customers', () => {
  it('replays the first answer with idempotent-replayed: true and creates one row', async () => {
    const body = { name: 'Replayed', email: 'replayed@example.com', external_customer_id: 'idem-customer-1' };
    const headers = { 'idempotency-key': 'customer-key-1' };
    const first = await t.request('POST', '/v1/customers', body, headers);
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const second = await t.request('POST', '/v1/customers', body, headers);
    expect(second.status, second.text).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(await customerRows('external_customer_id = ?', ['idem-customer-1'])).toBe(1);
  });

  it('replays without an external id too (the key, not the external id, dedupes)', async () => {
    const body = { name: 'No external id', email: 'noext@example.com' };
    const headers = { 'idempotency-key': 'customer-key-2' };
    const first = await t.request('POST', '/v1/customers', body, headers);
    const second = await t.request('POST', '/v1/customers', body, headers);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    expect(await customerRows('email = ?', ['noext@example.com'])).toBe(1);
  });

  it('answers 409 resource-conflict for the same key with another body', async () => {
    const headers = { 'idempotency-key': 'customer-key-3' };
    const first = await t.request('POST', '/v1/customers', { name: 'First', email: 'first3@example.com' }, headers);
    expect(first.status).toBe(201);
    const other = await t.request('POST', '/v1/customers', { name: 'Second', email: 'second3@example.com' }, headers);
    expect(other.status).toBe(409);
    expect(other.body.type).toBe(ERROR_TYPE.conflict);
    expect(await customerRows('email = ?', ['second3@example.com'])).toBe(0);
  });

  it('never answers 400 to concurrent creates with the same key, and creates one row', async () => {
    // ARCHITECTURE.md: same key while the first is in flight → 409 (retryable), or the replay.
    for (let round = 0; round < 5; round += 1) {
      const email = `race${round}@example.com`;
      const headers = { 'idempotency-key': `customer-race-${round}` };
      const answers = await Promise.all(
        Array.from({ length: 4 }, () => t.request('POST', '/v1/customers', { name: 'Racer', email }, headers)),
      );
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 201).length, `round ${round}: ${statuses.join(',')}`).toBeGreaterThanOrEqual(1);
      for (const status of statuses) expect([201, 409], `round ${round}: ${statuses.join(',')}`).toContain(status);
      expect(new Set(answers.filter((answer) => answer.status === 201).map((answer) => answer.body.id)).size).toBe(1);
      expect(await customerRows('email = ?', [email])).toBe(1);
    }
  });
});
