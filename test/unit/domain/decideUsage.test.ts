/**
 * Usage deductions (LEDGER_RULES.md §5, §8 examples 9 and 10): grouped per price, block and usage
 * day into one pending decrement that grows; drawn from blocks drawable at the start of the day,
 * filtered blocks for the price's item first; the rest onto the overdraft block.
 */
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import { decideUsage } from '../../../domain/decideUsage.ts';
import type { Block, Ledger, PendingUsageEntry, UsageGroup } from '../../../domain/types.ts';

const NOW = new Date('2026-11-21T20:00:00Z');
const DAY = '2026-11-21';
/** 2026-11-21 00:00 in America/Los_Angeles. */
const DAY_START = new Date('2026-11-21T08:00:00Z');
const CLOSES = new Date('2026-11-22T20:00:00Z');

function block(id: string, balance: string, overrides: Partial<Block> = {}): Block {
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
    ...overrides,
  };
}

function group(credits: string, overrides: Partial<UsageGroup> = {}): UsageGroup {
  return { priceId: 'price_gpu', itemId: 'gpu', usageDay: DAY, dayStartsAt: DAY_START, closesAt: CLOSES, credits: Decimal.of(credits), ...overrides };
}

function ids(): () => string {
  let next = 0;
  return () => `new-${++next}`;
}

const ledger = (balance: string, next = 1): Ledger => ({ currency: 'credits', balance: Decimal.of(balance), nextSequenceNumber: next });

describe('decideUsage', () => {
  it('§8 example 9: usage of item gpu draws from the gpu-filtered block first', () => {
    const blocks = [block('A', '100', { filters: [{ field: 'item_id', operator: 'includes', values: ['gpu'] }] }), block('B', '100')];
    const changes = decideUsage(ledger('200'), blocks, [], [group('30')], { now: NOW, newId: ids() });
    expect(changes.entries.map((e) => [e.entryType, e.entryStatus, e.blockId, e.amount.toString(), e.usage?.priceId])).toEqual([
      ['decrement', 'pending', 'A', '-30', 'price_gpu'],
    ]);
    expect(changes.updatedBlocks.map((b) => [b.id, b.balance.toString()])).toEqual([['A', '70']]);
    expect(changes.ledger.balance.toString()).toBe('170');
  });

  it('§8 example 10: three events of one price on one day make one pending decrement of -6', () => {
    const groups = [group('1'), group('2'), group('3')];
    const changes = decideUsage(ledger('100'), [block('A', '100')], [], groups, { now: NOW, newId: ids() });
    expect(changes.entries).toHaveLength(1);
    expect(changes.entries[0]?.amount.toString()).toBe('-6');
    expect(changes.entries[0]?.startingBalance.toString()).toBe('100');
    expect(changes.entries[0]?.endingBalance.toString()).toBe('94');
    expect(changes.ledger.balance.toString()).toBe('94');
    expect(changes.ledger.nextSequenceNumber).toBe(2);
  });

  it('grows a stored pending entry of the same group instead of adding one', () => {
    const stored: PendingUsageEntry = { id: 'E1', priceId: 'price_gpu', blockId: 'A', usageDay: DAY, amount: Decimal.of('-6'), endingBalance: Decimal.of('94') };
    const changes = decideUsage(ledger('94', 2), [block('A', '94')], [stored], [group('4')], { now: NOW, newId: ids() });
    expect(changes.entries).toEqual([]);
    expect(changes.grownEntries.map((e) => [e.id, e.amount.toString(), e.endingBalance.toString()])).toEqual([['E1', '-10', '90']]);
    expect(changes.ledger.balance.toString()).toBe('90');
    expect(changes.ledger.nextSequenceNumber).toBe(2);
  });

  it('keeps days apart: the same price on two days makes two entries', () => {
    const yesterday = group('5', { usageDay: '2026-11-20', dayStartsAt: new Date('2026-11-20T08:00:00Z') });
    const changes = decideUsage(ledger('100'), [block('A', '100')], [], [yesterday, group('7')], { now: NOW, newId: ids() });
    expect(changes.entries.map((e) => [e.usage?.usageDay, e.amount.toString()])).toEqual([
      ['2026-11-20', '-5'],
      [DAY, '-7'],
    ]);
  });

  it('draws only from blocks drawable at the start of the usage day', () => {
    // B became effective at noon: yesterday's usage cannot use it; today's can't either (§5).
    const blocks = [block('A', '10'), block('B', '50', { effectiveAt: new Date('2026-11-21T20:00:00Z') })];
    const changes = decideUsage(ledger('60'), blocks, [], [group('15')], { now: NOW, newId: ids() });
    // 10 from A, then the overdraft block: the last never-expiring unfiltered block live now is B.
    expect(changes.entries.map((e) => [e.blockId, e.amount.toString()])).toEqual([
      ['A', '-10'],
      ['B', '-5'],
    ]);
  });

  it('puts what no block covers on a fresh overdraft block, growing it for the rest of the batch', () => {
    const filtered = block('F', '10', { filters: [{ field: 'item_id', operator: 'includes', values: ['cpu'] }] });
    const changes = decideUsage(ledger('10'), [filtered], [], [group('3'), group('4')], { now: NOW, newId: ids() });
    expect(changes.newBlocks.map((b) => [b.id, b.balance.toString(), b.maximumInitialBalance.toString()])).toEqual([['new-1', '-7', '0']]);
    expect(changes.entries.map((e) => [e.blockId, e.amount.toString()])).toEqual([['new-1', '-7']]);
    expect(changes.ledger.balance.toString()).toBe('3');
  });

  it('expires due blocks before drawing', () => {
    const blocks = [block('X', '5', { expiresAt: new Date('2026-11-21T10:00:00Z') }), block('A', '10')];
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
