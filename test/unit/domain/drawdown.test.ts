/**
 * Which blocks a deduction may draw from and in what order (LEDGER_RULES.md §2 "drawable", §3),
 * `take` across an ordered list, and the choice of overdraft block (§4 decrement).
 */
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import {
  admitsItem,
  compareDrawdown,
  drawdownOrder,
  findOverdraftBlock,
  isDrawable,
  take,
} from '../../../domain/drawdown.ts';
import type { Block, BlockFilter } from '../../../domain/types.ts';

const NOW = new Date('2026-11-21T12:00:00Z');
const LONG_AGO = new Date('2020-01-01T00:00:00Z');

let createdSeconds = 0;
/** Later calls get later `createdAt`, so creation order is the default age order. */
function block(id: string, overrides: Partial<Block> = {}): Block {
  createdSeconds += 1;
  return {
    id,
    currency: 'credits',
    balance: Decimal.of('100'),
    maximumInitialBalance: Decimal.of('100'),
    effectiveAt: LONG_AGO,
    expiresAt: null,
    perUnitCostBasis: null,
    filters: [],
    status: 'active',
    voidedAt: null,
    createdAt: new Date(Date.UTC(2025, 0, 1, 0, 0, createdSeconds)),
    // Before any entry a decision writes (those number from the ledger's next, >= 0); call order.
    creationSequence: createdSeconds - 1_000_000,
    ...overrides,
  };
}

const includes = (...values: string[]): BlockFilter => ({
  field: 'item_id',
  operator: 'includes',
  values,
});
const excludes = (...values: string[]): BlockFilter => ({
  field: 'item_id',
  operator: 'excludes',
  values,
});
const ids = (blocks: readonly Block[]) => blocks.map((b) => b.id);
/** Sorts `[second, first]` and returns the ids, so each case shows which rule put `first` first. */
const ordered = (first: Block, second: Block) => ids([second, first].sort(compareDrawdown));

describe('admitsItem', () => {
  it('a block without filters admits every item and the manual decrement', () => {
    const b = block('a');
    expect(admitsItem(b, 'gpu')).toBe(true);
    expect(admitsItem(b, 'cpu')).toBe(true);
    expect(admitsItem(b, null)).toBe(true);
  });

  it('includes admits only the listed items', () => {
    const b = block('a', { filters: [includes('gpu', 'tpu')] });
    expect(admitsItem(b, 'gpu')).toBe(true);
    expect(admitsItem(b, 'tpu')).toBe(true);
    expect(admitsItem(b, 'cpu')).toBe(false);
  });

  it('excludes admits everything but the listed items', () => {
    const b = block('a', { filters: [excludes('gpu')] });
    expect(admitsItem(b, 'gpu')).toBe(false);
    expect(admitsItem(b, 'cpu')).toBe(true);
  });

  it('a manual decrement (no item) is refused by any filtered block (choice, §2)', () => {
    expect(admitsItem(block('a', { filters: [includes('gpu')] }), null)).toBe(false);
    expect(admitsItem(block('b', { filters: [excludes('gpu')] }), null)).toBe(false);
  });
});

describe('isDrawable', () => {
  it('an active, effective, unexpired block with credit is drawable', () => {
    expect(isDrawable(block('a'), NOW, null)).toBe(true);
    expect(isDrawable(block('a', { expiresAt: new Date(NOW.getTime() + 1) }), NOW, null)).toBe(
      true,
    );
  });

  it('effective at exactly now is drawable', () => {
    expect(isDrawable(block('a', { effectiveAt: NOW }), NOW, null)).toBe(true);
  });

  it.each<[string, Partial<Block>]>([
    ['pending_payment', { status: 'pending_payment' }],
    ['voided', { voidedAt: new Date('2026-11-01T00:00:00Z') }],
    ['effective in the future', { effectiveAt: new Date(NOW.getTime() + 1) }],
    ['expiring at exactly now', { expiresAt: NOW }],
    ['already expired', { expiresAt: new Date('2026-01-01T00:00:00Z') }],
    ['with zero balance', { balance: Decimal.ZERO }],
    ['with negative balance', { balance: Decimal.of('-5') }],
  ])('a block %s is not drawable', (_label, overrides) => {
    expect(isDrawable(block('a', overrides), NOW, null)).toBe(false);
  });

  it('a filtered block is drawable only for the items it admits', () => {
    const gpuOnly = block('a', { filters: [includes('gpu')] });
    expect(isDrawable(gpuOnly, NOW, 'gpu')).toBe(true);
    expect(isDrawable(gpuOnly, NOW, 'cpu')).toBe(false);
    expect(isDrawable(gpuOnly, NOW, null)).toBe(false);
  });
});

describe('compareDrawdown (§3), one rule at a time', () => {
  it('1. a filtered block that admits the item comes before an unfiltered one', () => {
    // The unfiltered block would win on every later rule.
    const unfiltered = block('a', {
      expiresAt: new Date('2026-12-01T00:00:00Z'),
      perUnitCostBasis: '0.01',
    });
    const filtered = block('b', { filters: [includes('gpu')], perUnitCostBasis: '5.00' });
    expect(ordered(filtered, unfiltered)).toEqual(['b', 'a']);
    expect(ids(drawdownOrder([unfiltered, filtered], NOW, 'gpu'))).toEqual(['b', 'a']);
  });

  it('2. soonest expiry first', () => {
    const later = block('a', {
      expiresAt: new Date('2027-01-01T00:00:00Z'),
      perUnitCostBasis: '0.01',
    });
    const sooner = block('b', {
      expiresAt: new Date('2026-12-01T00:00:00Z'),
      perUnitCostBasis: '5.00',
    });
    expect(ordered(sooner, later)).toEqual(['b', 'a']);
  });

  it('2. never-expiring last', () => {
    const never = block('a', { expiresAt: null, perUnitCostBasis: '0.01' });
    const farFuture = block('b', {
      expiresAt: new Date('2099-01-01T00:00:00Z'),
      perUnitCostBasis: '5.00',
    });
    expect(ordered(farFuture, never)).toEqual(['b', 'a']);
  });

  it('3. lower cost basis first, compared as decimals', () => {
    const dear = block('a', { perUnitCostBasis: '1.00' });
    const cheap = block('b', { perUnitCostBasis: '0.20' });
    expect(ordered(cheap, dear)).toEqual(['b', 'a']);
    // Text order would put "10" before "9".
    const ten = block('c', { perUnitCostBasis: '10' });
    const nine = block('d', { perUnitCostBasis: '9' });
    expect(ordered(nine, ten)).toEqual(['d', 'c']);
  });

  it('3. a null cost basis counts as 0', () => {
    const paid = block('a', { perUnitCostBasis: '0.01' });
    const free = block('b', { perUnitCostBasis: null });
    expect(ordered(free, paid)).toEqual(['b', 'a']);
    const zero = block('c', { perUnitCostBasis: '0.00' });
    const nullBasis = block('d', { perUnitCostBasis: null });
    // Equal cost: falls through to age, so the older one (c) is first either way round.
    expect(ids([nullBasis, zero].sort(compareDrawdown))).toEqual(['c', 'd']);
  });

  it('4. creation order: the block made by the earlier entry first, whatever its created_at', () => {
    const older = block('z', { createdAt: new Date('2025-06-01T00:00:00Z'), creationSequence: 3 });
    const newer = block('a', { createdAt: new Date('2025-01-01T00:00:00Z'), creationSequence: 7 });
    expect(ordered(older, newer)).toEqual(['z', 'a']);
  });

  it('4. §8 example 12: made in one instant, the earlier entry first; random ids never decide', () => {
    const createdAt = new Date('2025-01-01T00:00:00Z');
    // B's id sorts before A's, so an id tie-break would put B first.
    const a = block('zz-A', { createdAt, creationSequence: 0, balance: Decimal.of('50') });
    const b = block('aa-B', { createdAt, creationSequence: 1, balance: Decimal.of('50') });
    expect(ordered(a, b)).toEqual(['zz-A', 'aa-B']);
    expect(compareDrawdown(a, a)).toBe(0);
    const { taken } = take(drawdownOrder([b, a], NOW, null), Decimal.of('60'));
    expect(taken.map((t) => [t.block.id, t.amount.toString()])).toEqual([
      ['zz-A', '50'],
      ['aa-B', '10'],
    ]);
  });

  it('the order is total: any input permutation gives the same result', () => {
    const blocks = [
      block('e', { expiresAt: null }),
      block('d', { expiresAt: null, perUnitCostBasis: '0.5' }),
      block('c', { expiresAt: new Date('2027-01-01T00:00:00Z') }),
      block('b', { expiresAt: new Date('2026-12-01T00:00:00Z') }),
      block('a', { filters: [excludes('cpu')], expiresAt: null }),
    ];
    const expected = ['a', 'b', 'c', 'e', 'd'];
    expect(ids(drawdownOrder(blocks, NOW, 'gpu'))).toEqual(expected);
    expect(ids(drawdownOrder([...blocks].reverse(), NOW, 'gpu'))).toEqual(expected);
  });

  it('drawdownOrder leaves out blocks that are not drawable', () => {
    const blocks = [
      block('ok'),
      block('empty', { balance: Decimal.ZERO }),
      block('pending', { status: 'pending_payment' }),
      block('filtered', { filters: [includes('gpu')] }),
    ];
    expect(ids(drawdownOrder(blocks, NOW, null))).toEqual(['ok']);
  });
});

describe('take', () => {
  it('spans blocks front to back and reports the remainder', () => {
    const a = block('a', { balance: Decimal.of('30') });
    const b = block('b', { balance: Decimal.of('20.5') });
    const { taken, remainder } = take([a, b], Decimal.of('60'));
    expect(taken.map((t) => [t.block.id, t.amount.toString()])).toEqual([
      ['a', '30'],
      ['b', '20.5'],
    ]);
    expect(remainder.toString()).toBe('9.5');
  });

  it('stops as soon as the amount is covered', () => {
    const a = block('a', { balance: Decimal.of('30') });
    const b = block('b', { balance: Decimal.of('20') });
    const c = block('c', { balance: Decimal.of('20') });
    const { taken, remainder } = take([a, b, c], Decimal.of('40.000000000001'));
    expect(taken.map((t) => [t.block.id, t.amount.toString()])).toEqual([
      ['a', '30'],
      ['b', '10.000000000001'],
    ]);
    expect(remainder.toString()).toBe('0');
  });

  it('takes exactly a whole block with nothing left over', () => {
    const a = block('a', { balance: Decimal.of('30') });
    const { taken, remainder } = take([a], Decimal.of('30'));
    expect(taken.map((t) => t.amount.toString())).toEqual(['30']);
    expect(remainder.isZero()).toBe(true);
  });

  it('skips blocks with nothing to give', () => {
    const empty = block('empty', { balance: Decimal.ZERO });
    const negative = block('negative', { balance: Decimal.of('-5') });
    const a = block('a', { balance: Decimal.of('10') });
    const { taken, remainder } = take([empty, negative, a], Decimal.of('4'));
    expect(taken.map((t) => [t.block.id, t.amount.toString()])).toEqual([['a', '4']]);
    expect(remainder.toString()).toBe('0');
  });

  it('with no blocks the whole amount is the remainder', () => {
    const { taken, remainder } = take([], Decimal.of('7'));
    expect(taken).toEqual([]);
    expect(remainder.toString()).toBe('7');
  });

  it('does not change the blocks it takes from', () => {
    const a = block('a', { balance: Decimal.of('30') });
    take([a], Decimal.of('10'));
    expect(a.balance.toString()).toBe('30');
  });
});

describe('findOverdraftBlock', () => {
  it('picks the last never-expiring unfiltered active block in drawdown order', () => {
    const cheap = block('cheap', { perUnitCostBasis: '0.00' });
    const dear = block('dear', { perUnitCostBasis: '1.00' });
    const oldDear = block('old-dear', {
      perUnitCostBasis: '1.00',
      createdAt: new Date('2026-01-01T00:00:00Z'),
      creationSequence: -2_000_000,
    });
    expect(findOverdraftBlock([dear, cheap, oldDear], NOW)?.id).toBe('dear');
  });

  it('may pick a block whose balance is already zero or negative', () => {
    const drawn = block('drawn', { balance: Decimal.of('-5') });
    expect(findOverdraftBlock([drawn], NOW)?.id).toBe('drawn');
    const empty = block('empty', { balance: Decimal.ZERO });
    expect(findOverdraftBlock([empty], NOW)?.id).toBe('empty');
  });

  it('ignores expiring, filtered, voided, pending and future blocks', () => {
    const eligible = block('eligible', { perUnitCostBasis: '0.00' });
    const others = [
      block('expiring', { expiresAt: new Date('2099-01-01T00:00:00Z'), perUnitCostBasis: '9' }),
      block('filtered', { filters: [excludes('gpu')], perUnitCostBasis: '9' }),
      block('voided', { voidedAt: new Date('2026-11-01T00:00:00Z'), perUnitCostBasis: '9' }),
      block('pending', { status: 'pending_payment', perUnitCostBasis: '9' }),
      block('future', { effectiveAt: new Date('2026-12-01T00:00:00Z'), perUnitCostBasis: '9' }),
    ];
    expect(findOverdraftBlock([eligible, ...others], NOW)?.id).toBe('eligible');
  });

  it('returns undefined when no block qualifies', () => {
    expect(findOverdraftBlock([], NOW)).toBeUndefined();
    const none = [
      block('expiring', { expiresAt: new Date('2099-01-01T00:00:00Z') }),
      block('filtered', { filters: [includes('gpu')] }),
      block('voided', { voidedAt: new Date('2026-11-01T00:00:00Z') }),
      block('future', { effectiveAt: new Date('2026-12-01T00:00:00Z') }),
    ];
    expect(findOverdraftBlock(none, NOW)).toBeUndefined();
  });
});
