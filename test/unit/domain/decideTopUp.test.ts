/**
 * Automatic top-ups (domain/decideTopUp.ts): a decrement or a usage batch that takes the balance
 * from above the threshold to at or below it adds one invoiced increment, unless a top-up invoice
 * is still unpaid; a balance already at or below the threshold crosses nothing.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../../domain/decide.ts';
import { Decimal, INTEGER_DIGITS_MAX } from '../../../domain/decimal.ts';
import {
  isTopUpActive,
  needsTopUp,
  topUpCommand,
  TOP_UP_DESCRIPTION,
  type TopUpConfig,
  type TopUpState,
} from '../../../domain/decideTopUp.ts';
import { decideUsage } from '../../../domain/decideUsage.ts';
import { NET_TERMS_DAYS_MAX } from '../../../domain/invoiceFor.ts';
import type { LedgerCommand, UsageCharge } from '../../../domain/types.ts';
import {
  assertInvariants,
  block,
  counterIds,
  decrement,
  increment,
  NOW,
  sumOf,
} from './givenWhenThen.ts';

function config(overrides: Partial<TopUpConfig> = {}): TopUpConfig {
  return {
    currency: 'credits',
    amount: Decimal.of('100'),
    threshold: Decimal.of('10'),
    perUnitCostBasis: '0.5',
    timezone: 'UTC',
    invoice: {
      currency: 'USD',
      timezone: 'UTC',
      autoCollection: false,
      netTermsDays: 7,
      memo: null,
      requireSuccessfulPayment: false,
    },
    expiresAfter: null,
    expiresAfterUnit: null,
    activeFrom: null,
    ...overrides,
  };
}

const state = (unpaid = false, overrides: Partial<TopUpConfig> = {}): TopUpState => ({
  config: config(overrides),
  unpaid,
});

function run(
  amount: string,
  balance: string,
  topUp: TopUpState | null,
  command: LedgerCommand = decrement(amount),
) {
  const blocks = [block('A', balance)];
  const ledger = { currency: 'credits', balance: sumOf(blocks), nextSequenceNumber: 1 };
  const decision = decide(command, ledger, blocks, { now: NOW, newId: counterIds() }, topUp);
  if (!decision.ok) throw new Error(decision.error.detail);
  assertInvariants(blocks, ledger, decision.value);
  return decision.value;
}

describe('needsTopUp', () => {
  const d = Decimal.of;
  it('is true only for a crossing from above the threshold to at or below it, with no unpaid top-up', () => {
    expect(needsTopUp(d('11'), d('10'), config(), false)).toBe(true);
    expect(needsTopUp(d('11'), d('-5'), config(), false)).toBe(true);
    expect(needsTopUp(d('11'), d('10.5'), config(), false)).toBe(false);
    expect(needsTopUp(d('10'), d('5'), config(), false)).toBe(false);
    expect(needsTopUp(d('11'), d('5'), config(), true)).toBe(false);
  });
  it('leaves an invoice total that could not be exact to the increment, which refuses it', () => {
    expect(
      needsTopUp(
        d('11'),
        d('5'),
        config({ amount: d('0.0000001'), perUnitCostBasis: '0.0000001' }),
        false,
      ),
    ).toBe(true);
  });
});

describe('topUpCommand', () => {
  it('expires after the configured days or calendar months, and invoices the credits unpaid', () => {
    expect(topUpCommand(config(), NOW).expiresAt).toBeNull();
    expect(
      topUpCommand(config({ expiresAfter: 3, expiresAfterUnit: 'day' }), NOW).expiresAt,
    ).toEqual(new Date('2026-11-24T12:00:00Z'));
    expect(
      topUpCommand(config({ expiresAfter: 1, expiresAfterUnit: 'month' }), NOW).expiresAt,
    ).toEqual(new Date('2026-12-21T12:00:00Z'));
    const command = topUpCommand(config(), NOW);
    expect(command.invoice).toMatchObject({
      markAsPaid: false,
      topUp: true,
      netTermsDays: 7,
      currency: 'USD',
    });
  });
});

describe('decide with a top-up', () => {
  it('a decrement crossing the threshold adds one increment of the top-up amount with its invoice', () => {
    const changes = run('15', '20', state());
    expect(changes.entries.map((e) => [e.entryType, e.amount.toString()])).toEqual([
      ['decrement', '-15'],
      ['increment', '100'],
    ]);
    expect(changes.entries[1]!.description).toBe(TOP_UP_DESCRIPTION);
    // The request answers with the decrement: the top-up's entries come after `automaticFrom`.
    expect(changes.automaticFrom).toBe(1);
    expect(changes.ledger.balance.toString()).toBe('105');
    expect(changes.invoices).toHaveLength(1);
    expect(changes.invoices![0]).toMatchObject({ status: 'issued', topUp: true, currency: 'USD' });
    expect(changes.invoices![0]!.total.toString()).toBe('50');
  });

  it('adds none when the balance stays above, was already at or below, or a top-up is unpaid', () => {
    expect(run('5', '20', state()).entries).toHaveLength(1);
    expect(run('5', '10', state()).entries).toHaveLength(1);
    expect(run('15', '20', state(true)).entries).toHaveLength(1);
    expect(run('15', '20', null).entries).toHaveLength(1);
    expect(run('15', '20', state(false, { currency: 'USD' })).entries).toHaveLength(1);
  });

  it('adds none for commands other than decrements', () => {
    const changes = run('5', '20', state(), increment('1'));
    expect(changes.entries.map((e) => e.entryType)).toEqual(['increment']);
  });

  it('a top-up that waits for payment is pending_payment', () => {
    const changes = run('15', '20', {
      config: config({ invoice: { ...config().invoice, requireSuccessfulPayment: true } }),
      unpaid: false,
    });
    expect(changes.newBlocks.at(-1)!.status).toBe('pending_payment');
  });
});

describe('decideUsage with a top-up', () => {
  const group = (usageDay: string, credits: string): UsageCharge => ({
    priceId: 'p1',
    itemId: 'item',
    usageDay,
    at: new Date(`${usageDay}T00:00:00Z`),
    closesAt: new Date('2026-11-23T00:00:00Z'),
    credits: Decimal.of(credits),
  });

  it('a batch crossing many times gets one top-up while it is unpaid', () => {
    const blocks = [block('A', '20')];
    const ledger = { currency: 'credits', balance: sumOf(blocks), nextSequenceNumber: 1 };
    const groups = [
      group('2026-11-19', '15'),
      group('2026-11-20', '95'),
      group('2026-11-21', '95'),
    ];
    const changes = decideUsage(
      ledger,
      blocks,
      [],
      groups,
      { now: NOW, newId: counterIds() },
      state(),
    );
    assertInvariants(blocks, ledger, changes);
    expect(changes.entries.filter((e) => e.entryType === 'increment')).toHaveLength(1);
    expect(changes.invoices).toHaveLength(1);
    expect(changes.ledger.balance.toString()).toBe(String(20 - 15 - 95 - 95 + 100));
  });

  it('no top-up when one is already unpaid', () => {
    const blocks = [block('A', '20')];
    const ledger = { currency: 'credits', balance: sumOf(blocks), nextSequenceNumber: 1 };
    const changes = decideUsage(
      ledger,
      blocks,
      [],
      [group('2026-11-21', '15')],
      { now: NOW, newId: counterIds() },
      state(true),
    );
    expect(changes.entries.filter((e) => e.entryType === 'increment')).toHaveLength(0);
  });
});

describe('a top-up with active_from', () => {
  const later = (ms: number) => new Date(NOW.getTime() + ms);

  it('is active from that instant on, and always when active_from is null', () => {
    expect(isTopUpActive(config(), NOW)).toBe(true);
    expect(isTopUpActive(config({ activeFrom: later(1) }), NOW)).toBe(false);
    expect(isTopUpActive(config({ activeFrom: NOW }), NOW)).toBe(true);
    expect(isTopUpActive(config({ activeFrom: later(-1) }), NOW)).toBe(true);
  });

  it('adds nothing to a decrement crossing the threshold before active_from, and tops up at or after it', () => {
    expect(
      run('15', '20', state(false, { activeFrom: later(60_000) })).entries.map((e) => e.entryType),
    ).toEqual(['decrement']);
    const at = run('15', '20', state(false, { activeFrom: NOW }));
    expect(at.entries.map((e) => e.entryType)).toEqual(['decrement', 'increment']);
    expect(at.entries[1]!.description).toBe(TOP_UP_DESCRIPTION);
  });

  it('adds nothing to a usage batch crossing the threshold before active_from', () => {
    const charge: UsageCharge = {
      priceId: 'p1',
      itemId: 'item',
      usageDay: '2026-11-21',
      at: new Date('2026-11-21T00:00:00Z'),
      closesAt: new Date('2026-11-23T00:00:00Z'),
      credits: Decimal.of('15'),
    };
    for (const [activeFrom, increments] of [
      [later(1), 0],
      [NOW, 1],
    ] as const) {
      const blocks = [block('A', '20')];
      const ledger = { currency: 'credits', balance: sumOf(blocks), nextSequenceNumber: 1 };
      const changes = decideUsage(
        ledger,
        blocks,
        [],
        [charge],
        { now: NOW, newId: counterIds() },
        state(false, { activeFrom }),
      );
      assertInvariants(blocks, ledger, changes);
      expect(changes.entries.filter((e) => e.entryType === 'increment')).toHaveLength(increments);
    }
  });
});

describe('a top-up the rules refuse', () => {
  // LEDGER_RULES.md: a top-up that cannot be made must not fail the usage or decrement that
  // triggered it, and must not be lost: the changes carry the refusal for the shell to log.
  const inexact = { amount: Decimal.of('0.0000001'), perUnitCostBasis: '0.0000001' };
  const largest = '9'.repeat(INTEGER_DIGITS_MAX);

  it.each([
    ['an invoice total that cannot be exact', inexact, 'invoice_total_inexact'],
    [
      'net terms past the limit',
      { invoice: { ...config().invoice, netTermsDays: NET_TERMS_DAYS_MAX + 1 } },
      'net_terms_out_of_range',
    ],
    ['a balance past numeric(38,12)', { amount: Decimal.of(largest) }, 'balance_out_of_range'],
  ] as const)(
    'with %s still applies the decrement, alone, and reports the refusal',
    (_what, overrides, code) => {
      const changes = run('15', '20', state(false, overrides));
      expect(changes.entries.map((e) => [e.entryType, e.amount.toString()])).toEqual([
        ['decrement', '-15'],
      ]);
      expect(changes.ledger.balance.toString()).toBe('5');
      expect(changes.newBlocks).toEqual([]);
      expect(changes.invoices).toBeUndefined();
      expect(changes.automaticFrom).toBeUndefined();
      expect(changes.topUpRefused).toMatchObject({ code, kind: 'request_validation' });
    },
  );

  it('reports nothing when the top-up is made or not called for', () => {
    expect(run('15', '20', state()).topUpRefused).toBeUndefined();
    expect(run('5', '20', state(false, inexact)).topUpRefused).toBeUndefined();
  });

  it('still applies a usage batch that crossed the threshold, and reports the refusal once', () => {
    const blocks = [block('A', '20')];
    const ledger = { currency: 'credits', balance: sumOf(blocks), nextSequenceNumber: 1 };
    const charge = (credits: string, itemId: string): UsageCharge => ({
      priceId: 'p1',
      itemId,
      usageDay: 'day',
      at: NOW,
      closesAt: new Date(NOW.getTime() + 86_400_000),
      credits: Decimal.of(credits),
    });
    const changes = decideUsage(
      ledger,
      blocks,
      [],
      // Two runs (two items): the first crosses the threshold, the second stays below it.
      [charge('15', 'a'), charge('3', 'b')],
      { now: NOW, newId: counterIds() },
      state(false, inexact),
    );
    assertInvariants(blocks, ledger, changes);
    expect(changes.ledger.balance.toString()).toBe('2');
    expect(changes.entries.every((e) => e.entryType === 'decrement')).toBe(true);
    expect(changes.topUpRefused).toMatchObject({ code: 'invoice_total_inexact' });
  });
});
