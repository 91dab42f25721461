/**
 * Refusal codes and their precedence (domain/ledgerError.ts): each request kind's checks, in the
 * order its doc comment lists them; every code is made by some check, and its kind follows from
 * the code alone; and, per kind, a request that breaks two rules is refused with the code of the
 * one listed first.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../../domain/decide.ts';
import { AMENDMENT_CHECKS } from '../../../domain/decideAmendment.ts';
import {
  BALANCE_TRANSACTION_CHECKS,
  decideBalanceTransaction,
} from '../../../domain/decideBalanceTransaction.ts';
import { DECREMENT_CHECKS } from '../../../domain/decideDecrement.ts';
import {
  decideDeprecation,
  DEPRECATION_CHECKS,
  DEPRECATION_WINDOW_CHECKS,
} from '../../../domain/decideDeprecation.ts';
import { EXPIRATION_CHANGE_CHECKS } from '../../../domain/decideExpirationChange.ts';
import { INCREMENT_CHECKS } from '../../../domain/decideIncrement.ts';
import { decideInvoice, INVOICE_CHECKS } from '../../../domain/decideInvoice.ts';
import { VOID_CHECKS } from '../../../domain/decideVoid.ts';
import { Decimal, INTEGER_DIGITS_MAX } from '../../../domain/decimal.ts';
import type { Check } from '../../../domain/firstRefusal.ts';
import {
  isRefusalCode,
  ledgerError,
  REFUSAL_KINDS,
  type Decision,
  type RefusalCode,
} from '../../../domain/ledgerError.ts';
import type { Block, LedgerCommand } from '../../../domain/types.ts';
import {
  block,
  counterIds,
  decrement,
  increment,
  invoiceSettings,
  NOW,
  sumOf,
} from './givenWhenThen.ts';

const codes = (checks: readonly Check<never>[]) => checks.map((check) => check.code);
const HOUR = 3_600_000;
const at = (hours: number) => new Date(NOW.getTime() + hours * HOUR);
const LARGEST = '9'.repeat(INTEGER_DIGITS_MAX);

/** The lists as domain/ledgerError.ts documents them: a change to an order changes both. */
const PRECEDENCE: Record<string, { checks: readonly Check<never>[]; order: RefusalCode[] }> = {
  increment: {
    checks: INCREMENT_CHECKS,
    order: [
      'amount_not_positive',
      'cost_basis_invalid',
      'invoice_settings_required',
      'cost_basis_required',
      'due_date_ambiguous',
      'due_date_missing',
      'net_terms_out_of_range',
      'expiry_not_future',
      'expiry_not_after_effective',
      'invoice_due_before_invoice_date',
      'invoice_total_inexact',
      'invoice_total_out_of_range',
      'balance_out_of_range',
    ],
  },
  decrement: { checks: DECREMENT_CHECKS, order: ['amount_not_positive', 'balance_out_of_range'] },
  expiration_change: {
    checks: EXPIRATION_CHANGE_CHECKS,
    order: [
      'amount_not_positive',
      'source_block_unnamed',
      'block_not_found',
      'block_with_expiry_not_found',
      'source_block_ambiguous',
      'block_voided',
      'block_expired',
      'block_not_active',
      'block_has_no_credit',
      'insufficient_credits',
      'target_expiry_not_future',
      'target_expiry_before_effective',
    ],
  },
  void: {
    checks: VOID_CHECKS,
    order: [
      'amount_not_positive',
      'block_not_found',
      'block_voided',
      'block_expired',
      'insufficient_credits',
      'block_awaits_payment',
      'balance_out_of_range',
    ],
  },
  amendment: {
    checks: AMENDMENT_CHECKS,
    order: [
      'amount_not_positive',
      'block_not_found',
      'block_voided',
      'block_expired',
      'exceeds_initial_balance',
      'balance_out_of_range',
    ],
  },
  invoice: { checks: INVOICE_CHECKS, order: ['invoice_not_issued'] },
  deprecation_window: { checks: DEPRECATION_WINDOW_CHECKS, order: ['event_outside_grace'] },
  deprecation: { checks: DEPRECATION_CHECKS, order: ['credits_not_returnable'] },
  balance_transaction: {
    checks: BALANCE_TRANSACTION_CHECKS,
    order: ['amount_not_positive', 'customer_currency_missing', 'balance_out_of_range'],
  },
};

/**
 * Made by the worker's parse of a stored request (worker/jobs/ledgerRequestPayload.ts), or by its
 * load when the resource a request names is gone (worker/processors/kinds/), or by an alert
 * change's own checks (worker/processors/kinds/alertChange.ts), only.
 */
const PARSE_ONLY: RefusalCode[] = [
  'date_invalid',
  'invoice_not_found',
  'event_not_found',
  'top_up_not_found',
  'alert_not_found',
  'alert_exists',
  'alert_thresholds_invalid',
];

describe('refusal codes', () => {
  it.each(Object.entries(PRECEDENCE))('%s runs its checks in the documented order', (_, kind) => {
    expect(codes(kind.checks)).toEqual(kind.order);
  });

  it('every code is made by some check, and no check lists a code twice', () => {
    const used = new Set([...Object.values(PRECEDENCE).flatMap((k) => k.order), ...PARSE_ONLY]);
    expect([...used].sort()).toEqual(Object.keys(REFUSAL_KINDS).sort());
    for (const kind of Object.values(PRECEDENCE))
      expect(new Set(kind.order).size).toBe(kind.order.length);
  });

  it('the kind follows from the code, through the one table', () => {
    expect(ledgerError('block_not_found', 'x')).toEqual({
      code: 'block_not_found',
      kind: 'resource_not_found',
      detail: 'x',
    });
    expect(ledgerError('invoice_not_issued', 'x').kind).toBe('constraint_violation');
    expect(ledgerError('insufficient_credits', 'x').kind).toBe('request_validation');
    expect(isRefusalCode('block_voided')).toBe(true);
    expect(isRefusalCode('toString')).toBe(false);
    expect(isRefusalCode('request_validation')).toBe(false);
  });
});

/** The code `decide` refuses `command` with, given these blocks. */
function refusedWith(command: LedgerCommand, blocks: Block[] = [block('A', '40')]): string {
  const ledger = { currency: 'credits', balance: sumOf(blocks), nextSequenceNumber: 0 };
  return codeOf(decide(command, ledger, blocks, { now: NOW, newId: counterIds() }));
}

function codeOf(decision: Decision<unknown>): string {
  return decision.ok ? 'accepted' : decision.error.code;
}

const common = { currency: 'credits', description: null, metadata: {} };
const voidOf = (blockId: string, amount: string): LedgerCommand => ({
  type: 'void',
  ...common,
  blockId,
  amount: Decimal.of(amount),
  voidReason: null,
});
const amend = (blockId: string, amount: string): LedgerCommand => ({
  type: 'amendment',
  ...common,
  blockId,
  amount: Decimal.of(amount),
});
const move = (
  blockId: string | null,
  amount: string | null,
  target: Date,
  sourceExpiresAt: Date | null = null,
): LedgerCommand => ({
  type: 'expiration_change',
  ...common,
  blockId,
  amount: amount === null ? null : Decimal.of(amount),
  sourceExpiresAt,
  targetExpiresAt: target,
});
const voided = block('V', '0', { maximumInitialBalance: Decimal.of('50'), voidedAt: at(-2) });
const expired = block('E', '0', { maximumInitialBalance: Decimal.of('50'), expiresAt: at(-1) });
const unpaid = block('P', '20', { status: 'pending_payment' });
const later = block('L', '30', { effectiveAt: at(48) });

describe('a request breaking two rules is refused for the one listed first', () => {
  it.each([
    [
      'amount 0 and an expiry in the past',
      increment('0', { expiresAt: at(-1) }),
      'amount_not_positive',
    ],
    [
      'a cost basis without invoice settings, and an expiry in the past',
      increment('10', { perUnitCostBasis: '1', expiresAt: at(-1) }),
      'invoice_settings_required',
    ],
    [
      'an expiry in the past, before a future effective date',
      increment('10', { effectiveAt: at(5), expiresAt: at(-1) }),
      'expiry_not_future',
    ],
    [
      'an expiry before a future effective date, and a due date before the invoice date',
      increment('10', {
        effectiveAt: at(5),
        expiresAt: at(3),
        perUnitCostBasis: '1',
        invoice: invoiceSettings({ netTermsDays: null, invoiceAt: at(5), customDueAt: at(1) }),
      }),
      'expiry_not_after_effective',
    ],
    [
      'an invoice total that is neither exact nor within range',
      increment(`${LARGEST}.5`, {
        perUnitCostBasis: '10.000000000001',
        invoice: invoiceSettings(),
      }),
      'invoice_total_inexact',
    ],
    [
      'an invoice total out of range, for credits that overflow the balance',
      increment(LARGEST, { perUnitCostBasis: '10', invoice: invoiceSettings() }),
      'invoice_total_out_of_range',
    ],
    [
      'an expiry in the past and an invoice total that cannot be exact',
      increment('0.0000001', {
        perUnitCostBasis: '0.0000001',
        invoice: invoiceSettings(),
        expiresAt: at(-1),
      }),
      'expiry_not_future',
    ],
    [
      'a due date before the invoice date and a total that cannot be exact',
      increment('0.0000001', {
        perUnitCostBasis: '0.0000001',
        invoice: invoiceSettings({ netTermsDays: null, invoiceAt: at(5), customDueAt: at(1) }),
      }),
      'invoice_due_before_invoice_date',
    ],
  ])('increment: %s', (_, command, code) => {
    expect(refusedWith(command)).toBe(code);
  });

  it('increment: an invoice total that cannot be exact and a balance past the limit', () => {
    const command = increment('0.0000001', {
      perUnitCostBasis: '0.0000001',
      invoice: invoiceSettings(),
    });
    expect(refusedWith(command, [block('A', LARGEST)])).toBe('invoice_total_inexact');
    expect(refusedWith(increment('1'), [block('A', LARGEST)])).toBe('balance_out_of_range');
  });

  it('decrement: a negative amount whose removal would overflow the balance', () => {
    const command = { ...decrement('1'), amount: Decimal.of('-1') };
    expect(refusedWith(command, [block('A', LARGEST)])).toBe('amount_not_positive');
    expect(refusedWith(decrement('1'), [block('A', `-${LARGEST}`)])).toBe('balance_out_of_range');
  });

  it('decrement: an overdraft block past the limit, while the ledger balance is within it', () => {
    // B awaits payment, so the whole decrement lands on the overdraft block A.
    const blocks = [block('A', '-5'), block('B', LARGEST, { status: 'pending_payment' })];
    const ledger = { currency: 'credits', balance: sumOf(blocks), nextSequenceNumber: 0 };
    const decision = decide(decrement(LARGEST), ledger, blocks, { now: NOW, newId: counterIds() });
    expect(decision.ok ? 'accepted' : decision.error).toMatchObject({
      code: 'balance_out_of_range',
      detail: expect.stringMatching(/block A's balance/),
    });
  });

  it.each([
    ['amount 0 and a block that does not exist', move('NOPE', '0', at(24)), 'amount_not_positive'],
    ['no source named, and a target in the past', move(null, '5', at(-1)), 'source_block_unnamed'],
    [
      'a block that does not exist and a target in the past',
      move('NOPE', '5', at(-1)),
      'block_not_found',
    ],
    [
      'no block with that expiry, and a target in the past',
      move(null, '5', at(-1), at(7)),
      'block_with_expiry_not_found',
    ],
    ['a voided block and more than it holds', move('V', '5', at(24)), 'block_voided'],
    ['an expired block and a target in the past', move('E', '5', at(-1)), 'block_expired'],
    ['a pending_payment block and more than it holds', move('P', '25', at(24)), 'block_not_active'],
    [
      'more than the block holds and a target in the past',
      move('A', '41', at(-1)),
      'insufficient_credits',
    ],
    [
      'a target in the past, before the block’s effective date',
      move('L', '5', at(-1)),
      'target_expiry_not_future',
    ],
  ])('expiration_change: %s', (_, command, code) => {
    expect(refusedWith(command, [block('A', '40'), voided, expired, unpaid, later])).toBe(code);
  });

  it('expiration_change: two blocks share the expiry and the target is in the past', () => {
    const twins = [block('X', '5', { expiresAt: at(7) }), block('Y', '5', { expiresAt: at(7) })];
    expect(refusedWith(move(null, '5', at(-1), at(7)), twins)).toBe('source_block_ambiguous');
  });

  it('expiration_change: an empty block whose whole balance is moved to a past target', () => {
    expect(refusedWith(move('Z', null, at(-1)), [block('Z', '0')])).toBe('block_has_no_credit');
  });

  it.each([
    ['amount 0 and a block that does not exist', voidOf('NOPE', '0'), 'amount_not_positive'],
    ['a voided block and more than it holds', voidOf('V', '5'), 'block_voided'],
    ['an expired block and more than it holds', voidOf('E', '5'), 'block_expired'],
    [
      'more than a pending_payment block holds, which is also partial',
      voidOf('P', '25'),
      'insufficient_credits',
    ],
    ['part of a pending_payment block', voidOf('P', '5'), 'block_awaits_payment'],
  ])('void: %s', (_, command, code) => {
    expect(refusedWith(command, [block('A', '40'), voided, expired, unpaid])).toBe(code);
  });

  it.each([
    ['amount 0 and a block that does not exist', amend('NOPE', '0'), 'amount_not_positive'],
    ['a block that does not exist', amend('NOPE', '5'), 'block_not_found'],
    ['a block voided and expired, past its initial balance', amend('VE', '500'), 'block_voided'],
    ['an expired block, past its initial balance', amend('E', '500'), 'block_expired'],
    [
      'past the initial balance of a block holding the largest balance',
      amend('A', '1'),
      'exceeds_initial_balance',
    ],
  ])('amendment: %s', (_, command, code) => {
    const both = block('VE', '0', {
      maximumInitialBalance: Decimal.of('50'),
      voidedAt: at(-2),
      expiresAt: at(-1),
    });
    expect(refusedWith(command, [block('A', LARGEST), both, expired])).toBe(code);
  });

  it.each([
    ['amount 0 for a customer with no currency', '0', null, '0', 'amount_not_positive'],
    ['no currency, and a balance past the limit', '1', null, LARGEST, 'customer_currency_missing'],
    ['a balance past the limit', '1', 'USD', LARGEST, 'balance_out_of_range'],
  ])('balance transaction: %s', (_, amount, currency, balance, code) => {
    const decision = decideBalanceTransaction(
      { type: 'increment', amount: Decimal.of(amount), description: null },
      { currency, balance: Decimal.of(balance) },
      { now: NOW, newId: counterIds() },
    );
    expect(codeOf(decision)).toBe(code);
  });

  it('invoice and deprecation have one rule each: invoice_not_issued, credits_not_returnable', () => {
    const blocks = [block('A', '40')];
    const ledger = { currency: 'credits', balance: sumOf(blocks), nextSequenceNumber: 0 };
    const context = { now: NOW, newId: counterIds() };
    const paid = { id: 'inv', blockId: 'A', status: 'paid' as const };
    expect(codeOf(decideInvoice({ type: 'void' }, paid, ledger, blocks, context))).toBe(
      'invoice_not_issued',
    );
    // A usage entry of 5 on a block refilled to its initial balance: nothing can go back.
    const entry = {
      id: 'e',
      priceId: 'p',
      blockId: 'A',
      usageDay: 'd',
      amount: Decimal.of('-5'),
      endingBalance: Decimal.of('35'),
    };
    expect(codeOf(decideDeprecation(ledger, blocks, [entry], Decimal.of('5'), context))).toBe(
      'credits_not_returnable',
    );
  });
});
