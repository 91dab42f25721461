/**
 * Usage deductions (LEDGER_RULES.md §5, §8 examples 9, 10 and 11): grouped per price, block and
 * usage day into one pending decrement that grows; each event drawn from the blocks drawable at
 * its own instant, in the order the events were accepted, filtered blocks for the price's item
 * first; the rest onto the overdraft block.
 */
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import { decideUsage } from '../../../domain/decideUsage.ts';
import type { Block, Ledger, PendingUsageEntry, UsageCharge } from '../../../domain/types.ts';

const NOW = new Date('2026-11-21T20:00:00Z');
const DAY = '2026-11-21';
/** 2026-11-21 00:00 in America/Los_Angeles. */
const DAY_START = new Date('2026-11-21T08:00:00Z');
/** 2026-11-21 at `hour`:00 in America/Los_Angeles (PST, UTC-8). */
const laToday = (hour: number) => new Date(DAY_START.getTime() + hour * 3_600_000);
const CLOSES = new Date('2026-11-22T20:00:00Z');

let made = 0;
/** Later calls are made later: creation order is call order, before any entry a decision writes. */
function block(id: string, balance: string, overrides: Partial<Block> = {}): Block {
  made += 1;
  return {
    id,
    currency: 'credits',
    balance: Decimal.of(balance),
    maximumInitialBalance: Decimal.of(balance),
    effectiveAt: new Date('2026-01-01T00:00:00Z'),
    expiresAt: null,
    perUnitCostBasis: null,
    filters: [],
    status: 'active',
    voidedAt: null,
    createdAt: new Date(`2026-01-01T00:00:0${id.length}Z`),
    creationSequence: made - 1_000_000,
    ...overrides,
  };
}

/** One event's charge; at 09:00 LA today unless told. */
function group(credits: string, overrides: Partial<UsageCharge> = {}): UsageCharge {
  return {
    priceId: 'price_gpu',
    itemId: 'gpu',
    usageDay: DAY,
    at: laToday(9),
    closesAt: CLOSES,
    credits: Decimal.of(credits),
    ...overrides,
  };
}

function ids(): () => string {
  let next = 0;
  return () => `new-${++next}`;
}

const ledger = (balance: string, next = 1): Ledger => ({
  currency: 'credits',
  balance: Decimal.of(balance),
  nextSequenceNumber: next,
});

describe('decideUsage', () => {
  it('§8 example 9: usage of item gpu draws from the gpu-filtered block first', () => {
    const blocks = [
      block('A', '100', { filters: [{ field: 'item_id', operator: 'includes', values: ['gpu'] }] }),
      block('B', '100'),
    ];
    const changes = decideUsage(ledger('200'), blocks, [], [group('30')], {
      now: NOW,
      newId: ids(),
    });
    expect(
      changes.entries.map((e) => [
        e.entryType,
        e.entryStatus,
        e.blockId,
        e.amount.toString(),
        e.usage?.priceId,
      ]),
    ).toEqual([['decrement', 'pending', 'A', '-30', 'price_gpu']]);
    expect(changes.updatedBlocks.map((b) => [b.id, b.balance.toString()])).toEqual([['A', '70']]);
    expect(changes.ledger.balance.toString()).toBe('170');
  });

  it('§8 example 10: three events of one price on one day make one pending decrement of -6', () => {
    const groups = [group('1'), group('2'), group('3')];
    const changes = decideUsage(ledger('100'), [block('A', '100')], [], groups, {
      now: NOW,
      newId: ids(),
    });
    expect(changes.entries).toHaveLength(1);
    expect(changes.entries[0]?.amount.toString()).toBe('-6');
    expect(changes.entries[0]?.startingBalance.toString()).toBe('100');
    expect(changes.entries[0]?.endingBalance.toString()).toBe('94');
    expect(changes.ledger.balance.toString()).toBe('94');
    expect(changes.ledger.nextSequenceNumber).toBe(2);
  });

  it('grows a stored pending entry of the same group instead of adding one', () => {
    const stored: PendingUsageEntry = {
      id: 'E1',
      priceId: 'price_gpu',
      blockId: 'A',
      usageDay: DAY,
      amount: Decimal.of('-6'),
      endingBalance: Decimal.of('94'),
    };
    const changes = decideUsage(ledger('94', 2), [block('A', '94')], [stored], [group('4')], {
      now: NOW,
      newId: ids(),
    });
    expect(changes.entries).toEqual([]);
    expect(
      changes.grownEntries.map((e) => [e.id, e.amount.toString(), e.endingBalance.toString()]),
    ).toEqual([['E1', '-10', '90']]);
    expect(changes.ledger.balance.toString()).toBe('90');
    expect(changes.ledger.nextSequenceNumber).toBe(2);
  });

  it('keeps days apart: the same price on two days makes two entries', () => {
    const yesterday = group('5', { usageDay: '2026-11-20', at: new Date('2026-11-20T17:00:00Z') });
    const changes = decideUsage(ledger('100'), [block('A', '100')], [], [yesterday, group('7')], {
      now: NOW,
      newId: ids(),
    });
    expect(changes.entries.map((e) => [e.usage?.usageDay, e.amount.toString()])).toEqual([
      ['2026-11-20', '-5'],
      [DAY, '-7'],
    ]);
  });

  it('§8 example 11: credits effective at 14:00 cover usage stamped 15:00 the same day', () => {
    // A expires (in a month), so it could not be the overdraft block either: before the rule
    // changed, drawing at the start of the day found nothing and made a fresh overdraft block.
    const a = block('A', '100', {
      effectiveAt: laToday(14),
      expiresAt: new Date('2026-12-21T08:00:00Z'),
    });
    const changes = decideUsage(ledger('100'), [a], [], [group('30', { at: laToday(15) })], {
      now: NOW,
      newId: ids(),
    });
    expect(
      changes.entries.map((e) => [e.entryType, e.entryStatus, e.blockId, e.amount.toString()]),
    ).toEqual([['decrement', 'pending', 'A', '-30']]);
    expect(changes.updatedBlocks.map((b) => [b.id, b.balance.toString()])).toEqual([['A', '70']]);
    expect(changes.newBlocks).toEqual([]);
  });

  it('§8 example 11 as written: a never-expiring block effective at 14:00 pays for 15:00 usage', () => {
    const changes = decideUsage(
      ledger('100'),
      [block('A', '100', { effectiveAt: laToday(14) })],
      [],
      [group('30', { at: laToday(15) })],
      {
        now: NOW,
        newId: ids(),
      },
    );
    expect(changes.entries.map((e) => [e.blockId, e.amount.toString()])).toEqual([['A', '-30']]);
    expect(changes.newBlocks).toEqual([]);
  });

  it('an event before a block was effective does not draw from it, even as the overdraft block', () => {
    // B (never expiring, unfiltered) would be the overdraft block; its credit was bought after
    // the event, so the rest goes onto a fresh overdraft block instead.
    const blocks = [
      block('A', '10', { expiresAt: new Date('2026-12-21T08:00:00Z') }),
      block('B', '50', { effectiveAt: laToday(14) }),
    ];
    const changes = decideUsage(ledger('60'), blocks, [], [group('15', { at: laToday(13) })], {
      now: laToday(16),
      newId: ids(),
    });
    expect(changes.entries.map((e) => [e.blockId, e.amount.toString()])).toEqual([
      ['A', '-10'],
      ['new-1', '-5'],
    ]);
    expect(changes.newBlocks.map((b) => [b.id, b.balance.toString()])).toEqual([['new-1', '-5']]);
  });

  it('each event of a batch draws from the blocks drawable at its own instant, in acceptance order', () => {
    // E expires at 12:00 LA; L is effective from 14:00. One price, one day, three events accepted
    // in this order: 11:00 (only E), 15:00 (only L), 10:00 (only E).
    const blocks = [
      block('E', '20', { expiresAt: laToday(12) }),
      block('L', '100', { effectiveAt: laToday(14), expiresAt: new Date('2026-12-21T08:00:00Z') }),
    ];
    const now = laToday(16);
    const charges = [
      group('5', { at: laToday(11) }),
      group('7', { at: laToday(15) }),
      group('3', { at: laToday(10) }),
    ];
    // E expired at 12:00: the catch-up at 16:00 takes its 20, so the 11:00 and 10:00 events find it empty.
    const changes = decideUsage(ledger('120'), blocks, [], charges, { now, newId: ids() });
    expect(changes.entries.map((e) => [e.entryType, e.blockId, e.amount.toString()])).toEqual([
      ['credit_block_expiry', 'E', '-20'],
      ['decrement', 'new-2', '-8'],
      ['decrement', 'L', '-7'],
    ]);
  });

  it('the order events were accepted in decides which event gets the shared credit', () => {
    // Y (gpu) is live all day; X (unfiltered, never expiring) only from 14:00. 10 credits at 13:00
    // and 10 at 15:00: accepted 13:00 first, the early event takes Y and the late one X; accepted
    // 15:00 first, the late event takes Y (filtered first) and the early one finds nothing it may
    // draw: X's credit was bought after it, so a fresh overdraft block takes it.
    const blocks = [
      block('Y', '10', { filters: [{ field: 'item_id', operator: 'includes', values: ['gpu'] }] }),
      block('X', '10', { effectiveAt: laToday(14) }),
    ];
    const now = laToday(16);
    const early = group('10', { at: laToday(13) });
    const late = group('10', { at: laToday(15) });
    const inOrder = decideUsage(ledger('20'), blocks, [], [early, late], { now, newId: ids() });
    expect(inOrder.entries.map((e) => [e.blockId, e.amount.toString()])).toEqual([
      ['Y', '-10'],
      ['X', '-10'],
    ]);
    const lateFirst = decideUsage(ledger('20'), blocks, [], [late, early], { now, newId: ids() });
    expect(lateFirst.entries.map((e) => [e.blockId, e.amount.toString()])).toEqual([
      ['Y', '-10'],
      ['new-2', '-10'],
    ]);
  });

  it('a block voided since the event holds nothing for it', () => {
    const blocks = [block('V', '50', { voidedAt: laToday(11) }), block('A', '40')];
    const changes = decideUsage(ledger('90'), blocks, [], [group('5', { at: laToday(10) })], {
      now: NOW,
      newId: ids(),
    });
    expect(changes.entries.map((e) => [e.blockId, e.amount.toString()])).toEqual([['A', '-5']]);
  });

  it('a long batch of interleaved prices is drawn event by event, in runs', () => {
    // 3,000 events alternating two prices on one block: every event still lands in its group.
    const charges = Array.from({ length: 3000 }, (_, i) =>
      group('1', { priceId: i % 2 === 0 ? 'p_even' : 'p_odd', at: laToday(1 + (i % 20)) }),
    );
    const started = performance.now();
    const changes = decideUsage(ledger('5000'), [block('A', '5000')], [], charges, {
      now: laToday(22),
      newId: ids(),
    });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(changes.entries.map((e) => [e.usage?.priceId, e.amount.toString()])).toEqual([
      ['p_even', '-1500'],
      ['p_odd', '-1500'],
    ]);
    expect(changes.ledger.balance.toString()).toBe('2000');
  });

  it('puts what no block covers on a fresh overdraft block, growing it for the rest of the batch', () => {
    const filtered = block('F', '10', {
      filters: [{ field: 'item_id', operator: 'includes', values: ['cpu'] }],
    });
    const changes = decideUsage(ledger('10'), [filtered], [], [group('3'), group('4')], {
      now: NOW,
      newId: ids(),
    });
    expect(
      changes.newBlocks.map((b) => [
        b.id,
        b.balance.toString(),
        b.maximumInitialBalance.toString(),
      ]),
    ).toEqual([['new-1', '-7', '0']]);
    expect(changes.entries.map((e) => [e.blockId, e.amount.toString()])).toEqual([['new-1', '-7']]);
    expect(changes.ledger.balance.toString()).toBe('3');
  });

  it('expires due blocks before drawing', () => {
    const blocks = [
      block('X', '5', { expiresAt: new Date('2026-11-21T10:00:00Z') }),
      block('A', '10'),
    ];
    const changes = decideUsage(ledger('15'), blocks, [], [group('2')], { now: NOW, newId: ids() });
    expect(changes.entries.map((e) => [e.entryType, e.blockId, e.amount.toString()])).toEqual([
      ['credit_block_expiry', 'X', '-5'],
      ['decrement', 'A', '-2'],
    ]);
  });
});

describe('Decimal.timesRounded', () => {
  it.each([
    ['3', '0.002', '0.006'],
    ['0.5', '0.000000000001', '0'], // 0.5e-12 rounds half to even: 0
    ['1.5', '0.000000000001', '0.000000000002'], // 1.5e-12 rounds half to even: 2e-12
    ['2.5', '0.000000000001', '0.000000000002'],
    ['-1.5', '0.000000000001', '-0.000000000002'],
    ['1234.5678', '0.0001', '0.12345678'],
  ])('%s × %s = %s', (a, b, expected) => {
    expect(Decimal.of(a).timesRounded(Decimal.of(b)).toString()).toBe(expected);
  });
});
