/**
 * `POST /v1/customers`, `GET /v1/customers`, `GET /v1/customers/{id}` and
 * `GET /v1/customers/external_customer_id/{id}` against the real service: Orb's Customer shape,
 * RFC 7807 errors, newest-first cursor pagination and Idempotency-Key replays; every field of
 * Orb's NewCustomer (addresses, tax, reporting, accounting, payment configuration, hierarchy)
 * stored and answered in Orb's Customer shape, through the official SDK too.
 */
import Orb from 'orb-billing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValid } from '../../support/openApiValidator.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../../support/testService.ts';
import { createCustomer, ERROR_TYPE, sleep, sql } from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t.stop();
});

async function customerRows(where: string, params: unknown[]): Promise<number> {
  const [row] = await sql<{ count: string }>(
    t,
    `select count(*)::text as count from customers where ${where}`,
    params,
  );
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
    const response = await t.request('POST', '/v1/customers', {
      name: 'Again',
      email: 'again@example.com',
      external_customer_id: 'dup-1',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(response.body.type).toBe(ERROR_TYPE.duplicate);
    expect(response.body.status).toBe(400);
    expect(await customerRows('external_customer_id = ?', ['dup-1'])).toBe(1);
  });

  it('creates one customer when creates race for the same external_customer_id', async () => {
    // Both pass the api's read of the external id; customer_external_ids' key decides (customers
    // itself has no unique key on it: SCALING.md, distribution by customer).
    for (let round = 0; round < 3; round += 1) {
      const externalId = `race-ext-${round}`;
      const answers = await Promise.all(
        [0, 1, 2].map((index) =>
          t.request('POST', '/v1/customers', {
            name: `Racer ${index}`,
            email: `ext-racer${index}@example.com`,
            external_customer_id: externalId,
          }),
        ),
      );
      const statuses = answers.map((answer) => answer.status).sort();
      expect(statuses, answers.map((answer) => answer.text).join('\n')).toEqual([201, 400, 400]);
      for (const answer of answers.filter((each) => each.status === 400))
        expect(answer.body.type).toBe(ERROR_TYPE.duplicate);
      expect(await customerRows('external_customer_id = ?', [externalId])).toBe(1);
      const [mapped] = await sql<{ customer_id: string }>(
        t,
        'select customer_id from customer_external_ids where external_customer_id = ?',
        [externalId],
      );
      expect(mapped?.customer_id).toBe(answers.find((answer) => answer.status === 201)!.body.id);
    }
  });

  it.each([
    ['an invalid email', { name: 'X', email: 'not-an-email' }, 'email'],
    [
      'an unknown timezone',
      { name: 'X', email: 'x@example.com', timezone: 'Mars/Olympus_Mons' },
      'timezone',
    ],
    [
      'an unknown key',
      { name: 'X', email: 'x@example.com', favourite_colour: 'blue' },
      'favourite_colour',
    ],
    ['a missing name', { email: 'x@example.com' }, 'name'],
    ['a lowercase currency', { name: 'X', email: 'x@example.com', currency: 'usd' }, 'currency'],
  ])('answers 400 request-validation for %s', async (_what, body, field) => {
    const countBefore = await customerRows('true', []);
    const response = await t.request('POST', '/v1/customers', body);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(response.body).toMatchObject({
      type: ERROR_TYPE.validation,
      status: 400,
      title: expect.any(String),
    });
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
    const created = await createCustomer(t, {
      external_customer_id: 'lookup-1',
      timezone: 'Europe/Berlin',
    });
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

    const all = await t.request(
      'GET',
      `/v1/customers?limit=3&created_at[gte]=${encodeURIComponent(since)}`,
    );
    expect(all.body.data.map((customer: { id: string }) => customer.id)).toEqual(newestFirst);
    expect(all.body.pagination_metadata).toEqual({ has_more: false, next_cursor: null });
  });

  it('lists every customer with the default limit, newest first', async () => {
    const response = await t.request('GET', '/v1/customers?limit=&cursor=');
    expect(response.status).toBe(200);
    const createdAts = response.body.data.map((customer: { created_at: string }) =>
      Date.parse(customer.created_at),
    );
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
    const body = {
      name: 'Replayed',
      email: 'replayed@example.com',
      external_customer_id: 'idem-customer-1',
    };
    const headers = { 'idempotency-key': 'customer-key-1' };
    const first = await t.request('POST', '/v1/customers', body, headers);
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const second = await t.request('POST', '/v1/customers', body, headers);
    expect(second.status, second.text).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(await customerRows('external_customer_id = ?', ['idem-customer-1'])).toBe(1);
    // One request of the one model, applied at once (no partition), its key naming it.
    const requests = await sql<{ kind: string; status: string; partition: number | null }>(
      t,
      `select r.kind, r.status, r.partition from requests r
         join idempotency_keys k on k.request_id = r.id
        where k.key = 'customer-key-1' and r.result ->> 'customer_id' = ?`,
      [first.body.id],
    );
    expect(requests).toEqual([{ kind: 'customer_create', status: 'committed', partition: null }]);
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
    const first = await t.request(
      'POST',
      '/v1/customers',
      { name: 'First', email: 'first3@example.com' },
      headers,
    );
    expect(first.status).toBe(201);
    const other = await t.request(
      'POST',
      '/v1/customers',
      { name: 'Second', email: 'second3@example.com' },
      headers,
    );
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
        Array.from({ length: 4 }, () =>
          t.request('POST', '/v1/customers', { name: 'Racer', email }, headers),
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
      expect(await customerRows('email = ?', [email])).toBe(1);
    }
  });
});

/** Every field of Orb's NewCustomer that this service once refused, with values Orb accepts. */
const ORB_DETAILS: Omit<Orb.CustomerCreateParams, 'name' | 'email'> & Record<string, any> = {
  billing_address: {
    line1: '1 Main St',
    line2: null,
    city: 'Springfield',
    state: 'IL',
    postal_code: '62701',
    country: 'US',
  },
  shipping_address: { line1: '2 Dock Rd', city: 'Hamburg', country: 'DE' },
  tax_id: { country: 'DE', type: 'eu_vat', value: 'DE123456789' },
  tax_configuration: {
    tax_provider: 'avalara',
    tax_exempt: true,
    tax_exemption_code: 'E',
    automatic_tax_enabled: true,
  },
  reporting_configuration: { exempt: false },
  accounting_sync_configuration: {
    excluded: false,
    accounting_providers: [{ provider_type: 'quickbooks', external_provider_id: 'qb-1' }],
  },
  payment_configuration: {
    payment_providers: [{ provider_type: 'stripe', excluded_payment_method_types: ['link'] }],
  },
  auto_issuance: true,
};

describe("Orb's customer details: addresses, tax, reporting, accounting and payment configuration", () => {
  it('the SDK creates a customer with all of them, and reads them back in Orb shape', async () => {
    const client = new Orb({
      apiKey: TEST_API_KEY,
      baseURL: `${t.baseUrl}/v1`,
      maxRetries: 0,
      timeout: 20_000,
    });
    const created = await client.customers.create({
      name: 'Detailed',
      email: 'detailed@example.com',
      ...ORB_DETAILS,
    });
    expectValid('Customer', created);
    expect(created).toMatchObject({
      billing_address: ORB_DETAILS.billing_address,
      // The lines not given are answered as null, as Orb's Address has them all.
      shipping_address: {
        line1: '2 Dock Rd',
        line2: null,
        city: 'Hamburg',
        state: null,
        postal_code: null,
        country: 'DE',
      },
      tax_id: ORB_DETAILS.tax_id,
      exempt_from_automated_tax: true,
      automatic_tax_enabled: true,
      reporting_configuration: { exempt: false },
      accounting_sync_configuration: ORB_DETAILS.accounting_sync_configuration,
      payment_configuration: {
        payment_providers: [
          {
            provider_type: 'stripe',
            excluded_payment_method_types: ['link'],
            default_shared_payment_token: null,
          },
        ],
      },
      auto_issuance: true,
      hierarchy: { parent: null, children: [] },
    });
    // Orb does not echo the tax configuration itself.
    expect(created).not.toHaveProperty('tax_configuration');
    const fetched = await client.customers.fetch(created.id);
    expect(fetched).toEqual(created);
    const listed = await t.request(
      'GET',
      `/v1/customers?created_at[gte]=${encodeURIComponent(created.created_at)}`,
    );
    expect(listed.body.data.find((customer: { id: string }) => customer.id === created.id)).toEqual(
      created,
    );
  });

  it('fills Orb defaults: accounting sync not excluded with no providers, no excluded payment methods, tax enablement false', async () => {
    const customer = await createCustomer(t, {
      accounting_sync_configuration: {},
      payment_configuration: { payment_providers: [{ provider_type: 'stripe' }] },
      tax_configuration: { tax_provider: 'stripe', tax_exempt: false },
      billing_address: null,
      auto_issuance: null,
    });
    expectValid('Customer', customer);
    expect(customer).toMatchObject({
      accounting_sync_configuration: { excluded: false, accounting_providers: [] },
      payment_configuration: {
        payment_providers: [
          {
            provider_type: 'stripe',
            excluded_payment_method_types: [],
            default_shared_payment_token: null,
          },
        ],
      },
      exempt_from_automated_tax: false,
      automatic_tax_enabled: false,
      billing_address: null,
      auto_issuance: null,
    });
  });

  it.each([
    [
      'a tax id country Orb does not list',
      { tax_id: { ...ORB_DETAILS.tax_id, country: 'XX' } },
      'tax_id',
    ],
    ['a tax id without its value', { tax_id: { country: 'DE', type: 'eu_vat' } }, 'tax_id'],
    [
      'an unknown tax provider',
      { tax_configuration: { tax_provider: 'vertex', tax_exempt: false } },
      'tax_configuration',
    ],
    [
      'a tax configuration without tax_exempt',
      { tax_configuration: { tax_provider: 'taxjar' } },
      'tax_configuration',
    ],
    [
      'a tax configuration with a key its provider lacks',
      { tax_configuration: { tax_provider: 'taxjar', tax_exempt: false, tax_exemption_code: 'E' } },
      'tax_configuration',
    ],
    [
      'a reporting configuration without exempt',
      { reporting_configuration: {} },
      'reporting_configuration',
    ],
    [
      'an unknown accounting provider',
      {
        accounting_sync_configuration: {
          accounting_providers: [{ provider_type: 'xero', external_provider_id: 'x' }],
        },
      },
      'accounting_sync_configuration',
    ],
    [
      'an unknown payment provider',
      { payment_configuration: { payment_providers: [{ provider_type: 'adyen' }] } },
      'payment_configuration',
    ],
    ['an address line that is not a string', { billing_address: { line1: 5 } }, 'billing_address'],
    ['a repeated child id', { hierarchy: { child_customer_ids: ['a', 'a'] } }, 'hierarchy'],
    // Exact-JSON bodies carry numbers as objects: a number must not pass for an empty setting.
    ['a number for the hierarchy', { hierarchy: 1 }, 'hierarchy'],
    [
      'a number for a configuration whose keys are all optional',
      { accounting_sync_configuration: 5 },
      'accounting_sync_configuration',
    ],
    ['an unknown key in an address', { shipping_address: { street: 'Main' } }, 'shipping_address'],
    [
      '50 additional emails (51 with the primary)',
      { additional_emails: Array.from({ length: 50 }, (_, i) => `cc${i}@example.com`) },
      'additional_emails',
    ],
  ])('answers 400 request-validation for %s, writing nothing', async (_what, fields, field) => {
    const countBefore = await customerRows('true', []);
    const response = await t.request('POST', '/v1/customers', {
      name: 'X',
      email: 'x@example.com',
      ...fields,
    });
    expect(response.status, response.text).toBe(400);
    expectValid('400Error', response.body);
    expect(response.body.validation_errors.join(' ')).toContain(field);
    expect(await customerRows('true', [])).toBe(countBefore);
  });
});

describe('customer hierarchy (Orb: two levels; parent_customer_id and child_customer_ids by Orb id)', () => {
  const minified = (customer: { id: string; external_customer_id: string | null }) => ({
    id: customer.id,
    external_customer_id: customer.external_customer_id,
  });
  const fetch = async (id: string) => (await t.request('GET', `/v1/customers/${id}`)).body;

  it('a child names its parent, a parent adopts children, and both sides answer the link', async () => {
    const parent = await createCustomer(t, { external_customer_id: `parent-${Date.now()}` });
    const child = await createCustomer(t, { hierarchy: { parent_customer_id: parent.id } });
    expectValid('Customer', child);
    expect(child.hierarchy).toEqual({ parent: minified(parent), children: [] });

    const orphan1 = await createCustomer(t);
    const orphan2 = await createCustomer(t, { external_customer_id: `orphan-${Date.now()}` });
    const adopter = await createCustomer(t, {
      hierarchy: { child_customer_ids: [orphan1.id, orphan2.id], parent_customer_id: null },
    });
    expect(adopter.hierarchy).toEqual({
      parent: null,
      children: [minified(orphan1), minified(orphan2)],
    });

    expect((await fetch(parent.id)).hierarchy).toEqual({
      parent: null,
      children: [minified(child)],
    });
    expect((await fetch(orphan2.id)).hierarchy).toEqual({
      parent: minified(adopter),
      children: [],
    });
    expect(await fetch(adopter.id)).toEqual(adopter);
    const byExternal = await t.request(
      'GET',
      `/v1/customers/external_customer_id/${orphan2.external_customer_id}`,
    );
    expect(byExternal.body.hierarchy.parent).toEqual(minified(adopter));
    const listed = await t.request(
      'GET',
      `/v1/customers?created_at[gte]=${encodeURIComponent(parent.created_at)}&limit=100`,
    );
    const listedParent = listed.body.data.find(
      (customer: { id: string }) => customer.id === parent.id,
    );
    expect(listedParent.hierarchy.children).toEqual([minified(child)]);
  });

  it("answers 404 for an unknown parent or child and 400 for Orb's rules, writing nothing", async () => {
    const parent = await createCustomer(t);
    const child = await createCustomer(t, { hierarchy: { parent_customer_id: parent.id } });
    const free = await createCustomer(t);
    const cases: [Record<string, unknown>, number][] = [
      [{ parent_customer_id: 'noSuchCustomer00' }, 404],
      [{ child_customer_ids: [free.id, 'noSuchCustomer00'] }, 404],
      // The parent must not be a child of another customer.
      [{ parent_customer_id: child.id }, 400],
      // A child must not already be part of a hierarchy, as a child or as a parent.
      [{ child_customer_ids: [child.id] }, 400],
      [{ child_customer_ids: [parent.id] }, 400],
      // A parent with a parent would make three levels.
      [{ parent_customer_id: parent.id, child_customer_ids: [free.id] }, 400],
    ];
    for (const [hierarchy, status] of cases) {
      const countBefore = await customerRows('true', []);
      const response = await t.request('POST', '/v1/customers', {
        name: 'H',
        email: 'h@example.com',
        hierarchy,
      });
      expect(response.status, `${JSON.stringify(hierarchy)}: ${response.text}`).toBe(status);
      expectValid(`${status}Error`, response.body);
      expect(await customerRows('true', [])).toBe(countBefore);
    }
    expect((await fetch(free.id)).hierarchy).toEqual({ parent: null, children: [] });
  });

  it('two creates racing to adopt the same customer: one wins, the other is a 400', async () => {
    for (let round = 0; round < 3; round += 1) {
      const contested = await createCustomer(t);
      const answers = await Promise.all(
        [0, 1].map((index) =>
          t.request('POST', '/v1/customers', {
            name: `Racer ${index}`,
            email: `racer${index}@example.com`,
            hierarchy: { child_customer_ids: [contested.id] },
          }),
        ),
      );
      expect(
        answers.map((answer) => answer.status).sort(),
        answers.map((answer) => answer.text).join('\n'),
      ).toEqual([201, 400]);
      const winner = answers.find((answer) => answer.status === 201)!.body;
      expect((await fetch(contested.id)).hierarchy.parent).toEqual(minified(winner));
    }
  });
});
