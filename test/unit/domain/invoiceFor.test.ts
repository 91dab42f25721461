/**
 * Invoices for purchased credits (LEDGER_RULES.md §4, §7): which cost basis and invoice_settings
 * go together, the invoice an increment makes (exact total, dates in the customer's timezone,
 * paid or issued), and the `pending_payment` block that require_successful_payment makes.
 */
import type { RefusalCode } from '../../../domain/ledgerError.ts';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import {
  exactProduct,
  invoiceSettingsProblem,
  NET_TERMS_DAYS_MAX,
  type InvoiceSettingsShape,
} from '../../../domain/invoiceFor.ts';
import { block, DEC_01_2026, given, increment, invoiceSettings, NOW } from './givenWhenThen.ts';

describe('invoiceSettingsProblem: cost basis and invoice_settings (§4)', () => {
  const net30: InvoiceSettingsShape = { netTermsDays: 30, hasCustomDueDate: false };
  const table: Array<[string, string | null, InvoiceSettingsShape | null, RegExp | undefined]> = [
    ['no cost basis, no settings', null, null, undefined],
    ['a zero cost basis needs no invoice', '0', null, undefined],
    ['"0.00" is zero too', '0.00', null, undefined],
    [
      'a cost basis above 0 requires invoice_settings',
      '0.20',
      null,
      /per_unit_cost_basis 0\.20 .*invoice_settings is required/,
    ],
    [
      'invoice_settings require a cost basis',
      null,
      net30,
      /invoice_settings requires per_unit_cost_basis/,
    ],
    ['a cost basis with net terms', '0.20', net30, undefined],
    ['a zero cost basis may still be invoiced', '0', net30, undefined],
    [
      'a custom due date instead of net terms',
      '1',
      { netTermsDays: null, hasCustomDueDate: true },
      undefined,
    ],
    [
      'not both',
      '1',
      { netTermsDays: 30, hasCustomDueDate: true },
      /net_terms or custom_due_date, not both/,
    ],
    [
      'not neither',
      '1',
      { netTermsDays: null, hasCustomDueDate: false },
      /needs net_terms or custom_due_date/,
    ],
    [
      'net 0: due on the invoice date',
      '1',
      { netTermsDays: 0, hasCustomDueDate: false },
      undefined,
    ],
    ['no negative net terms', '1', { netTermsDays: -1, hasCustomDueDate: false }, /from 0 to 3650/],
    [
      'no net terms past the limit',
      '1',
      { netTermsDays: NET_TERMS_DAYS_MAX + 1, hasCustomDueDate: false },
      /from 0 to 3650/,
    ],
  ];
  for (const [name, cost, settings, problem] of table) {
    it(name, () => {
      const found = invoiceSettingsProblem(cost, settings);
      if (problem === undefined) expect(found).toBeUndefined();
      else expect(found).toMatch(problem);
    });
  }
});

describe('exactProduct', () => {
  it('multiplies exactly when the product fits 12 decimal places', () => {
    expect(exactProduct(Decimal.of('100'), Decimal.of('0.20'))?.toString()).toBe('20');
    expect(exactProduct(Decimal.of('0.000001'), Decimal.of('0.000001'))?.toString()).toBe(
      '0.000000000001',
    );
    expect(exactProduct(Decimal.of('3'), Decimal.of('0.333333333333'))?.toString()).toBe(
      '0.999999999999',
    );
  });

  it('answers undefined rather than rounding', () => {
    expect(exactProduct(Decimal.of('0.000000000001'), Decimal.of('0.5'))).toBeUndefined();
  });
});

describe('increment with invoice_settings (§7)', () => {
  it('makes an issued invoice: quantity = amount, unit price = cost basis, total = product, net 30 days in LA', () => {
    const changes = given([])
      .when(
        increment('100', {
          perUnitCostBasis: '0.20',
          invoice: invoiceSettings({ memo: 'top-up', itemId: 'item_1', autoCollection: true }),
        }),
      )
      .then({
        entries: [['increment', 'id-1', '100']],
        balances: { 'id-1': '100' },
        ledgerBalance: '100',
      });
    expect(changes.newBlocks[0]?.status).toBe('active');
    expect(changes.invoices).toHaveLength(1);
    const invoice = changes.invoices?.[0];
    expect(invoice).toMatchObject({
      id: 'id-3',
      blockId: 'id-1',
      currency: 'USD',
      status: 'issued',
      memo: 'top-up',
      itemId: 'item_1',
      autoCollection: true,
    });
    expect(invoice?.quantity.toString()).toBe('100');
    expect(invoice?.unitPrice.toString()).toBe('0.2');
    expect(invoice?.total.toString()).toBe('20');
    // Dated at the block's effective date (now); due 30 calendar days later.
    expect(invoice?.invoiceAt.toISOString()).toBe(NOW.toISOString());
    expect(invoice?.dueAt.toISOString()).toBe('2026-12-21T12:00:00.000Z');
    expect(invoice?.paidAt).toBeNull();
    expect(changes.invoiceChanges).toBeUndefined();
  });

  it('counts net terms in the customer timezone across a DST change (wall clock kept)', () => {
    const changes = given([])
      .when(
        increment('10', {
          perUnitCostBasis: '1',
          invoice: invoiceSettings({
            invoiceAt: new Date('2026-10-31T07:00:00Z'),
            netTermsDays: 7,
          }),
        }),
      )
      .then({
        entries: [['increment', 'id-1', '10']],
        balances: { 'id-1': '10' },
        ledgerBalance: '10',
      });
    // 00:00 PDT on 2026-10-31 + 7 days = 00:00 PST on 2026-11-07.
    expect(changes.invoices?.[0]?.dueAt.toISOString()).toBe('2026-11-07T08:00:00.000Z');
  });

  it('dates the invoice at a future effective date by default, and a custom due date replaces net terms', () => {
    const due = new Date('2027-01-15T08:00:00Z');
    const changes = given([])
      .when(
        increment('10', {
          effectiveAt: DEC_01_2026,
          perUnitCostBasis: '2.5',
          invoice: invoiceSettings({ netTermsDays: null, customDueAt: due }),
        }),
      )
      .then({
        entries: [['increment', 'id-1', '10']],
        balances: { 'id-1': '10' },
        ledgerBalance: '10',
      });
    expect(changes.invoices?.[0]?.invoiceAt.toISOString()).toBe(DEC_01_2026.toISOString());
    expect(changes.invoices?.[0]?.dueAt.toISOString()).toBe(due.toISOString());
    expect(changes.invoices?.[0]?.total.toString()).toBe('25');
  });

  it('mark_as_paid issues it paid now, and the block is active even when payment is required', () => {
    const changes = given([])
      .when(
        increment('10', {
          perUnitCostBasis: '1',
          invoice: invoiceSettings({ markAsPaid: true, requireSuccessfulPayment: true }),
        }),
      )
      .then({
        entries: [['increment', 'id-1', '10']],
        balances: { 'id-1': '10' },
        ledgerBalance: '10',
      });
    expect(changes.invoices?.[0]).toMatchObject({ status: 'paid', paidAt: NOW });
    expect(changes.newBlocks[0]?.status).toBe('active');
  });

  it('require_successful_payment: the block waits in pending_payment and does not repay the overdraft', () => {
    const changes = given([block('A', '-5')])
      .when(
        increment('20', {
          perUnitCostBasis: '1',
          invoice: invoiceSettings({ requireSuccessfulPayment: true }),
        }),
      )
      .then({
        entries: [['increment', 'id-1', '20']],
        balances: { A: '-5', 'id-1': '20' },
        ledgerBalance: '15',
        updated: [],
      });
    expect(changes.newBlocks[0]?.status).toBe('pending_payment');
    expect(changes.invoices?.[0]?.status).toBe('issued');
  });

  const refusals: Array<[string, Parameters<typeof increment>[1], RegExp, RefusalCode]> = [
    [
      'a cost basis above 0 without invoice_settings',
      { perUnitCostBasis: '0.20' },
      /invoice_settings is required/,
      'invoice_settings_required',
    ],
    [
      'invoice_settings without a cost basis',
      { invoice: invoiceSettings() },
      /requires per_unit_cost_basis/,
      'cost_basis_required',
    ],
    [
      'both net terms and a custom due date',
      { perUnitCostBasis: '1', invoice: invoiceSettings({ customDueAt: DEC_01_2026 }) },
      /not both/,
      'due_date_ambiguous',
    ],
    [
      'a custom due date before the invoice date',
      {
        perUnitCostBasis: '1',
        invoice: invoiceSettings({
          netTermsDays: null,
          customDueAt: new Date('2026-11-01T00:00:00Z'),
        }),
      },
      /before the invoice date/,
      'invoice_due_before_invoice_date',
    ],
    [
      'a total that would need rounding',
      { perUnitCostBasis: '0.5' },
      /more than 12 decimal places/,
      'invoice_total_inexact',
    ],
  ];
  for (const [name, overrides, detail, code] of refusals) {
    it(`refuses ${name}`, () => {
      const amount = name.startsWith('a total') ? '0.000000000001' : '10';
      const command = increment(
        amount,
        name.startsWith('a total') ? { ...overrides, invoice: invoiceSettings() } : overrides,
      );
      given([]).when(command).thenRefused({ refused: 'request_validation', code, detail });
    });
  }
});
