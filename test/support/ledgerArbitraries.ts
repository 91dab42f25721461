/**
 * The command pieces both model-based tests generate (test/unit/domain/decide.property.test.ts
 * against the pure domain, test/integration/api/ledgerModel.property.test.ts through HTTP): exact
 * amount texts, the expiry grid, which block a command names, block filters; and how those choices resolve against
 * the reference model's current blocks.
 */
import fc from 'fast-check';
import { Decimal } from '../../domain/decimal.ts';
import type { BlockFilter } from '../../domain/types.ts';
import type { ModelBlock } from './referenceLedger.ts';

export const ITEMS = ['gpu', 'cpu', 'storage'];

/** Expiry dates sit on a 6-hour grid so that blocks share expiries and the clock lands on them. */
export const GRID_MS = 6 * 60 * 60 * 1000;
const GRID_ORIGIN = Date.UTC(2026, 10, 21, 0, 0, 0);
/** The id a command names when its generated block pick finds no block. */
export const MISSING_BLOCK_ID = 'no-such-block';

/** The k-th grid instant strictly after `after` (k = 0: the next one). */
export function gridAfter(after: Date, k: number): Date {
  const index = Math.floor((after.getTime() - GRID_ORIGIN) / GRID_MS) + 1 + k;
  return new Date(GRID_ORIGIN + index * GRID_MS);
}

export type AmountSpec = { all: true } | { half: true } | { fixed: string };
/** Any block by creation order, one still holding (or owing) credit, one drawn from, or an unknown id. */
export type BlockPick =
  { index: number } | { liveIndex: number } | { drawnIndex: number } | { missing: true };

export const amountText = fc
  .tuple(
    fc.integer({ min: 1, max: 120 }),
    fc.constantFrom('', '', '', '.5', '.25', '.000000000001', '.999999999999'),
  )
  .map(([whole, fraction]) => `${whole}${fraction}`);
export const decrementText = fc
  .tuple(fc.integer({ min: 1, max: 50 }), fc.constantFrom('', '', '.5', '.000000000001'))
  .map(([whole, fraction]) => `${whole}${fraction}`);
export const amountSpec: fc.Arbitrary<AmountSpec> = fc.oneof(
  fc.constant({ all: true as const }),
  fc.constant({ half: true as const }),
  amountText.map((fixed) => ({ fixed })),
);
export const blockPick: fc.Arbitrary<BlockPick> = fc.oneof(
  { weight: 8, arbitrary: fc.nat({ max: 40 }).map((index) => ({ index })) },
  { weight: 11, arbitrary: fc.nat({ max: 40 }).map((liveIndex) => ({ liveIndex })) },
  { weight: 1, arbitrary: fc.constant({ missing: true as const }) },
);
/** A block pick that favours blocks drawn from by `drawnWeight` (amendments want them). */
export const drawnBlockPick = (drawnWeight: number): fc.Arbitrary<BlockPick> =>
  fc.oneof(
    { weight: 1, arbitrary: blockPick },
    { weight: drawnWeight, arbitrary: fc.nat({ max: 40 }).map((drawnIndex) => ({ drawnIndex })) },
  );

const itemSubset = fc.subarray(ITEMS, { minLength: 0, maxLength: 3 });
/** No filters `unfilteredWeight` times in 4 + that, else includes, excludes, or both. */
export const filtersArb = (unfilteredWeight: number): fc.Arbitrary<BlockFilter[]> =>
  fc.oneof(
    { weight: unfilteredWeight, arbitrary: fc.constant<BlockFilter[]>([]) },
    {
      weight: 2,
      arbitrary: itemSubset.map((values) => [
        { field: 'item_id' as const, operator: 'includes' as const, values },
      ]),
    },
    {
      weight: 1,
      arbitrary: itemSubset.map((values) => [
        { field: 'item_id' as const, operator: 'excludes' as const, values },
      ]),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(itemSubset, itemSubset).map(([included, excluded]) => [
        { field: 'item_id' as const, operator: 'includes' as const, values: included },
        { field: 'item_id' as const, operator: 'excludes' as const, values: excluded },
      ]),
    },
  );

export const half = (value: Decimal) => Decimal.fromUnits(value.units / 2n);
export const positiveOr = (value: Decimal, fallback: string) =>
  value.isPositive() ? value : Decimal.of(fallback);

export function pickBlock(blocks: readonly ModelBlock[], pick: BlockPick): ModelBlock | undefined {
  if ('missing' in pick) return undefined;
  if ('index' in pick) return blocks[pick.index % Math.max(1, blocks.length)];
  const [index, wanted] =
    'liveIndex' in pick
      ? [pick.liveIndex, (block: ModelBlock) => !block.balance.isZero()]
      : [
          pick.drawnIndex,
          (block: ModelBlock) => block.balance.compare(block.maximumInitialBalance) < 0,
        ];
  const some = blocks.filter(wanted);
  return some[index % Math.max(1, some.length)] ?? blocks[index % Math.max(1, blocks.length)];
}

export function resolveAmount(spec: AmountSpec, balance: Decimal): Decimal {
  if ('fixed' in spec) return Decimal.of(spec.fixed);
  return positiveOr('all' in spec ? balance : half(balance), '1');
}
