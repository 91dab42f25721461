/**
 * The hot reads (issue 13 item 4): `GET …/credits`, `GET …/credits/ledger` and
 * `GET /v1/credit_blocks/{id}` are one SQL statement each (customer resolution included), keep
 * 38-digit amounts exact, paginate with cursors through entries and blocks made at one instant,
 * and answer 404 for a customer or block that does not exist (200 with no data for one that has
 * none). Statements are counted through MikroORM's `onQuery` hook, only those issued inside one
 * request's handler (Fastify's `fastify.request.handler` tracing channel binds the request's
 * counter to the handler's async context), so the worker's own queries never count.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { tracingChannel } from 'node:diagnostics_channel';
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValid } from '../../support/openApiValidator.ts';
import { manualClockStart } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { addEntry, createCustomer, ledgerEntryPath } from '../ledgerTestHelpers.ts';

const COUNT_HEADER = 'x-test-count-statements';
let t: TestService;
const statementsOf = new Map<string, string[]>();
const handlerScope = new AsyncLocalStorage<string[] | undefined>();
tracingChannel<unknown, { request: FastifyRequest }>('fastify.request.handler').start.bindStore(
  handlerScope,
  ({ request }) => statementsOf.get(String(request.headers[COUNT_HEADER])),
);

beforeAll(async () => {
  // A manual clock that is never advanced: every entry and block below is made at one instant.
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: manualClockStart().toISOString() });
  const previous = t.service.orm.config.get('onQuery');
  t.service.orm.config.set('onQuery', (sql: string, params: readonly unknown[]) => {
    handlerScope.getStore()?.push(sql);
    return previous(sql, params);
  });
});
afterAll(async () => {
  await t?.stop();
});

/** One GET, with the SQL statements its handler issued. */
async function countedGet(url: string) {
  const token = randomUUID();
  const statements: string[] = [];
  statementsOf.set(token, statements);
  const response = await t.request('GET', url, undefined, { [COUNT_HEADER]: token });
  statementsOf.delete(token);
  return { ...response, statements };
}

/** 26 integer and 12 fractional digits: the widest amount LEDGER_RULES.md §1 allows. */
const WIDEST = '12345678901234567890123456.123456789012';

/** A JSON number field with exactly this source text (not a prefix of a longer number). */
function numberField(name: string, source: string): RegExp {
  return new RegExp(`"${name}":${source.replaceAll('.', '\\.')}(?=[,}\\]])`);
}

describe('one statement per read', () => {
  it('the balance, the ledger page (with an increment’s invoice) and a block each issue one statement', async () => {
    const customer = await createCustomer(t, {
      currency: 'USD',
      external_customer_id: `lean-${Date.now()}`,
    });
    const purchase = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 10,
      per_unit_cost_basis: '0.5',
      invoice_settings: { auto_collection: false, net_terms: 0 },
    });
    await addEntry(t, customer.id, { entry_type: 'increment', amount: 5 });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 3 });

    for (const base of [
      `/v1/customers/${customer.id}`,
      `/v1/customers/external_customer_id/${customer.external_customer_id}`,
    ]) {
      const credits = await countedGet(`${base}/credits`);
      expect(credits.status, credits.text).toBe(200);
      expectValid('CustomerCreditBalances', credits.body);
      expect(credits.body.data).toHaveLength(2);
      expect(credits.statements).toHaveLength(1);

      const ledger = await countedGet(`${base}/credits/ledger`);
      expect(ledger.status, ledger.text).toBe(200);
      expectValid('CreditLedgerEntries', ledger.body);
      expect(ledger.body.data.map((entry: { entry_type: string }) => entry.entry_type)).toEqual([
        'decrement',
        'increment',
        'increment',
      ]);
      const bought = ledger.body.data.at(-1);
      expect(bought.created_invoices).toHaveLength(1);
      expect(bought.created_invoices[0].id).toBe(purchase.created_invoices[0].id);
      expect(bought.created_invoices[0].customer).toEqual({
        id: customer.id,
        external_customer_id: customer.external_customer_id,
      });
      expect(ledger.body.data[1].created_invoices).toBeNull();
      expect(ledger.statements, ledger.statements.join('\n---\n')).toHaveLength(1);
    }

    const block = await countedGet(`/v1/credit_blocks/${purchase.credit_block.id}`);
    expect(block.status, block.text).toBe(200);
    expectValid('CreditBlock', block.body);
    expect(block.statements).toHaveLength(1);
  });

  it('404s are distinct from empty answers, in one statement too', async () => {
    const empty = await createCustomer(t);
    for (const path of ['credits', 'credits/ledger']) {
      const none = await countedGet(`/v1/customers/${empty.id}/${path}`);
      expect(none.status, none.text).toBe(200);
      expect(none.body).toEqual({
        data: [],
        pagination_metadata: { has_more: false, next_cursor: null },
      });
      expect(none.statements).toHaveLength(1);

      const missing = await countedGet(`/v1/customers/no-such-customer/${path}`);
      expect(missing.status, missing.text).toBe(404);
      expect(missing.body.detail).toBe('Customer with id no-such-customer does not exist.');
      expect(missing.statements).toHaveLength(1);

      const missingExternal = await countedGet(
        `/v1/customers/external_customer_id/no-such-external/${path}`,
      );
      expect(missingExternal.status, missingExternal.text).toBe(404);
      expect(missingExternal.body.detail).toBe(
        'Customer with external_customer_id no-such-external does not exist.',
      );
    }
    const noBlock = await countedGet('/v1/credit_blocks/no-such-block');
    expect(noBlock.status, noBlock.text).toBe(404);
    expect(noBlock.body.detail).toBe('Credit block no-such-block does not exist.');
  });
});

describe('exact amounts through the reads', () => {
  it('a 38-digit balance comes back with every digit from the balance, the ledger and the block', async () => {
    const customer = await createCustomer(t);
    const response = await t.request(
      'POST',
      ledgerEntryPath(customer.id),
      `{"entry_type":"increment","amount":${WIDEST}}`,
    );
    expect(response.status, response.text).toBe(201);
    const blockId = response.body.credit_block.id as string;

    const credits = await t.request('GET', `/v1/customers/${customer.id}/credits`);
    expect(credits.status, credits.text).toBe(200);
    expect(credits.text).toMatch(numberField('balance', WIDEST));
    expect(credits.text).toMatch(numberField('maximum_initial_balance', WIDEST));

    const ledger = await t.request('GET', `/v1/customers/${customer.id}/credits/ledger`);
    expect(ledger.status, ledger.text).toBe(200);
    expect(ledger.text).toMatch(numberField('amount', WIDEST));
    expect(ledger.text).toMatch(numberField('ending_balance', WIDEST));

    const block = await t.request('GET', `/v1/credit_blocks/${blockId}`);
    expect(block.status, block.text).toBe(200);
    expect(block.text).toMatch(numberField('balance', WIDEST));

    // Down to the smallest unit: one 10⁻¹² off the widest still shows all 38 digits.
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: '0.000000000001' });
    const after = await t.request('GET', `/v1/customers/${customer.id}/credits`);
    expect(after.text).toMatch(numberField('balance', '12345678901234567890123456.123456789011'));
  });
});

describe('cursors across one instant', () => {
  it('pages through blocks and entries made at the same created_at, each exactly once, in order', async () => {
    const customer = await createCustomer(t);
    const made: { entry: string; block: string }[] = [];
    for (let index = 0; index < 7; index += 1) {
      const entry = await addEntry(t, customer.id, {
        entry_type: 'increment',
        amount: index + 1,
        expiry_date: null,
      });
      made.push({ entry: entry.id, block: entry.credit_block.id });
    }

    const blocks: { id: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page = await t.request('GET', `/v1/customers/${customer.id}/credits?limit=3${query}`);
      expect(page.status, page.text).toBe(200);
      blocks.push(...page.body.data);
      cursor = page.body.pagination_metadata.next_cursor;
      expect(page.body.pagination_metadata.has_more).toBe(cursor !== null);
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    // One instant for all of them: the keyset's id breaks the tie, so the order is by id.
    expect(blocks.map((block) => block.id)).toEqual(made.map((item) => item.block).sort());

    const entries: { id: string; ledger_sequence_number: number; created_at: string }[] = [];
    cursor = null;
    pages = 0;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page = await t.request(
        'GET',
        `/v1/customers/${customer.id}/credits/ledger?limit=2${query}`,
      );
      expect(page.status, page.text).toBe(200);
      entries.push(...page.body.data);
      cursor = page.body.pagination_metadata.next_cursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(4);
    expect(new Set(entries.map((entry) => entry.created_at)).size).toBe(1);
    expect(entries.map((entry) => entry.id)).toEqual(made.map((item) => item.entry).reverse());
    expect(entries.map((entry) => entry.ledger_sequence_number)).toEqual([6, 5, 4, 3, 2, 1, 0]);
  });
});
