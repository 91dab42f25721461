/**
 * Balance reads that arrive together share one statement (api/routes/credits.ts,
 * api/sameTurnBatches.ts, worker/store/creditReads.ts `readCreditBlockPages`), and each answer is
 * the one it gets alone: the batched statement gives every customer the page the single read
 * gives (missing ones none, repeated ones the same), in one statement; and reads fired at once
 * through HTTP (both id forms, repeats, missing and empty customers, other currencies, limits
 * and `include_all_blocks`) answer byte for byte what each answers on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  readCreditBlockPage,
  readCreditBlockPages,
  type CreditBlockPageQuery,
} from '../../../worker/store/creditReads.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../../support/testService.ts';
import { addEntry, createCustomer, uniqueName } from '../ledgerTestHelpers.ts';

let t: TestService;
let full: { id: string; external_customer_id: string };
let other: { id: string; external_customer_id: string };
let empty: { id: string; external_customer_id: string };

beforeAll(async () => {
  t = await startTestService();
  full = await createCustomer(t, {
    currency: 'USD',
    external_customer_id: uniqueName('batch-full'),
  });
  other = await createCustomer(t, { external_customer_id: uniqueName('batch-other') });
  empty = await createCustomer(t, { external_customer_id: uniqueName('batch-empty') });
  for (const amount of [5, 7, 11]) {
    await addEntry(t, full.id, { entry_type: 'increment', amount });
  }
  await addEntry(t, full.id, { entry_type: 'decrement', amount: 5 });
  await addEntry(t, full.id, { entry_type: 'increment', amount: 3, currency: 'USD' });
  await addEntry(t, other.id, {
    entry_type: 'increment',
    amount: '12345678901234567890123456.123456789012',
  });
});
afterAll(async () => {
  await t?.stop();
});

describe('one statement for many customers', () => {
  it('gives each key the page its single read gives, in one statement', async () => {
    const query: CreditBlockPageQuery = {
      limit: 1,
      currency: 'credits',
      includeAll: false,
      now: t.service.clock.now(),
      effectiveDate: {},
    };
    const statements: string[] = [];
    const previous = t.service.orm.config.get('onQuery');
    t.service.orm.config.set('onQuery', (sql: string, params: readonly unknown[]) => {
      // Only the reads' statements: the webhook delivery loop polls through the same ORM.
      if (sql.includes('credit_blocks')) statements.push(sql);
      return previous(sql, params);
    });
    const em = t.service.orm.em;
    const ids = [full.id, 'no-such-customer', empty.id, full.id, other.id];
    const batched = await readCreditBlockPages(em, 'customerId', ids, query);
    const externals = ids.map((id) =>
      id === full.id
        ? full.external_customer_id
        : id === other.id
          ? other.external_customer_id
          : id === empty.id
            ? empty.external_customer_id
            : 'no-such-external',
    );
    const batchedExternal = await readCreditBlockPages(em, 'externalCustomerId', externals, query);
    t.service.orm.config.set('onQuery', previous);
    expect(statements).toHaveLength(2);

    for (const [index, id] of ids.entries()) {
      const alone = await readCreditBlockPage(em, { customerId: id }, query);
      expect(batched[index]).toEqual(alone);
      expect(batchedExternal[index]).toEqual(alone);
    }
    // What the comparison covers: a page with more to come, a missing customer, an empty one.
    expect(batched.map((page) => page.rows.length)).toEqual([2, 0, 0, 2, 1]);
    expect(batched[1]!.customer).toBeNull();
    expect(batched[2]!.customer).toEqual({
      id: empty.id,
      externalCustomerId: empty.external_customer_id,
    });
  });
});

describe('reads fired together', () => {
  it('answer byte for byte what each answers alone', async () => {
    const paths: string[] = [];
    for (const customer of [full, other, empty]) {
      for (const base of [
        `/v1/customers/${customer.id}/credits`,
        `/v1/customers/external_customer_id/${customer.external_customer_id}/credits`,
      ]) {
        paths.push(
          base,
          `${base}?limit=1`,
          `${base}?currency=USD`,
          `${base}?include_all_blocks=true`,
          base,
        );
      }
    }
    paths.push(
      '/v1/customers/no-such-customer/credits',
      '/v1/customers/external_customer_id/no-such-external/credits',
    );
    const alone: { status: number; text: string }[] = [];
    for (const path of paths) {
      const { status, text } = await t.request('GET', path);
      alone.push({ status, text });
    }
    // The answers the comparison covers: pages, 404s and a page with more to come.
    expect(new Set(alone.map((answer) => answer.status))).toEqual(new Set([200, 404]));
    expect(alone.some((answer) => answer.text.includes('"has_more":true'))).toBe(true);

    for (let round = 0; round < 3; round += 1) {
      const together = await Promise.all(paths.map((path) => t.request('GET', path)));
      expect(together.map(({ status, text }) => ({ status, text }))).toEqual(alone);
    }
  });

  it('share one statement per form when they arrive in one turn', async () => {
    const app = t.service.app!;
    const statements: string[] = [];
    const previous = t.service.orm.config.get('onQuery');
    t.service.orm.config.set('onQuery', (sql: string, params: readonly unknown[]) => {
      if (sql.includes('from credit_blocks b')) statements.push(sql);
      return previous(sql, params);
    });
    const paths = [full, other, empty, full].flatMap((customer) => [
      `/v1/customers/${customer.id}/credits`,
      `/v1/customers/external_customer_id/${customer.external_customer_id}/credits`,
    ]);
    // Injected requests are all dispatched before the turn ends, as a busy poll phase would.
    const answers = await Promise.all(
      paths.map((url) =>
        app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TEST_API_KEY}` } }),
      ),
    );
    t.service.orm.config.set('onQuery', previous);
    expect(answers.map((answer) => answer.statusCode)).toEqual(paths.map(() => 200));
    expect(statements).toHaveLength(2);
    expect(
      statements.filter((sql) => sql.includes('c.external_customer_id = any(array(select unnest(')),
    ).toHaveLength(1);
    for (const [index, path] of paths.entries()) {
      const alone = await t.request('GET', path);
      expect(answers[index]!.body).toBe(alone.text);
    }
  });
});
