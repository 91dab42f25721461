/**
 * `decideUsage` against the naive reference model (test/support/referenceLedger.ts `usage`), over
 * random sequences for one ledger: increments (via `decide`) with effective dates before and after
 * the events, expiries, cost bases and item filters; decrements; clock advances; and batches of
 * usage events whose timestamps fall anywhere from 30 hours back to 5 minutes ahead, in random
 * order, for three prices on two items and two usage days. The model applies each event on its
 * own, re-sorting every time (LEDGER_RULES.md §5: drawn from the blocks drawable at the event's
 * instant, in acceptance order); the domain draws runs of events at once. After every step both
 * must hold the same entries (made and grown) and block balances, creation order included.
 *
 * Fixed seed; PROPERTY_RUNS and PROPERTY_SEED override the run count and seed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import { decide } from '../../../domain/decide.ts';
import { decideUsage } from '../../../domain/decideUsage.ts';
import type {
  Block,
  BlockFilter,
  Ledger,
  LedgerChanges,
  NewEntry,
  PendingUsageEntry,
  UsageCharge,
} from '../../../domain/types.ts';
import { invoiceSettings } from './givenWhenThen.ts';
import {
  ReferenceLedger,
  type ModelBlock,
  type ModelEntry,
  type ModelUsageEvent,
} from '../../support/referenceLedger.ts';

const SEED = Number(process.env.PROPERTY_SEED ?? 20261203);
const RUNS = Number(process.env.PROPERTY_RUNS ?? 600);
const START = new Date('2026-11-21T18:00:00Z');
const HOUR = 3_600_000;
const PRICES = [
  { priceId: 'p_gpu', itemId: 'gpu' },
  { priceId: 'p_gpu_2', itemId: 'gpu' },
  { priceId: 'p_cpu', itemId: 'cpu' },
];
const CLOSES = new Date('2027-01-01T00:00:00Z');
const NET_0_INVOICE = invoiceSettings({ timezone: 'UTC', netTermsDays: 0 });
/** The usage day of an instant: UTC dates are enough here (the day only keys the groups). */
const dayOf = (at: Date) => at.toISOString().slice(0, 10);

type Step =
  | { kind: 'advance'; hours: number }
  | {
      kind: 'increment';
      amount: string;
      effectiveHours: number | null;
      expiryHours: number | null;
      cost: string | null;
      filters: BlockFilter[];
    }
  | { kind: 'decrement'; amount: string }
  | { kind: 'usage'; events: Array<{ price: number; minutesBack: number; credits: string }> };

const credits = fc
  .tuple(fc.integer({ min: 0, max: 40 }), fc.constantFrom('', '', '.5', '.000000000001'))
  .map(([w, f]) => `${w}${f}`);
const filters: fc.Arbitrary<BlockFilter[]> = fc.constantFrom(
  [],
  [],
  [{ field: 'item_id' as const, operator: 'includes' as const, values: ['gpu'] }],
  [{ field: 'item_id' as const, operator: 'excludes' as const, values: ['gpu'] }],
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 20 }).map((hours): Step => ({ kind: 'advance', hours })),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('increment' as const),
      amount: credits.map((text) => (Decimal.of(text).isPositive() ? text : '1')),
      // Effective from 30 h back to 3 h ahead (hours relative to now; null = now).
      effectiveHours: fc.option(fc.integer({ min: -30, max: 3 }), { nil: null }),
      expiryHours: fc.option(fc.integer({ min: 4, max: 60 }), { nil: null }),
      cost: fc.constantFrom(null, '0', '1', '2'),
      filters,
    }),
  },
  {
    weight: 1,
    arbitrary: credits.map((amount): Step => ({
      kind: 'decrement',
      amount: Decimal.of(amount).isPositive() ? amount : '1',
    })),
  },
  {
    weight: 3,
    arbitrary: fc
      .array(
        fc.record({
          price: fc.nat({ max: 2 }),
          minutesBack: fc.integer({ min: -5, max: 30 * 60 }),
          credits,
        }),
        { minLength: 1, maxLength: 25 },
      )
      .map((events): Step => ({ kind: 'usage', events })),
  },
);

interface DomainState {
  ledger: Ledger;
  blocks: Block[];
  entries: NewEntry[];
}

function carryForward(state: DomainState, changes: LedgerChanges): DomainState {
  const updated = new Map(changes.updatedBlocks.map((block) => [block.id, block]));
  const grown = new Map(changes.grownEntries.map((entry) => [entry.id, entry]));
  const entries = state.entries.map((entry) => {
    const g = grown.get(entry.id);
    return g ? { ...entry, amount: g.amount, endingBalance: g.endingBalance } : entry;
  });
  return {
    ledger: changes.ledger,
    blocks: [...state.blocks.map((block) => updated.get(block.id) ?? block), ...changes.newBlocks],
    entries: [...entries, ...changes.entries],
  };
}

const describeEntry = (entry: ModelEntry | NewEntry) => [
  entry.ledgerSequenceNumber,
  entry.entryType,
  entry.blockId,
  entry.amount.toString(),
  entry.startingBalance.toString(),
  entry.endingBalance.toString(),
];
const describeBlock = (block: ModelBlock | Block) => [
  block.id,
  block.balance.toString(),
  block.creationSequence,
];

function runSequence(steps: readonly Step[]): void {
  const model = new ReferenceLedger(START);
  let state: DomainState = {
    ledger: { currency: 'credits', balance: Decimal.ZERO, nextSequenceNumber: 0 },
    blocks: [],
    entries: [],
  };
  let next = 0;
  // Ids whose text order is not their creation order: an id tie-break would show.
  const newId = () => `b${((++next * 48_271) % 2_147_483_647).toString(36)}`;
  const trace: string[] = [];
  steps.forEach((s, index) => {
    const now = model.now;
    if (s.kind === 'advance') {
      model.advanceTo(new Date(now.getTime() + s.hours * HOUR));
      trace.push(`#${index} +${s.hours}h`);
      return;
    }
    if (s.kind === 'usage') {
      const charges: UsageCharge[] = s.events.map((event) => {
        const at = new Date(now.getTime() - event.minutesBack * 60_000);
        return {
          ...PRICES[event.price]!,
          usageDay: dayOf(at),
          at,
          closesAt: CLOSES,
          credits: Decimal.of(event.credits),
        };
      });
      trace.push(
        `#${index} at ${now.toISOString()} usage ${JSON.stringify(charges.map((c) => [c.priceId, c.at.toISOString(), c.credits.toString()]))}`,
      );
      const pending: PendingUsageEntry[] = state.entries
        .filter((entry) => entry.usage !== undefined)
        .map((entry) => ({
          id: entry.id,
          priceId: entry.usage!.priceId,
          blockId: entry.blockId,
          usageDay: entry.usage!.usageDay,
          amount: entry.amount,
          endingBalance: entry.endingBalance,
        }));
      const changes = decideUsage(state.ledger, state.blocks, pending, charges, { now, newId });
      const events: ModelUsageEvent[] = charges.map(
        ({ priceId, itemId, usageDay, at, credits: c }) => ({
          priceId,
          itemId,
          usageDay,
          at,
          credits: c,
        }),
      );
      model.usage(
        events,
        changes.newBlocks.map((block) => block.id),
      );
      state = carryForward(state, changes);
    } else {
      const command =
        s.kind === 'increment'
          ? {
              type: 'increment' as const,
              currency: 'credits',
              amount: Decimal.of(s.amount),
              effectiveAt:
                s.effectiveHours === null
                  ? null
                  : new Date(now.getTime() + s.effectiveHours * HOUR),
              expiresAt:
                s.expiryHours === null ? null : new Date(now.getTime() + s.expiryHours * HOUR),
              perUnitCostBasis: s.cost,
              filters: s.filters,
              description: null,
              metadata: {},
              // A cost basis above 0 charges for the credits: invoiced (exact: whole-number costs).
              invoice: s.cost !== null && s.cost !== '0' ? NET_0_INVOICE : null,
            }
          : {
              type: 'decrement' as const,
              currency: 'credits',
              amount: Decimal.of(s.amount),
              description: null,
              metadata: {},
            };
      trace.push(`#${index} at ${now.toISOString()} ${JSON.stringify(command)}`);
      const decision = decide(command, state.ledger, state.blocks, { now, newId });
      const outcome = model.apply(
        command,
        decision.ok ? decision.value.newBlocks.map((block) => block.id) : [],
      );
      expect(decision.ok, `step ${index}\n${trace.join('\n')}`).toBe(!('refused' in outcome));
      if (!decision.ok) return;
      state = carryForward(state, decision.value);
    }
    const context = `step ${index}\n${trace.join('\n')}`;
    expect(state.entries.map(describeEntry), `entries: ${context}`).toEqual(
      model.entries.map(describeEntry),
    );
    expect(state.blocks.map(describeBlock), `blocks: ${context}`).toEqual(
      model.blocks.map(describeBlock),
    );
    expect(state.ledger.balance.toString(), context).toBe(model.balance.toString());
  });
}

describe('decideUsage against the reference ledger (property)', () => {
  it('draws every event at its own instant, in acceptance order, as the naive model does', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 20 }), (steps) => runSequence(steps)),
      { seed: SEED, numRuns: RUNS },
    );
  }, 120_000);
});
