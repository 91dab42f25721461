/**
 * Amounts are exact decimals end to end (LEDGER_RULES.md §1): raw HTTP bodies in, raw response
 * text checked, so that neither the request parser nor the response serializer can hide a binary
 * float. 0.1 + 0.2 must be written as 0.3, not 0.30000000000000004, and a 20-digit amount with
 * 12 decimal places must come back with every digit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValid } from '../support/openApiValidator.ts';
import { startTestService, type TestService } from '../support/testService.ts';

const BIG = '12345678901234567890.000000000001';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

let customerCount = 0;
async function newCustomer(): Promise<string> {
  customerCount += 1;
  const response = await t.request(
    'POST',
    '/v1/customers',
    `{"name":"Exact ${customerCount}","email":"exact-${customerCount}@example.com"}`,
  );
  expect(response.status, response.text).toBe(201);
  expectValid('Customer', response.body);
  return (response.body as { id: string }).id;
}

/** Posts a ledger entry with the body exactly as written and expects 201 with a valid entry. */
async function postEntry(customerId: string, rawBody: string): Promise<string> {
  const response = await t.request(
    'POST',
    `/v1/customers/${customerId}/credits/ledger_entry`,
    rawBody,
  );
  expect(response.status, response.text).toBe(201);
  expectValid('CreditLedgerEntry', response.body);
  return response.text;
}

async function getText(path: string, schemaName: string): Promise<string> {
  const response = await t.request('GET', path);
  expect(response.status, response.text).toBe(200);
  expectValid(schemaName, response.body);
  return response.text;
}

/** A JSON number field with exactly this source text (not a prefix of a longer number). */
function numberField(name: string, source: string): RegExp {
  return new RegExp(`"${name}":${source.replaceAll('.', '\\.')}(?=[,}\\]])`);
}

/**
 * Signs of float arithmetic in a JSON number value (after a colon, so that random ids such as
 * "a3e5…" cannot match): exponents, or long runs of 0s/9s after the point.
 */
const FLOAT_ARTIFACT = /:-?\d+(?:\.\d*)?[eE][-+]?\d|:-?\d+\.\d*(?:0{6,}[1-9]|9{6,})\d*(?=[,}\]])/;

describe('exact decimal amounts over raw HTTP', () => {
  it('adds 0.1 and 0.2 to exactly 0.3', async () => {
    const customerId = await newCustomer();
    const first = await postEntry(customerId, '{"entry_type":"increment","amount":0.1}');
    expect(first).toMatch(numberField('amount', '0.1'));
    expect(first).toMatch(numberField('ending_balance', '0.1'));

    const second = await postEntry(customerId, '{"entry_type":"increment","amount":0.2}');
    expect(second).toContain('"ending_balance":0.3');
    expect(second).toMatch(numberField('ending_balance', '0.3'));
    expect(second).toMatch(numberField('starting_balance', '0.1'));
    expect(second).toMatch(numberField('amount', '0.2'));
    expect(second).not.toContain('0.30000000000000004');

    const ledger = await getText(
      `/v1/customers/${customerId}/credits/ledger`,
      'CreditLedgerEntries',
    );
    expect(ledger).toMatch(numberField('ending_balance', '0.3'));
    expect(ledger).not.toMatch(FLOAT_ARTIFACT);

    const credits = await getText(`/v1/customers/${customerId}/credits`, 'CustomerCreditBalances');
    expect(credits).toMatch(numberField('balance', '0.1'));
    expect(credits).toMatch(numberField('balance', '0.2'));

    // Taking 0.3 back out leaves exactly 0, not 5.551115123125783e-17.
    const decrement = await postEntry(customerId, '{"entry_type":"decrement","amount":0.3}');
    expect(decrement).toMatch(numberField('ending_balance', '0'));
    expect(decrement).not.toMatch(FLOAT_ARTIFACT);
    const after = await getText(`/v1/customers/${customerId}/credits`, 'CustomerCreditBalances');
    expect(JSON.parse(after)).toMatchObject({ data: [] });
  });

  it(`keeps every digit of ${BIG}`, async () => {
    const customerId = await newCustomer();
    const increment = await postEntry(customerId, `{"entry_type":"increment","amount":${BIG}}`);
    expect(increment).toMatch(numberField('amount', BIG));
    expect(increment).toMatch(numberField('starting_balance', '0'));
    expect(increment).toMatch(numberField('ending_balance', BIG));

    const tiny = await postEntry(customerId, '{"entry_type":"increment","amount":0.000000000001}');
    expect(tiny).toMatch(numberField('amount', '0.000000000001'));
    expect(tiny).toMatch(numberField('starting_balance', BIG));
    expect(tiny).toMatch(numberField('ending_balance', '12345678901234567890.000000000002'));

    const ledger = await getText(
      `/v1/customers/${customerId}/credits/ledger`,
      'CreditLedgerEntries',
    );
    expect(ledger).toMatch(numberField('amount', BIG));
    expect(ledger).toMatch(numberField('ending_balance', '12345678901234567890.000000000002'));

    const credits = await getText(`/v1/customers/${customerId}/credits`, 'CustomerCreditBalances');
    expect(credits).toMatch(numberField('balance', BIG));
    expect(credits).toMatch(numberField('maximum_initial_balance', BIG));
    expect(credits).toMatch(numberField('balance', '0.000000000001'));

    // Take away the two picocredits: the balance is the integer part, exactly.
    const decrement = await postEntry(
      customerId,
      '{"entry_type":"decrement","amount":0.000000000002}',
    );
    expect(decrement).toMatch(numberField('ending_balance', '12345678901234567890'));
    const ledgerAfter = await getText(
      `/v1/customers/${customerId}/credits/ledger`,
      'CreditLedgerEntries',
    );
    const endings = (
      JSON.parse(ledgerAfter, (_key, value, context?: { source?: string }) =>
        typeof value === 'number' && context?.source !== undefined ? context.source : value,
      ) as { data: { ending_balance: string }[] }
    ).data.map((entry) => entry.ending_balance);
    expect(endings[0]).toBe('12345678901234567890');
  });

  it('refuses a 13th decimal place instead of rounding it', async () => {
    const customerId = await newCustomer();
    const response = await t.request(
      'POST',
      `/v1/customers/${customerId}/credits/ledger_entry`,
      '{"entry_type":"increment","amount":0.0000000000001}',
    );
    expect(response.status, response.text).toBe(400);
    expectValid('400Error', response.body);
    const ledger = await getText(
      `/v1/customers/${customerId}/credits/ledger`,
      'CreditLedgerEntries',
    );
    expect(JSON.parse(ledger)).toMatchObject({ data: [] });
  });
});
