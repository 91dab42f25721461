/**
 * Invoices for purchased credits through the HTTP api and the worker (LEDGER_RULES.md §4, §7):
 * an increment with invoice_settings answers its invoice in `created_invoices`, the invoice routes
 * read, pay and void it, and require_successful_payment keeps the block out of drawdown until the
 * invoice is paid. Every body is checked against Orb's OpenAPI schema (CreditLedgerEntry, Invoice,
 * the error schemas) and every ledger against its invariants. Manual clock started now (or where
 * TEST_CLOCK_YEARS_AHEAD puts it); every date is derived from it.
 */
import Orb, { BadRequestError } from 'orb-billing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValid } from '../../support/openApiValidator.ts';
import {
  addToDate,
  dateIn,
  instantAt,
  isoPlus,
  manualClockStart,
} from '../../support/testDates.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  dec,
  ERROR_TYPE,
  expectLedgerConsistent,
  ledgerEntryPath,
  sql,
  storedEntries,
} from '../ledgerTestHelpers.ts';

const START = manualClockStart().toISOString();
const LA = 'America/Los_Angeles';
/** The Los Angeles date `days` after the clock's start. */
const day = (days: number) => addToDate(dateIn(LA, new Date(START)), { days });

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual', CLOCK_START: START });
});
afterAll(async () => {
  await t?.stop();
});

async function post(path: string, body: Record<string, unknown> | undefined, schema: string) {
  const response = await t.request('POST', path, body);
  if (response.status < 300) expectValid(schema, response.body);
  else expectValid(`${response.status}Error`, response.body);
  return response;
}

const entry = (customerId: string, body: Record<string, unknown>) =>
  post(ledgerEntryPath(customerId), body, 'CreditLedgerEntry');
const markPaid = (invoiceId: string, body: Record<string, unknown>) =>
  post(`/v1/invoices/${invoiceId}/mark_paid`, body, 'Invoice');
const voidInvoice = (invoiceId: string) =>
  post(`/v1/invoices/${invoiceId}/void`, undefined, 'Invoice');

async function getInvoice(invoiceId: string) {
  const response = await t.request('GET', `/v1/invoices/${invoiceId}`);
  expect(response.status, response.text).toBe(200);
  expectValid('Invoice', response.body);
  return response.body;
}

async function getBlock(blockId: string) {
  const response = await t.request('GET', `/v1/credit_blocks/${blockId}`);
  expect(response.status, response.text).toBe(200);
  expectValid('CreditBlock', response.body);
  return response.body;
}

/** An increment that must succeed, with its invoice. */
async function purchase(customerId: string, body: Record<string, unknown>) {
  const response = await entry(customerId, { entry_type: 'increment', ...body });
  expect(response.status, response.text).toBe(201);
  expect(response.body.created_invoices).toHaveLength(1);
  return { entry: response.body, invoice: response.body.created_invoices[0] };
}

describe('an increment with invoice_settings', () => {
  it('answers its one-off invoice: quantity = amount, unit price = cost basis, exact total, net terms in the customer timezone', async () => {
    const customer = await createCustomer(t, {
      timezone: LA,
      currency: 'USD',
      external_customer_id: 'inv-ext-1',
    });
    const { entry: made, invoice } = await purchase(customer.id, {
      amount: 100,
      per_unit_cost_basis: '0.125',
      invoice_settings: {
        auto_collection: true,
        net_terms: 30,
        memo: 'Credits for November',
        item_id: 'item_credits',
      },
    });
    expect(made).toMatchObject({
      entry_type: 'increment',
      amount: 100,
      ending_balance: 100,
      credit_block: { per_unit_cost_basis: '0.125' },
    });
    expect(invoice).toMatchObject({
      status: 'issued',
      invoice_source: 'one_off',
      currency: 'USD',
      total: '12.50',
      subtotal: '12.50',
      amount_due: '12.50',
      memo: 'Credits for November',
      customer: { id: customer.id, external_customer_id: 'inv-ext-1' },
      // Dated at the block's effective date (now), due 30 days later.
      invoice_date: START,
      due_date: isoPlus(START, { days: 30 }, LA),
      issued_at: START,
      paid_at: null,
      voided_at: null,
      auto_collection: { enabled: true },
      invoice_number: `${customer.id.slice(0, 6).toUpperCase()}-00001`,
    });
    expect(invoice.line_items).toHaveLength(1);
    expect(invoice.line_items[0]).toMatchObject({
      quantity: 100,
      amount: '12.50',
      price: {
        model_type: 'unit',
        unit_config: { unit_amount: '0.125' },
        cadence: 'one_time',
        currency: 'USD',
        item: { id: 'item_credits' },
      },
    });
    // The same invoice from the invoice route and in the ledger.
    expect(await getInvoice(invoice.id)).toEqual(invoice);
    const ledger = await t.request('GET', `/v1/customers/${customer.id}/credits/ledger`);
    expect(ledger.status).toBe(200);
    expectValid('CreditLedgerEntries', ledger.body);
    expect(ledger.body.data[0].created_invoices).toEqual([invoice]);
    // The block is active and drawable.
    expect((await getBlock(made.credit_block.id)).status).toBe('active');
    expect(await expectLedgerConsistent(t, customer.id)).toBe('100');
  });

  it('dates a date-only invoice_date at midnight in the customer timezone, and takes a custom due date', async () => {
    const customer = await createCustomer(t, { timezone: LA, currency: 'EUR' });
    const { invoice } = await purchase(customer.id, {
      amount: 3,
      per_unit_cost_basis: '2',
      invoice_settings: {
        auto_collection: false,
        invoice_date: day(4),
        custom_due_date: day(40),
        net_terms: null,
      },
    });
    expect(invoice).toMatchObject({
      currency: 'EUR',
      total: '6.00',
      invoice_date: instantAt(day(4), LA),
      due_date: instantAt(day(40), LA),
      invoice_number: `${customer.id.slice(0, 6).toUpperCase()}-00001`,
    });
    const second = await purchase(customer.id, {
      amount: 1,
      per_unit_cost_basis: '0',
      invoice_settings: { auto_collection: false, net_terms: 0 },
    });
    expect(second.invoice).toMatchObject({
      total: '0.00',
      invoice_number: `${customer.id.slice(0, 6).toUpperCase()}-00002`,
    });
    expect(second.invoice.due_date).toBe(second.invoice.invoice_date);
  });

  it('mark_as_paid issues the invoice paid', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const { invoice } = await purchase(customer.id, {
      amount: 10,
      per_unit_cost_basis: '1.00',
      invoice_settings: {
        auto_collection: false,
        net_terms: 0,
        mark_as_paid: true,
        require_successful_payment: true,
      },
    });
    expect(invoice).toMatchObject({ status: 'paid', paid_at: START, total: '10.00' });
  });

  it('answers 400 with a precise message for every invalid combination, writing nothing', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const noCurrency = await createCustomer(t);
    const settings = { auto_collection: false, net_terms: 30 };
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      [
        customer.id,
        { per_unit_cost_basis: '0.20' },
        /per_unit_cost_basis 0\.20 charges for the credits, so invoice_settings is required/,
      ],
      [
        customer.id,
        { invoice_settings: settings },
        /invoice_settings requires per_unit_cost_basis/,
      ],
      [
        customer.id,
        { per_unit_cost_basis: '1', invoice_settings: { ...settings, custom_due_date: day(41) } },
        /net_terms or custom_due_date, not both/,
      ],
      [
        customer.id,
        { per_unit_cost_basis: '1', invoice_settings: { auto_collection: false } },
        /needs net_terms or custom_due_date/,
      ],
      [
        customer.id,
        { per_unit_cost_basis: '1', invoice_settings: { auto_collection: false, net_terms: -1 } },
        /net_terms must be a whole number of days from 0/,
      ],
      [
        customer.id,
        { per_unit_cost_basis: '1', invoice_settings: { net_terms: 30 } },
        /auto_collection/,
      ],
      [
        noCurrency.id,
        { per_unit_cost_basis: '1', invoice_settings: settings },
        /customer .* has none; create the customer with a currency/,
      ],
    ];
    for (const [customerId, body, detail] of cases) {
      const response = await entry(customerId, { entry_type: 'increment', amount: 10, ...body });
      expect(response.status, response.text).toBe(400);
      expect(response.body.type).toBe(ERROR_TYPE.validation);
      expect(response.body.detail).toMatch(detail);
    }
    // Decided by the worker (the dates need the customer's timezone): a due date before the invoice date.
    const early = await entry(customer.id, {
      entry_type: 'increment',
      amount: 10,
      per_unit_cost_basis: '1',
      invoice_settings: { auto_collection: false, invoice_date: day(10), custom_due_date: day(9) },
    });
    expect(early.status, early.text).toBe(400);
    expect(early.body.detail).toMatch(/custom_due_date .* is before the invoice date/);
    expect(await storedEntries(t, customer.id)).toEqual([]);
    expect(
      await sql(t, 'select id from invoices where customer_id in (?, ?)', [
        customer.id,
        noCurrency.id,
      ]),
    ).toEqual([]);
  });
});

describe('invoice routes', () => {
  it('mark_paid records the payment; a second mark_paid or a void of a paid invoice is a 400', async () => {
    const customer = await createCustomer(t, { timezone: LA, currency: 'USD' });
    const { invoice } = await purchase(customer.id, {
      amount: 40,
      per_unit_cost_basis: '0.5',
      invoice_settings: { auto_collection: false, net_terms: 15 },
    });
    const paid = await markPaid(invoice.id, {
      payment_received_date: day(-1),
      external_id: 'pay_123',
      notes: 'wire transfer',
    });
    expect(paid.status, paid.text).toBe(200);
    expect(paid.body).toMatchObject({
      id: invoice.id,
      status: 'paid',
      paid_at: instantAt(day(-1), LA),
      total: '20.00',
    });
    expect(await getInvoice(invoice.id)).toEqual(paid.body);
    const [stored] = await sql<{
      payment_received_date: string;
      payment_external_id: string;
      payment_notes: string;
    }>(
      t,
      'select payment_received_date::text as payment_received_date, payment_external_id, payment_notes from invoices where id = ?',
      [invoice.id],
    );
    expect(stored).toEqual({
      payment_received_date: day(-1),
      payment_external_id: 'pay_123',
      payment_notes: 'wire transfer',
    });

    const again = await markPaid(invoice.id, { payment_received_date: day(0) });
    expect(again.status, again.text).toBe(400);
    expect(again.body.detail).toBe(
      `invoice ${invoice.id} is paid; only an issued invoice can be marked paid.`,
    );
    const voided = await voidInvoice(invoice.id);
    expect(voided.status, voided.text).toBe(400);
    expect(voided.body.detail).toBe(
      `invoice ${invoice.id} is paid; only an issued invoice can be voided.`,
    );
    expect(await expectLedgerConsistent(t, customer.id)).toBe('40');
  });

  it('honours Idempotency-Key on mark_paid and void: the first answer again, 409 for another body', async () => {
    const customer = await createCustomer(t, { timezone: LA, currency: 'USD' });
    const { invoice } = await purchase(customer.id, {
      amount: 10,
      per_unit_cost_basis: '1',
      invoice_settings: { auto_collection: false, net_terms: 0 },
    });
    const key = { 'idempotency-key': `pay-${invoice.id}` };
    const body = { payment_received_date: day(0) };
    const first = await t.request('POST', `/v1/invoices/${invoice.id}/mark_paid`, body, key);
    expect(first.status, first.text).toBe(200);
    expectValid('Invoice', first.body);
    // Without the key this repeat would be refused (the invoice is no longer issued).
    const replay = await t.request('POST', `/v1/invoices/${invoice.id}/mark_paid`, body, key);
    expect(replay.status, replay.text).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    const other = await t.request(
      'POST',
      `/v1/invoices/${invoice.id}/mark_paid`,
      { payment_received_date: day(-1) },
      key,
    );
    expect(other.status, other.text).toBe(409);
    const otherRoute = await t.request('POST', `/v1/invoices/${invoice.id}/void`, undefined, key);
    expect(otherRoute.status, otherRoute.text).toBe(409);
    const [applied] = await sql<{ count: string }>(
      t,
      `select count(*)::text as count from requests where kind = 'invoice_change' and customer_id = ?`,
      [customer.id],
    );
    expect(applied?.count).toBe('1');
    // A refusal replays as the same refusal.
    const voidKey = { 'idempotency-key': `void-${invoice.id}` };
    const refused = await t.request('POST', `/v1/invoices/${invoice.id}/void`, undefined, voidKey);
    expect(refused.status, refused.text).toBe(400);
    const refusedAgain = await t.request(
      'POST',
      `/v1/invoices/${invoice.id}/void`,
      undefined,
      voidKey,
    );
    expect(refusedAgain.status).toBe(400);
    expect(refusedAgain.body).toEqual(refused.body);
    expect(refusedAgain.headers.get('idempotent-replayed')).toBe('true');
  });

  it('Prefer: respond-async answers 202 with the request to poll, which ends committed', async () => {
    const customer = await createCustomer(t, { timezone: LA, currency: 'USD' });
    const { invoice } = await purchase(customer.id, {
      amount: 10,
      per_unit_cost_basis: '1',
      invoice_settings: { auto_collection: false, net_terms: 0 },
    });
    const accepted = await t.request('POST', `/v1/invoices/${invoice.id}/void`, undefined, {
      prefer: 'respond-async',
    });
    expect(accepted.status, accepted.text).toBe(202);
    expect(accepted.headers.get('location')).toBe(`/v1/ledger_requests/${accepted.body.id}`);
    expect(accepted.body).toMatchObject({ kind: 'invoice_change', status: 'queued', entries: [] });
    let polled = accepted;
    for (let tries = 0; tries < 100 && polled.body.status !== 'committed'; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      polled = await t.request('GET', accepted.headers.get('location') ?? '');
    }
    expect(polled.body).toMatchObject({ kind: 'invoice_change', status: 'committed', error: null });
    expect((await getInvoice(invoice.id)).status).toBe('void');
  });

  it('answers 404 for an unknown invoice and 400 for a bad mark_paid body', async () => {
    for (const response of [
      await t.request('GET', '/v1/invoices/noSuchInvoice000'),
      await markPaid('noSuchInvoice000', { payment_received_date: day(-1) }),
      await voidInvoice('noSuchInvoice000'),
    ]) {
      expect(response.status, response.text).toBe(404);
      expect(response.body.type).toBe(ERROR_TYPE.notFound);
      expectValid('404Error', response.body);
    }
    const customer = await createCustomer(t, { currency: 'USD' });
    const { invoice } = await purchase(customer.id, {
      amount: 1,
      per_unit_cost_basis: '1',
      invoice_settings: { auto_collection: false, net_terms: 0 },
    });
    // A date-time, an impossible date (any year's 30 February), an unknown key.
    for (const body of [
      {},
      { payment_received_date: `${day(-1)}T00:00:00Z` },
      { payment_received_date: `${day(0).slice(0, 4)}-02-30` },
      { payment_received_date: day(-1), amount: 1 },
    ]) {
      const response = await markPaid(invoice.id, body);
      expect(response.status, `${JSON.stringify(body)}: ${response.text}`).toBe(400);
      expect(response.body.type).toBe(ERROR_TYPE.validation);
    }
    expect((await getInvoice(invoice.id)).status).toBe('issued');
  });

  it('voiding an unpaid invoice voids what is left of its block: void_initiated and void, no reason', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const { entry: made, invoice } = await purchase(customer.id, {
      amount: 30,
      per_unit_cost_basis: '1',
      invoice_settings: { auto_collection: false, net_terms: 30 },
    });
    await addEntry(t, customer.id, { entry_type: 'decrement', amount: 12 });
    const voided = await voidInvoice(invoice.id);
    expect(voided.status, voided.text).toBe(200);
    expect(voided.body).toMatchObject({ status: 'void', voided_at: START, paid_at: null });
    const entries = await storedEntries(t, customer.id);
    expect(entries.map((e) => [e.entry_type, dec(e.amount), e.block_id])).toEqual([
      ['increment', '30', made.credit_block.id],
      ['decrement', '-12', made.credit_block.id],
      ['void_initiated', '18', made.credit_block.id],
      ['void', '-18', made.credit_block.id],
    ]);
    const ledger = await t.request('GET', `/v1/customers/${customer.id}/credits/ledger`);
    expectValid('CreditLedgerEntries', ledger.body);
    expect(ledger.body.data[0]).toMatchObject({
      entry_type: 'void',
      void_reason: null,
      void_amount: 18,
      amount: -18,
    });
    expect((await getBlock(made.credit_block.id)).balance).toBe(0);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('0');
  });
});

describe('require_successful_payment', () => {
  it('keeps the block pending_payment (listed, not drawable) until mark_paid makes it active', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const { entry: made, invoice } = await purchase(customer.id, {
      amount: 50,
      per_unit_cost_basis: '2',
      invoice_settings: { auto_collection: false, net_terms: 7, require_successful_payment: true },
    });
    const blockId = made.credit_block.id;
    expect(invoice.status).toBe('issued');
    expect((await getBlock(blockId)).status).toBe('pending_payment');
    const credits = await t.request('GET', `/v1/customers/${customer.id}/credits`);
    expectValid('CustomerCreditBalances', credits.body);
    expect(credits.body.data).toMatchObject([
      { id: blockId, status: 'pending_payment', balance: 50 },
    ]);

    // Not drawable: a decrement goes onto a fresh overdraft block.
    const drawn = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 5 });
    expect(drawn.credit_block.id).not.toBe(blockId);
    expect(drawn).toMatchObject({ amount: -5, starting_balance: 50, ending_balance: 45 });

    const paid = await markPaid(invoice.id, { payment_received_date: day(0) });
    expect(paid.status, paid.text).toBe(200);
    expect(paid.body.status).toBe('paid');
    expect((await getBlock(blockId)).status).toBe('active');
    const after = await addEntry(t, customer.id, { entry_type: 'decrement', amount: 10 });
    expect(after).toMatchObject({ credit_block: { id: blockId }, amount: -10 });
    expect(await expectLedgerConsistent(t, customer.id)).toBe('35');
  });

  it('voiding the invoice voids the pending block', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const { entry: made, invoice } = await purchase(customer.id, {
      amount: 20,
      per_unit_cost_basis: '1',
      invoice_settings: { auto_collection: false, net_terms: 0, require_successful_payment: true },
    });
    const voided = await voidInvoice(invoice.id);
    expect(voided.status, voided.text).toBe(200);
    expect(voided.body.status).toBe('void');
    const entries = await storedEntries(t, customer.id);
    expect(entries.map((e) => [e.entry_type, dec(e.amount)])).toEqual([
      ['increment', '20'],
      ['void_initiated', '20'],
      ['void', '-20'],
    ]);
    expect((await getBlock(made.credit_block.id)).balance).toBe(0);
    const payLater = await markPaid(invoice.id, { payment_received_date: day(0) });
    expect(payLater.status, payLater.text).toBe(400);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('0');
  });

  it('a void entry of the whole pending block voids its invoice; a partial one is refused', async () => {
    const customer = await createCustomer(t, { currency: 'USD' });
    const { entry: made, invoice } = await purchase(customer.id, {
      amount: 20,
      per_unit_cost_basis: '1',
      invoice_settings: { auto_collection: false, net_terms: 0, require_successful_payment: true },
    });
    const partial = await entry(customer.id, {
      entry_type: 'void',
      block_id: made.credit_block.id,
      amount: 5,
    });
    expect(partial.status, partial.text).toBe(400);
    expect(partial.body.detail).toMatch(
      /awaits payment of its invoice: void its whole balance \(20\)/,
    );
    const whole = await entry(customer.id, {
      entry_type: 'void',
      block_id: made.credit_block.id,
      amount: 20,
      void_reason: 'refund',
    });
    expect(whole.status, whole.text).toBe(201);
    expect(whole.body).toMatchObject({ entry_type: 'void', amount: -20, void_reason: 'refund' });
    expect(await getInvoice(invoice.id)).toMatchObject({ status: 'void', voided_at: START });
    expect(await expectLedgerConsistent(t, customer.id)).toBe('0');
  });
});

describe('through the orb-billing SDK', () => {
  it('buys credits with an invoice, fetches, pays and refuses to void it', async () => {
    const client = new Orb({ apiKey: TEST_API_KEY, baseURL: `${t.baseUrl}/v1`, maxRetries: 0 });
    const customer = await client.customers.create({
      name: 'SDK buyer',
      email: 'sdk-buyer@example.com',
      currency: 'USD',
    });
    const made = await client.customers.credits.ledger.createEntry(customer.id, {
      entry_type: 'increment',
      amount: 12.5,
      per_unit_cost_basis: '0.40',
      invoice_settings: { auto_collection: false, net_terms: 10, require_successful_payment: true },
    });
    if (made.entry_type !== 'increment')
      throw new Error(`expected an increment, got ${made.entry_type}`);
    const [invoice] = made.created_invoices ?? [];
    expect(invoice).toMatchObject({
      status: 'issued',
      total: '5.00',
      line_items: [{ quantity: 12.5 }],
    });
    const fetched = await client.invoices.fetch(invoice!.id);
    expect(fetched.id).toBe(invoice!.id);
    const paid = await client.invoices.markPaid(invoice!.id, {
      payment_received_date: day(0),
      external_id: 'sdk-pay',
    });
    expect(paid.status).toBe('paid');
    await expect(client.invoices.void(invoice!.id)).rejects.toBeInstanceOf(BadRequestError);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('12.5');
  });
});
