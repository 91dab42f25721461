/**
 * Customer balance transactions (LEDGER_RULES.md §7, seed 003) against the real service: through
 * Orb's SDK (`client.customers.balanceTransactions.create/list`) with every raw body validated
 * against the OpenAPI subset; `Customer.balance` equal to the last ending balance; a negative
 * balance; the customer's partition (concurrent writes chain exactly, `Prefer: respond-async`,
 * a redelivered job applies once, the worker's own currency check); Idempotency-Key; validation;
 * `operation_time[...]` filters and cursor pagination.
 */
import Orb, { BadRequestError } from 'orb-billing';
import { toWireBalanceTransaction } from '../../../api/wire/balanceTransaction.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../../worker/runtime/ids.ts';
import { partitionOf } from '../../../worker/jobs/partition.ts';
import { waitForJobs } from '../../../worker/sweeps/runSweeps.ts';
import { expectValid } from '../../support/openApiValidator.ts';
import { recordingFetch, type Recorded } from '../../support/recordingFetch.ts';
import { dateIn, instantAt, manualClockStart } from '../../support/testDates.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../../support/testService.ts';
import { createCustomer, dec, ERROR_TYPE, eventually, sql } from '../ledgerTestHelpers.ts';

const PARTITIONS = 4;
const START = manualClockStart().toISOString();

const recorded: Recorded[] = [];

let t: TestService;
let client: Orb;
beforeAll(async () => {
  // A manual clock: each transaction's created_at (its operation time) is set by the test.
  t = await startTestService({
    CLOCK: 'manual',
    CLOCK_START: START,
    PARTITIONS: String(PARTITIONS),
  });
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

const path = (customerId: string) => `/v1/customers/${customerId}/balance_transactions`;

async function advanceTo(instant: string): Promise<void> {
  const response = await t.request('POST', '/v1/test_clock/advance', { to: instant });
  expect(response.status, response.text).toBe(200);
}

async function post(customerId: string, body: unknown, headers: Record<string, string> = {}) {
  return t.request('POST', path(customerId), body, headers);
}

async function create(customerId: string, body: Record<string, unknown>): Promise<any> {
  const response = await post(customerId, body);
  expect(response.status, response.text).toBe(200);
  expectValid('CustomerBalanceTransaction', response.body);
  return response.body;
}

async function customerBalance(customerId: string): Promise<string> {
  const response = await t.request('GET', `/v1/customers/${customerId}`);
  expect(response.status, response.text).toBe(200);
  expectValid('Customer', response.body);
  return response.body.balance;
}

async function list(customerId: string, query = ''): Promise<any> {
  const response = await t.request('GET', `${path(customerId)}${query}`);
  expect(response.status, response.text).toBe(200);
  expectValid('CustomerBalanceTransactions', response.body);
  return response.body;
}

async function requestRows(customerId: string): Promise<{ status: string }[]> {
  return sql(
    t,
    `select status from requests where kind = 'balance_transaction' and customer_id = ?`,
    [customerId],
  );
}

describe('through the orb-billing SDK', () => {
  it('creates an increment and lists it, in Orb shapes, and Customer.balance follows', async () => {
    const customer = await client.customers.create({
      name: 'Balance SDK',
      email: 'balance-sdk@example.com',
      currency: 'USD',
    });
    const created = await client.customers.balanceTransactions.create(customer.id, {
      amount: '10.5',
      type: 'increment',
    });
    const [response] = recorded.slice(-1);
    expect(response).toMatchObject({ method: 'POST', path: path(customer.id), status: 200 });
    expectValid('CustomerBalanceTransaction', response?.body);
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9A-Za-z]{16}$/),
      created_at: START,
      starting_balance: '0',
      ending_balance: '10.5',
      amount: '10.5',
      action: 'manual_adjustment',
      description: null,
      invoice: null,
      type: 'increment',
      credit_note: null,
    });

    const decrement = await client.customers.balanceTransactions.create(customer.id, {
      amount: '0.25',
      type: 'decrement',
      description: 'SLA',
    });
    expect(decrement).toMatchObject({
      starting_balance: '10.5',
      ending_balance: '10.25',
      amount: '0.25',
      type: 'decrement',
      description: 'SLA',
    });

    const page = await client.customers.balanceTransactions.list(customer.id);
    const [listed] = recorded.slice(-1);
    expect(listed).toMatchObject({ method: 'GET', path: path(customer.id), status: 200 });
    expectValid('CustomerBalanceTransactions', listed?.body);
    expect(page.data.map((transaction) => transaction.id)).toEqual([decrement.id, created.id]);
    expect(page.data[1]).toEqual(created);

    const fetched = await client.customers.fetch(customer.id);
    expect(fetched.balance).toBe('10.25');
  });

  it('pages through a long list with the SDK auto-pagination, every page valid', async () => {
    const customer = await createCustomer(t, { currency: 'EUR' });
    const made: string[] = [];
    for (let index = 1; index <= 5; index += 1)
      made.push((await create(customer.id, { amount: String(index), type: 'increment' })).id);
    const seen: string[] = [];
    for await (const transaction of client.customers.balanceTransactions.list(customer.id, {
      limit: 2,
    }))
      seen.push(transaction.id);
    expect(seen).toEqual(made.reverse());
    expect(recorded).toHaveLength(3);
    for (const page of recorded) expectValid('CustomerBalanceTransactions', page.body);
  });

  it('maps a customer without a currency to BadRequestError', async () => {
    const customer = await createCustomer(t);
    const error = await client.customers.balanceTransactions
      .create(customer.id, { amount: '1', type: 'increment' })
      .catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(BadRequestError);
    expectValid('400Error', recorded.at(-1)?.body);
  });
});

describe('the balance', () => {
  it('may go negative, and Customer.balance always equals the last ending_balance', async () => {
    const customer = await createCustomer(t, {
      currency: 'USD',
      external_customer_id: 'ext-balance-1',
    });
    const steps: [string, string, string][] = [
      ['increment', '5', '5'],
      ['decrement', '12.000000000001', '-7.000000000001'],
      ['increment', '0.000000000001', '-7'],
      ['decrement', '3', '-10'],
      ['increment', '10', '0'],
    ];
    let previous = '0';
    for (const [type, amount, ending] of steps) {
      // The external-id form names the same customer.
      const response = await t.request(
        'POST',
        '/v1/customers/external_customer_id/ext-balance-1/balance_transactions',
        { amount, type },
      );
      expect(response.status, response.text).toBe(200);
      expect(response.body).toMatchObject({
        type,
        amount,
        starting_balance: previous,
        ending_balance: ending,
      });
      expect(await customerBalance(customer.id)).toBe(ending);
      previous = ending;
    }
    const [stored] = await sql<{ balance: string }>(
      t,
      'select balance::text as balance from customers where id = ?',
      [customer.id],
    );
    expect(dec(stored?.balance ?? '')).toBe('0');
  });

  it('writes through the partition one at a time: concurrent writes chain exactly', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const bodies = Array.from({ length: 24 }, (_, index) => ({
      amount: `${index + 1}.${index % 10}`,
      type: index % 3 === 0 ? 'decrement' : 'increment',
    }));
    const responses = await Promise.all(bodies.map((body) => post(customer.id, body)));
    expect(responses.map((response) => response.status)).toEqual(bodies.map(() => 200));
    const expected = bodies.reduce(
      (sum, body) =>
        sum + (body.type === 'increment' ? 1 : -1) * Math.round(Number(body.amount) * 10),
      0,
    );

    const page = await list(customer.id, '?limit=100');
    const oldestFirst = [...page.data].reverse();
    expect(oldestFirst).toHaveLength(bodies.length);
    let balance = '0';
    for (const transaction of oldestFirst) {
      expect(transaction.starting_balance).toBe(balance);
      balance = transaction.ending_balance;
    }
    expect(balance).toBe(dec(String(expected / 10)));
    expect(await customerBalance(customer.id)).toBe(balance);
    expect((await requestRows(customer.id)).map((row) => row.status)).toEqual(
      bodies.map(() => 'committed'),
    );
  });
});

describe('Prefer: respond-async and /v1/balance_transaction_requests', () => {
  it('answers 202 with a Location to poll until the request is committed with its transaction', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const accepted = await post(
      customer.id,
      { amount: '2.50', type: 'increment' },
      { prefer: 'respond-async' },
    );
    expect(accepted.status, accepted.text).toBe(202);
    const location = accepted.headers.get('location');
    expect(location).toBe(`/v1/balance_transaction_requests/${accepted.body.id}`);
    expect(accepted.body).toMatchObject({
      status: 'queued',
      transaction: null,
      error: null,
      completed_at: null,
      created_at: START,
    });
    const done = await eventually(
      async () => {
        const polled = await t.request('GET', location ?? '');
        expect(polled.status, polled.text).toBe(200);
        return polled.body.status === 'committed' ? polled.body : undefined;
      },
      10_000,
      'the request to commit',
    );
    expectValid('CustomerBalanceTransaction', done.transaction);
    expect(done.transaction).toMatchObject({
      amount: '2.5',
      starting_balance: '0',
      ending_balance: '2.5',
    });
    expect((await list(customer.id)).data).toEqual([done.transaction]);
  });

  it('a redelivered job applies nothing twice, and the worker refuses a customer without a currency itself', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const first = await create(customer.id, { amount: '1', type: 'increment' });
    const [request] = await sql<{ id: string }>(
      t,
      `select id from requests where kind = 'balance_transaction' and customer_id = ?`,
      [customer.id],
    );
    const partition = partitionOf(customer.id, PARTITIONS);
    const again = `again-${newId()}`;
    await t.service.queues.add(
      partition,
      'balance.apply',
      { requestId: request?.id ?? '', customerId: customer.id },
      again,
    );
    expect(await waitForJobs(t.service.queues, [{ partition, jobId: again }], 10_000)).toBe(true);
    // It answers the stored outcome and changes nothing.
    const job = await t.service.queues.queue(partition).getJob(again);
    // A request job is a group of one here: `jobs` counts the jobs it applied. The outcome
    // carries the stored row, which is the first answer once on the wire.
    expect(job?.returnvalue).toMatchObject({
      jobs: 1,
      status: 'committed',
      kind: 'balance_transaction',
      requestId: request?.id,
    });
    expect(toWireBalanceTransaction(job?.returnvalue.transaction)).toEqual(first);
    expect((await list(customer.id)).data).toEqual([first]);
    expect(await customerBalance(customer.id)).toBe('1');

    // A request the intake would have refused, put straight onto the partition.
    const bare = await createCustomer(t);
    const requestId = newId();
    await sql(
      t,
      `insert into requests (id, kind, customer_id, partition, payload, status, created_at) values (?, 'balance_transaction', ?, ?, ?::jsonb, 'queued', now())`,
      [
        requestId,
        bare.id,
        partitionOf(bare.id, PARTITIONS),
        JSON.stringify({ type: 'increment', amount: '1', description: null }),
      ],
    );
    await t.service.queues.add(
      partitionOf(bare.id, PARTITIONS),
      'balance.apply',
      { requestId, customerId: bare.id },
      requestId,
    );
    const failed = await eventually(
      async () => {
        const polled = await t.request('GET', `/v1/balance_transaction_requests/${requestId}`);
        return polled.body.status === 'failed' ? polled.body : undefined;
      },
      10_000,
      'the request to fail',
    );
    expect(failed.transaction).toBeNull();
    expect(failed.error).toMatchObject({ type: ERROR_TYPE.validation, status: 400 });
    expect(failed.error.detail).toMatch(/invoicing currency/);
    expect(await customerBalance(bare.id)).toBe('0');
  });

  it('GET /v1/balance_transaction_requests/{unknown} answers 404', async () => {
    const response = await t.request('GET', '/v1/balance_transaction_requests/unknown');
    expect(response.status).toBe(404);
    expect(response.body.type).toBe(ERROR_TYPE.notFound);
  });
});

describe('Idempotency-Key', () => {
  it('same key and body: the same transaction, idempotent-replayed: true, applied once', async () => {
    const customer = await createCustomer(t, {
      currency: 'USD',
      external_customer_id: 'ext-balance-idem',
    });
    const body = { amount: '7', type: 'increment', description: 'once' };
    const headers = { 'idempotency-key': 'balance-key-1' };
    const first = await post(customer.id, body, headers);
    expect(first.status, first.text).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const second = await post(customer.id, body, headers);
    expect(second.status, second.text).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    // The key names the request, whichever path form names the customer.
    const third = await t.request(
      'POST',
      '/v1/customers/external_customer_id/ext-balance-idem/balance_transactions',
      body,
      headers,
    );
    expect(third.status, third.text).toBe(200);
    expect(third.body).toEqual(first.body);
    expect(await customerBalance(customer.id)).toBe('7');
    expect(await requestRows(customer.id)).toHaveLength(1);
  });

  it('same key, other body or other endpoint: 409, nothing written', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const headers = { 'idempotency-key': 'balance-key-2' };
    expect((await post(customer.id, { amount: '1', type: 'increment' }, headers)).status).toBe(200);
    const other = await post(customer.id, { amount: '2', type: 'increment' }, headers);
    expect(other.status, other.text).toBe(409);
    expect(other.body.type).toBe(ERROR_TYPE.conflict);
    const ledger = await t.request(
      'POST',
      `/v1/customers/${customer.id}/credits/ledger_entry`,
      { entry_type: 'increment', amount: 1 },
      { 'idempotency-key': 'balance-key-2' },
    );
    expect(ledger.status, ledger.text).toBe(409);
    const reused = await post(
      customer.id,
      { amount: '1', type: 'increment' },
      { 'idempotency-key': 'balance-key-3' },
    );
    expect(reused.status).toBe(200);
    expect(await customerBalance(customer.id)).toBe('2');
  });
});

describe('validation', () => {
  let customer: any;
  beforeAll(async () => {
    customer = await createCustomer(t, { currency: 'USD' });
  });

  it.each([
    ['a JSON number', { amount: 10, type: 'increment' }, /decimal string/],
    ['zero', { amount: '0', type: 'increment' }, /greater than 0/],
    ['a negative amount', { amount: '-1', type: 'decrement' }, /greater than 0/],
    ['13 decimal places', { amount: '0.0000000000001', type: 'increment' }, /12 decimal places/],
    ['not a number', { amount: 'ten', type: 'increment' }, /decimal number/],
    ['an unknown type', { amount: '1', type: 'void' }, /type/],
    ['a missing type', { amount: '1' }, /type/],
    ['an unknown key', { amount: '1', type: 'increment', currency: 'USD' }, /currency/],
  ])('refuses %s with 400 and writes nothing', async (_what, body, detail) => {
    const response = await post(customer.id, body);
    expect(response.status, response.text).toBe(400);
    expect(response.body.type).toBe(ERROR_TYPE.validation);
    expect(response.body.detail).toMatch(detail);
    expectValid('400Error', response.body);
    expect(await requestRows(customer.id)).toHaveLength(0);
  });

  it('answers canonical decimal text for what was sent ("10.50" → "10.5", "1e2" → "100")', async () => {
    const other = await createCustomer(t, { currency: 'USD' });
    expect((await create(other.id, { amount: '10.50', type: 'increment' })).amount).toBe('10.5');
    expect((await create(other.id, { amount: '1e2', type: 'increment' })).ending_balance).toBe(
      '110.5',
    );
  });

  it('refuses a customer without an invoicing currency with 400, recording nothing', async () => {
    const bare = await createCustomer(t);
    const response = await post(bare.id, { amount: '1', type: 'increment' });
    expect(response.status).toBe(400);
    expect(response.body.detail).toMatch(/invoicing currency/);
    expect(await requestRows(bare.id)).toHaveLength(0);
    expect(await customerBalance(bare.id)).toBe('0');
  });

  it('answers 404 for an unknown customer, on both verbs and both path forms', async () => {
    for (const url of [
      '/v1/customers/nobody/balance_transactions',
      '/v1/customers/external_customer_id/nobody/balance_transactions',
    ]) {
      expect((await t.request('POST', url, { amount: '1', type: 'increment' })).status).toBe(404);
      const listed = await t.request('GET', url);
      expect(listed.status).toBe(404);
      expect(listed.body.type).toBe(ERROR_TYPE.notFound);
    }
  });

  it('refuses a limit above 100, a bad cursor and a bad operation_time', async () => {
    for (const query of [
      '?limit=101',
      '?limit=0',
      '?cursor=bm9wZQ',
      '?operation_time[gte]=yesterday',
    ]) {
      const response = await t.request('GET', `${path(customer.id)}${query}`);
      expect(response.status, `${query}: ${response.text}`).toBe(400);
    }
  });
});

describe('GET .../balance_transactions filters and pagination', () => {
  let customer: any;
  const made: any[] = [];
  // Midnight UTC on the four days after the clock's start.
  const times = [1, 2, 3, 4].map((days) => instantAt(dateIn('UTC', new Date(START), days), 'UTC'));

  beforeAll(async () => {
    customer = await createCustomer(t, { currency: 'USD' });
    for (const [index, time] of times.entries()) {
      await advanceTo(time);
      made.push(await create(customer.id, { amount: String(index + 1), type: 'increment' }));
    }
  });

  const ids = (page: any) => page.data.map((transaction: any) => transaction.id);
  const newestFirst = (...indexes: number[]) => indexes.map((index) => made[index].id);
  const at = (index: number) => encodeURIComponent(times[index] ?? '');

  it('lists newest first, 20 by default, with each created_at its operation time', async () => {
    const page = await list(customer.id);
    expect(ids(page)).toEqual(newestFirst(3, 2, 1, 0));
    expect(page.data.map((transaction: any) => transaction.created_at)).toEqual(
      [...times].reverse(),
    );
    expect(page.pagination_metadata).toEqual({ has_more: false, next_cursor: null });
  });

  it('filters by operation_time[gt|gte|lt|lte]', async () => {
    expect(ids(await list(customer.id, `?operation_time[gte]=${at(1)}`))).toEqual(
      newestFirst(3, 2, 1),
    );
    expect(ids(await list(customer.id, `?operation_time[gt]=${at(1)}`))).toEqual(newestFirst(3, 2));
    expect(ids(await list(customer.id, `?operation_time[lt]=${at(2)}`))).toEqual(newestFirst(1, 0));
    expect(ids(await list(customer.id, `?operation_time[lte]=${at(2)}`))).toEqual(
      newestFirst(2, 1, 0),
    );
    expect(
      ids(await list(customer.id, `?operation_time[gt]=${at(0)}&operation_time[lt]=${at(3)}`)),
    ).toEqual(newestFirst(2, 1));
    // The SDK sends `key=` for unset values: empty means no filter.
    expect(ids(await list(customer.id, '?operation_time[gt]=&cursor='))).toEqual(
      newestFirst(3, 2, 1, 0),
    );
  });

  it('pages with limit and next_cursor, filters kept', async () => {
    const first = await list(customer.id, '?limit=3');
    expect(ids(first)).toEqual(newestFirst(3, 2, 1));
    expect(first.pagination_metadata.has_more).toBe(true);
    const second = await list(
      customer.id,
      `?limit=3&cursor=${first.pagination_metadata.next_cursor}`,
    );
    expect(ids(second)).toEqual(newestFirst(0));
    expect(second.pagination_metadata).toEqual({ has_more: false, next_cursor: null });
    const filtered = await list(customer.id, `?limit=1&operation_time[lt]=${at(3)}`);
    const next = await list(
      customer.id,
      `?limit=1&operation_time[lt]=${at(3)}&cursor=${filtered.pagination_metadata.next_cursor}`,
    );
    expect([...ids(filtered), ...ids(next)]).toEqual(newestFirst(2, 1));
  });

  it('lists only the customer’s own transactions, and an empty list for none', async () => {
    const other = await createCustomer(t, { currency: 'USD' });
    expect(await list(other.id)).toEqual({
      data: [],
      pagination_metadata: { has_more: false, next_cursor: null },
    });
  });
});
