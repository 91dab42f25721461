/**
 * The wire shapes (api/wire/*) against the real service: numbers become JSON numbers only where
 * Orb's schema types a field as number, never because of a key's name, so user metadata whose
 * keys look like amounts (`amount`, `balance`, …) comes back exactly as stored — on the 201, on an
 * Idempotency-Key replay (byte for byte), on the ledger page, on `GET /v1/ledger_requests/{id}`,
 * on the customer and its blocks — and every body still matches Orb's OpenAPI subset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValid } from '../../support/openApiValidator.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { createCustomer, eventually, ledgerEntryPath } from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

/** Keys that the old name-based walker turned into numbers, with values that are not numbers. */
const METADATA = {
  amount: 'seven',
  balance: '1e3',
  nested_like: '0.10',
  starting_balance: '',
  quantity: 'many',
  void_amount: '-0',
};
const BIG = '12345678901234567890.000000000001';

/** The raw text of `"key":<value>` in a body: a JSON number keeps every digit. */
function rawField(text: string, key: string): string | undefined {
  return new RegExp(`"${key}":(-?[0-9][0-9.eE+-]*)`).exec(text)?.[1];
}

describe('metadata with amount-like keys', () => {
  let customer: any;
  beforeAll(async () => {
    customer = await createCustomer(t, { metadata: METADATA });
  });

  it('answers the customer create with its metadata as stored, and its balance a string', async () => {
    expect(customer.metadata).toEqual(METADATA);
    expect(typeof customer.balance).toBe('string');
    expectValid('Customer', customer);
    const fetched = await t.request('GET', `/v1/customers/${customer.id}`);
    expect(fetched.status, fetched.text).toBe(200);
    expect(fetched.body.metadata).toEqual(METADATA);
    expectValid('Customer', fetched.body);
  });

  it('replays a customer create byte for byte, metadata included', async () => {
    const body = {
      name: 'Replayed',
      email: 'replayed@example.com',
      metadata: { zeta: '1', amount: 'seven', a: 'x' },
    };
    const headers = { 'idempotency-key': `wire-customer-${customer.id}` };
    const first = await t.request('POST', '/v1/customers', body, headers);
    expect(first.status, first.text).toBe(201);
    const again = await t.request('POST', '/v1/customers', body, headers);
    expect(again.status, again.text).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
    expect(again.body.metadata).toEqual(body.metadata);
  });

  it('answers an increment, its replay, the ledger page and the request status with the metadata exactly', async () => {
    const body = `{"entry_type":"increment","amount":${BIG},"metadata":${JSON.stringify(METADATA)}}`;
    const headers = { 'idempotency-key': `wire-increment-${customer.id}` };
    const created = await t.request('POST', ledgerEntryPath(customer.id), body, headers);
    expect(created.status, created.text).toBe(201);
    expect(created.body.metadata).toEqual(METADATA);
    for (const key of ['amount', 'starting_balance', 'ending_balance'])
      expect(typeof created.body[key], key).toBe('number');
    expect(rawField(created.text, 'amount')).toBe(BIG);
    expect(rawField(created.text, 'ending_balance')).toBe(BIG);
    expectValid('CreditLedgerEntry', created.body);

    const replayed = await t.request('POST', ledgerEntryPath(customer.id), body, headers);
    expect(replayed.status, replayed.text).toBe(201);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.text).toBe(created.text);

    const page = await t.request('GET', `/v1/customers/${customer.id}/credits/ledger`);
    expect(page.status, page.text).toBe(200);
    expect(page.body.data).toHaveLength(1);
    expect(page.body.data[0].metadata).toEqual(METADATA);
    expect(rawField(page.text, 'amount')).toBe(BIG);
    expectValid('CreditLedgerEntries', page.body);

    const blocks = await t.request('GET', `/v1/customers/${customer.id}/credits`);
    expect(blocks.status, blocks.text).toBe(200);
    expect(rawField(blocks.text, 'balance')).toBe(BIG);
    expect(rawField(blocks.text, 'maximum_initial_balance')).toBe(BIG);
    expectValid('CustomerCreditBalances', blocks.body);
    const block = await t.request('GET', `/v1/credit_blocks/${created.body.credit_block.id}`);
    expect(block.status, block.text).toBe(200);
    expect(rawField(block.text, 'balance')).toBe(BIG);
    expectValid('CreditBlock', block.body);
  });

  it('answers GET /v1/ledger_requests/{id} with the metadata exactly and the amounts as numbers', async () => {
    const body = `{"entry_type":"increment","amount":${BIG},"metadata":${JSON.stringify(METADATA)}}`;
    const accepted = await t.request('POST', ledgerEntryPath(customer.id), body, {
      prefer: 'respond-async',
    });
    expect(accepted.status, accepted.text).toBe(202);
    const location = accepted.headers.get('location') ?? '';
    const status = await eventually(async () => {
      const response = await t.request('GET', location);
      expect(response.status, response.text).toBe(200);
      return response.body.status === 'committed' ? response : undefined;
    });
    const [entry] = status.body.entries;
    expect(entry.metadata).toEqual(METADATA);
    expect(typeof entry.amount).toBe('number');
    expect(rawField(status.text, 'amount')).toBe(BIG);
    expectValid('CreditLedgerEntry', entry);
  });

  it('keeps a decrement and a void with such metadata answerable, with exact numbers', async () => {
    const decrement = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'decrement',
      amount: 1,
      metadata: METADATA,
    });
    expect(decrement.status, decrement.text).toBe(201);
    expect(decrement.body.metadata).toEqual(METADATA);
    expectValid('CreditLedgerEntry', decrement.body);
    const page = await t.request('GET', `/v1/customers/${customer.id}/credits/ledger`);
    expect(page.status, page.text).toBe(200);
    for (const entry of page.body.data) expect(entry.metadata).toEqual(METADATA);
  });
});

describe('invoices on the wire', () => {
  it("gives the increment's created invoice string amounts and a number quantity, whatever the metadata", async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const response = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'increment',
      amount: 10,
      per_unit_cost_basis: '0.5',
      invoice_settings: { auto_collection: false, net_terms: 0 },
      metadata: { amount: 'x', quantity: 'y' },
    });
    expect(response.status, response.text).toBe(201);
    expect(response.body.metadata).toEqual({ amount: 'x', quantity: 'y' });
    const [invoice] = response.body.created_invoices;
    expect(invoice.total).toBe('5.00');
    expect(invoice.line_items[0].quantity).toBe(10);
    expect(invoice.line_items[0].amount).toBe('5.00');
    expectValid('Invoice', invoice);
    const fetched = await t.request('GET', `/v1/invoices/${invoice.id}`);
    expect(fetched.status, fetched.text).toBe(200);
    expect(fetched.body).toEqual(invoice);
  });
});
