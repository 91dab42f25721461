/**
 * End to end through Orb's official SDK (`orb-billing`), pointed at the service with nothing but
 * `baseURL`: customers, increments, a decrement spanning two blocks, the ledger read page by page,
 * credit balances, Idempotency-Key replays, and the error classes the SDK maps our RFC 7807
 * bodies to. Every response body, successful or not, is checked against Orb's OpenAPI subset:
 * the SDK's fetch is wrapped to record the raw text, parsed with plain JSON.parse.
 */
import Orb, {
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
} from 'orb-billing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectValid } from '../support/openApiValidator.ts';
import { dateIn, manualClockStart } from '../support/testDates.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../support/testService.ts';

type EntryParams = Parameters<Orb['customers']['credits']['ledger']['createEntry']>[1];

interface Recorded {
  method: string;
  url: URL;
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

/** Every response the SDK received, in order, with its body as sent. */
const recorded: Recorded[] = [];

const recordingFetch = async (
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> => {
  const response = await fetch(input, init);
  const text = await response.clone().text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const url = new URL(input instanceof Request ? input.url : String(input));
  const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
  recorded.push({
    method: method.toUpperCase(),
    url,
    status: response.status,
    headers: response.headers,
    text,
    body,
  });
  return response;
};

function last(): Recorded {
  const response = recorded.at(-1);
  if (!response) throw new Error('the SDK has made no request yet');
  return response;
}

/** Checks the SDK's last raw response: its status and its body against `schemaName`. */
function expectLastResponse(status: number, schemaName: string): Recorded {
  const response = last();
  expect(response.status, `${response.method} ${response.url.pathname}: ${response.text}`).toBe(
    status,
  );
  expectValid(schemaName, response.body);
  return response;
}

/** Runs `call`, expects it to reject with `errorClass`, and validates the raw error body. */
async function expectRejection<E extends Error>(
  call: () => Promise<unknown>,
  errorClass: abstract new (...args: never[]) => E,
  status: number,
  schemaName: string,
): Promise<E> {
  const before = recorded.length;
  const error = await call().then(
    (value) => {
      throw new Error(
        `expected ${errorClass.name} (${status}) but the call succeeded: ${JSON.stringify(value)}`,
      );
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(errorClass);
  expect((error as { status?: number }).status).toBe(status);
  // maxRetries: 0, so exactly one request was made.
  expect(recorded.length).toBe(before + 1);
  expectLastResponse(status, schemaName);
  expect(last().headers.get('content-type')).toMatch(/application\/problem\+json/);
  return error as E;
}

let t: TestService;
let client: Orb;

/**
 * A manual clock started now (or at TEST_CLOCK_START). The two expiries are the next 1 January
 * (PST: midnight in Los Angeles is 08:00 UTC) and the 1 June after it (PDT: 07:00 UTC), so the
 * winter block always expires sooner.
 */
const START = manualClockStart();
const WINTER = `${Number(dateIn('America/Los_Angeles', START).slice(0, 4)) + 1}-01-01`;
const SUMMER = `${WINTER.slice(0, 4)}-06-01`;

beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START.toISOString() });
  client = new Orb({
    apiKey: TEST_API_KEY,
    baseURL: `${t.baseUrl}/v1`,
    maxRetries: 0,
    timeout: 20_000,
    fetch: recordingFetch,
  });
});
afterAll(async () => {
  await t?.stop();
});
beforeEach(() => {
  recorded.length = 0;
});

let customerCount = 0;
async function newCustomer(externalId?: string, currency?: string) {
  customerCount += 1;
  const customer = await client.customers.create({
    name: `E2E customer ${customerCount}`,
    email: `e2e-${customerCount}@example.com`,
    timezone: 'America/Los_Angeles',
    ...(externalId ? { external_customer_id: externalId } : {}),
    ...(currency ? { currency } : {}),
  });
  expectLastResponse(201, 'Customer');
  return customer;
}

/** The whole ledger, through the SDK's auto-pagination, with every page validated. */
async function readLedger(customerId: string, limit: number) {
  const start = recorded.length;
  const entries = [];
  for await (const entry of client.customers.credits.ledger.list(customerId, { limit }))
    entries.push(entry);
  const pages = recorded.slice(start);
  expect(
    pages.every((page) => page.url.pathname === `/v1/customers/${customerId}/credits/ledger`),
  ).toBe(true);
  for (const page of pages) {
    expect(page.status).toBe(200);
    expectValid('CreditLedgerEntries', page.body);
  }
  return { entries, pages };
}

describe('the Orb SDK against the service', () => {
  it('pings', async () => {
    const pong = await client.topLevel.ping();
    expect(pong).toEqual({ response: 'pong' });
    const response = expectLastResponse(200, 'PingResponse');
    expect(response.url.href).toBe(`${t.baseUrl}/v1/ping`);
  });

  describe('a customer with two blocks and a decrement spanning both', () => {
    const externalId = `ext-scenario-${Date.now()}`;
    let customerId = '';

    it('creates the customer and fetches it by id and external id', async () => {
      // A currency, so that credits with a cost basis can be invoiced (LEDGER_RULES.md §4).
      const customer = await newCustomer(externalId, 'USD');
      customerId = customer.id;
      expect(customer.external_customer_id).toBe(externalId);
      expect(customer.timezone).toBe('America/Los_Angeles');
      expect(customer.balance).toBe('0');

      const byId = await client.customers.fetch(customerId);
      expectLastResponse(200, 'Customer');
      expect(byId).toEqual(customer);

      const byExternalId = await client.customers.fetchByExternalID(externalId);
      expectLastResponse(200, 'Customer');
      expect(byExternalId).toEqual(customer);

      const listed = [];
      for await (const item of client.customers.list({ limit: 100 })) listed.push(item);
      const customerPages = recorded.filter(
        (response) => response.method === 'GET' && response.url.pathname === '/v1/customers',
      );
      expect(customerPages.length).toBeGreaterThan(0);
      for (const page of customerPages) {
        expect(page.status).toBe(200);
        expectValid('Customers', page.body);
      }
      expect(listed.map((item) => item.id)).toContain(customerId);
    });

    it('refuses a second customer with the same external id', async () => {
      await expectRejection(
        () =>
          client.customers.create({
            name: 'Twin',
            email: 'twin@example.com',
            external_customer_id: externalId,
          }),
        BadRequestError,
        400,
        '400Error',
      );
    });

    it('increments twice, by id and by external id', async () => {
      const first = await client.customers.credits.ledger.createEntry(customerId, {
        entry_type: 'increment',
        amount: 100,
        expiry_date: SUMMER,
        per_unit_cost_basis: '0.20',
        invoice_settings: { auto_collection: false, net_terms: 30 },
      });
      expectLastResponse(201, 'CreditLedgerEntry');
      expect(first).toMatchObject({
        entry_type: 'increment',
        entry_status: 'committed',
        ledger_sequence_number: 0,
        amount: 100,
        starting_balance: 0,
        ending_balance: 100,
        currency: 'credits',
        customer: { id: customerId, external_customer_id: externalId },
        // Date-only expiry: midnight in Los Angeles (PDT in June).
        credit_block: { expiry_date: `${SUMMER}T07:00:00.000Z`, per_unit_cost_basis: '0.20' },
      });

      const second = await client.customers.credits.ledger.createEntryByExternalID(externalId, {
        entry_type: 'increment',
        amount: 50,
        expiry_date: WINTER,
      });
      expectLastResponse(201, 'CreditLedgerEntry');
      expect(second).toMatchObject({
        entry_type: 'increment',
        ledger_sequence_number: 1,
        amount: 50,
        starting_balance: 100,
        ending_balance: 150,
        customer: { id: customerId, external_customer_id: externalId },
        // PST in January.
        credit_block: { expiry_date: `${WINTER}T08:00:00.000Z`, per_unit_cost_basis: null },
      });
      expect(second.credit_block.id).not.toBe(first.credit_block.id);
    });

    it('decrements 70: 50 from the sooner-expiring block, then 20 from the other', async () => {
      const entry = await client.customers.credits.ledger.createEntry(customerId, {
        entry_type: 'decrement',
        amount: 70,
        description: 'usage',
      });
      expectLastResponse(201, 'CreditLedgerEntry');
      // The response is the last entry written.
      expect(entry).toMatchObject({
        entry_type: 'decrement',
        ledger_sequence_number: 3,
        amount: -20,
        starting_balance: 100,
        ending_balance: 80,
        description: 'usage',
        credit_block: { expiry_date: `${SUMMER}T07:00:00.000Z`, per_unit_cost_basis: '0.20' },
      });
    });

    it('reads the ledger one entry per page, newest first', async () => {
      const { entries, pages } = await readLedger(customerId, 1);
      // Four pages of one entry; the last says there is no more.
      expect(pages).toHaveLength(4);
      for (const page of pages) expect(page.url.searchParams.get('limit')).toBe('1');
      expect(pages.at(-1)?.body).toMatchObject({
        pagination_metadata: { has_more: false, next_cursor: null },
      });
      expect(entries.map((entry) => entry.ledger_sequence_number)).toEqual([3, 2, 1, 0]);
      expect(
        entries.map((entry) => [
          entry.entry_type,
          entry.amount,
          entry.starting_balance,
          entry.ending_balance,
        ]),
      ).toEqual([
        ['decrement', -20, 100, 80],
        ['decrement', -50, 150, 100],
        ['increment', 50, 100, 150],
        ['increment', 100, 0, 100],
      ]);
      expect(entries[1]?.credit_block.expiry_date).toBe(`${WINTER}T08:00:00.000Z`);
      expect(entries[0]?.credit_block.expiry_date).toBe(`${SUMMER}T07:00:00.000Z`);

      // The same ledger by external id, in one page.
      recorded.length = 0;
      const page = await client.customers.credits.ledger.listByExternalID(externalId, {
        limit: 10,
      });
      expectLastResponse(200, 'CreditLedgerEntries');
      expect(page.data.map((entry) => entry.id)).toEqual(entries.map((entry) => entry.id));
      expect(page.hasNextPage()).toBe(false);

      // Orb's filters, as the SDK sends them.
      const filtered = await client.customers.credits.ledger.list(customerId, {
        entry_type: 'decrement',
        minimum_amount: '30',
      });
      expectLastResponse(200, 'CreditLedgerEntries');
      expect(last().url.searchParams.get('entry_type')).toBe('decrement');
      expect(filtered.data.map((entry) => [entry.ledger_sequence_number, entry.amount])).toEqual([
        [2, -50],
      ]);
    });

    it('lists only the block that still holds credit', async () => {
      const page = await client.customers.credits.list(customerId);
      expectLastResponse(200, 'CustomerCreditBalances');
      expect(page.data).toHaveLength(1);
      expect(page.data[0]).toMatchObject({
        balance: 80,
        maximum_initial_balance: 100,
        expiry_date: `${SUMMER}T07:00:00.000Z`,
        per_unit_cost_basis: '0.20',
        status: 'active',
      });

      const byExternalId = await client.customers.credits.listByExternalID(externalId);
      expectLastResponse(200, 'CustomerCreditBalances');
      expect(byExternalId.data).toEqual(page.data);

      const all = await client.customers.credits.list(customerId, { include_all_blocks: true });
      expectLastResponse(200, 'CustomerCreditBalances');
      expect(all.data.map((block) => block.balance).sort((a, b) => a - b)).toEqual([0, 80]);
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the first answer and applies the write once', async () => {
      const customer = await newCustomer();
      const key = `e2e-replay-${customer.id}`;
      const body: EntryParams = { entry_type: 'increment', amount: 25 };

      const first = await client.customers.credits.ledger.createEntry(customer.id, body, {
        idempotencyKey: key,
      });
      const firstResponse = expectLastResponse(201, 'CreditLedgerEntry');
      expect(firstResponse.headers.get('idempotent-replayed')).toBeNull();

      const second = await client.customers.credits.ledger.createEntry(customer.id, body, {
        idempotencyKey: key,
      });
      const secondResponse = expectLastResponse(201, 'CreditLedgerEntry');
      expect(secondResponse.headers.get('idempotent-replayed')).toBe('true');
      expect(second.id).toBe(first.id);
      expect(second).toEqual(first);

      const { entries } = await readLedger(customer.id, 20);
      expect(entries).toHaveLength(1);
      const credits = await client.customers.credits.list(customer.id);
      expectLastResponse(200, 'CustomerCreditBalances');
      expect(credits.data.map((block) => block.balance)).toEqual([25]);
    });

    it('answers 409 when the key is reused with another body, and writes nothing', async () => {
      const customer = await newCustomer();
      const key = `e2e-conflict-${customer.id}`;
      await client.customers.credits.ledger.createEntry(
        customer.id,
        { entry_type: 'increment', amount: 5 },
        { idempotencyKey: key },
      );
      expectLastResponse(201, 'CreditLedgerEntry');

      await expectRejection(
        () =>
          client.customers.credits.ledger.createEntry(
            customer.id,
            { entry_type: 'increment', amount: 6 },
            { idempotencyKey: key },
          ),
        ConflictError,
        409,
        '409Error',
      );
      // The same key and body for another customer is another request: also a conflict.
      const other = await newCustomer();
      await expectRejection(
        () =>
          client.customers.credits.ledger.createEntry(
            other.id,
            { entry_type: 'increment', amount: 5 },
            { idempotencyKey: key },
          ),
        ConflictError,
        409,
        '409Error',
      );
      const { entries } = await readLedger(customer.id, 20);
      expect(entries.map((entry) => entry.amount)).toEqual([5]);
      expect((await readLedger(other.id, 20)).entries).toEqual([]);
    });
  });

  describe('bad bodies are refused with 400 and write nothing', () => {
    let customerId = '';
    let ledgerBefore: unknown[] = [];

    beforeAll(async () => {
      const customer = await newCustomer();
      customerId = customer.id;
      await client.customers.credits.ledger.createEntry(customerId, {
        entry_type: 'increment',
        amount: 10,
      });
      expectLastResponse(201, 'CreditLedgerEntry');
      ledgerBefore = (await readLedger(customerId, 20)).entries;
      expect(ledgerBefore).toHaveLength(1);
    });

    const badBodies: [string, unknown][] = [
      ['amount 0', { entry_type: 'increment', amount: 0 }],
      ['a decrement of amount 0', { entry_type: 'decrement', amount: 0 }],
      ['a negative amount', { entry_type: 'decrement', amount: -5 }],
      ['amount with 13 decimal places', { entry_type: 'increment', amount: 0.1234567890123 }],
      ['an unknown key', { entry_type: 'increment', amount: 5, surprise: true }],
      ['entry_type "bogus"', { entry_type: 'bogus', amount: 5 }],
      ['a missing amount', { entry_type: 'decrement' }],
      ['an amount string with an exponent', { entry_type: 'increment', amount: '5e0' }],
    ];

    it.each(badBodies)('%s', async (_name, body) => {
      const error = await expectRejection(
        () => client.customers.credits.ledger.createEntry(customerId, body as EntryParams),
        BadRequestError,
        400,
        '400Error',
      );
      expect(error.error).toMatchObject({
        type: 'https://docs.withorb.com/reference/error-responses#400-request-validation-errors',
      });
      recorded.length = 0;
      const { entries } = await readLedger(customerId, 20);
      expect(entries).toEqual(ledgerBefore);
    });

    it('refuses an unknown key with a message naming it', async () => {
      const error = await expectRejection(
        () =>
          client.customers.credits.ledger.createEntry(customerId, {
            entry_type: 'increment',
            amount: 5,
            surprise: true,
          } as EntryParams),
        BadRequestError,
        400,
        '400Error',
      );
      expect(JSON.stringify(error.error)).toContain('surprise');
    });
  });

  describe('unknown customers are 404', () => {
    it('on every customer route the SDK uses', async () => {
      const calls: [string, () => Promise<unknown>][] = [
        ['fetch', () => client.customers.fetch('no_such_customer')],
        ['fetchByExternalID', () => client.customers.fetchByExternalID('no-such-external-id')],
        [
          'createEntry',
          () =>
            client.customers.credits.ledger.createEntry('no_such_customer', {
              entry_type: 'increment',
              amount: 1,
            }),
        ],
        [
          'createEntryByExternalID',
          () =>
            client.customers.credits.ledger.createEntryByExternalID('no-such-external-id', {
              entry_type: 'increment',
              amount: 1,
            }),
        ],
        ['ledger.list', () => client.customers.credits.ledger.list('no_such_customer')],
        ['credits.list', () => client.customers.credits.list('no_such_customer')],
      ];
      for (const [name, call] of calls) {
        const error = await expectRejection(call, NotFoundError, 404, '404Error').catch(
          (reason: unknown) => {
            throw new Error(`${name}: ${(reason as Error).message}`);
          },
        );
        expect(error.error, name).toMatchObject({
          type: 'https://docs.withorb.com/reference/error-responses#404-resource-not-found',
        });
      }
    });
  });

  describe('authentication', () => {
    it('answers 401 to a wrong API key', async () => {
      const stranger = new Orb({
        apiKey: 'not_the_key',
        baseURL: `${t.baseUrl}/v1`,
        maxRetries: 0,
        fetch: recordingFetch,
      });
      await expectRejection(() => stranger.topLevel.ping(), AuthenticationError, 401, '401Error');
      await expectRejection(() => stranger.customers.list(), AuthenticationError, 401, '401Error');
      await expectRejection(
        () => stranger.customers.create({ name: 'Intruder', email: 'intruder@example.com' }),
        AuthenticationError,
        401,
        '401Error',
      );
    });
  });
});
