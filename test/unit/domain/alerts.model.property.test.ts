/**
 * Model-based test of the balance alerts (domain/alerts.ts, issue "Balance alerts and signed
 * webhooks"): random sequences of writes, usage and the passing of time go through the real
 * decisions (decide, decideUsage, catchUp); the alerts are walked through each decision's balance
 * points; a naive model that only knows the watched balance before and after each decision says
 * which crossings there must be. Both must agree exactly: the same crossings, no more, no fewer,
 * in the same order.
 *
 * The naive model's balance is a plain sum over the blocks written here, independently of
 * `watchedBalance`; its crossings come from comparing balances (from above a threshold to at or
 * below it), not from per-threshold state. Every generated decision moves the watched balance one
 * way only (no top-ups), so its before and after say all of its crossings.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  initialThresholds,
  watchAlerts,
  type AlertType,
  type WatchedAlert,
} from '../../../domain/alerts.ts';
import { catchUp } from '../../../domain/catchUp.ts';
import { decide } from '../../../domain/decide.ts';
import { Decimal } from '../../../domain/decimal.ts';
import { decideUsage } from '../../../domain/decideUsage.ts';
import type {
  Block,
  Ledger,
  LedgerChanges,
  LedgerCommand,
  PendingUsageEntry,
} from '../../../domain/types.ts';
import { manualClockStart } from '../../support/testDates.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 400);
const SEED = Number(process.env.PROPERTY_SEED ?? 1);
const HOUR = 3_600_000;

type Step =
  | { kind: 'increment'; amount: string; effectiveInHours: number; expiresInHours: number | null }
  | { kind: 'decrement'; amount: string }
  | { kind: 'void'; pick: number; share: 'all' | 'half' }
  | { kind: 'expiration_change'; pick: number; expiresInHours: number }
  | { kind: 'usage'; credits: string[] }
  | { kind: 'time'; hours: number };

const amount = fc
  .tuple(fc.integer({ min: 0, max: 80 }), fc.constantFrom('', '.5', '.000000000001'))
  .map(([whole, fraction]) => (whole === 0 && fraction === '' ? '1' : `${whole}${fraction}`));

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('increment' as const),
      amount,
      effectiveInHours: fc.constantFrom(0, 0, 0, 2, 7),
      expiresInHours: fc.constantFrom(null, null, 3, 10, 30),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('decrement' as const), amount }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('void' as const),
      pick: fc.nat({ max: 20 }),
      share: fc.constantFrom('all' as const, 'half' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('expiration_change' as const),
      pick: fc.nat({ max: 20 }),
      expiresInHours: fc.constantFrom(1, 5, 40),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('usage' as const),
      credits: fc.array(amount, { minLength: 1, maxLength: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('time' as const),
      hours: fc.integer({ min: 1, max: 12 }),
    }),
  },
);

const thresholdValues = fc.uniqueArray(fc.constantFrom('0', '5', '20', '50', '50.5', '100'), {
  minLength: 1,
  maxLength: 3,
});

/** The naive watched balance: live blocks' balances, summed here without the domain's help. */
function naiveBalance(blocks: Iterable<Block>, now: Date): Decimal {
  let sum = Decimal.ZERO;
  for (const block of blocks) {
    const live =
      block.status === 'active' &&
      block.voidedAt === null &&
      block.effectiveAt.getTime() <= now.getTime() &&
      (block.expiresAt === null || block.expiresAt.getTime() > now.getTime());
    if (live) sum = sum.plus(block.balance);
  }
  return sum;
}

type Crossing = [alertId: string, threshold: string];

/** What the naive model says a move of the balance from `from` to `to` fires, in order. */
function naiveCrossings(
  alerts: readonly { id: string; type: AlertType; values: Decimal[] }[],
  from: Decimal,
  to: Decimal,
): Crossing[] {
  if (from.equals(to)) return [];
  const fired: Crossing[] = [];
  const down = to.compare(from) < 0;
  if (down) {
    for (const alert of alerts.filter((each) => each.type === 'credit_balance_dropped'))
      for (const value of [...alert.values].sort((a, b) => b.compare(a)))
        if (from.compare(value) > 0 && to.compare(value) <= 0)
          fired.push([alert.id, value.toString()]);
    for (const alert of alerts.filter((each) => each.type === 'credit_balance_depleted'))
      if (from.isPositive() && !to.isPositive()) fired.push([alert.id, '0']);
  } else {
    for (const alert of alerts.filter((each) => each.type === 'credit_balance_recovered'))
      if (!from.isPositive() && to.isPositive()) fired.push([alert.id, '0']);
  }
  return fired;
}

function commandFor(step: Step, blocks: Block[], now: Date): LedgerCommand | undefined {
  const base = { currency: 'credits', description: null, metadata: {} };
  const at = (hours: number) => new Date(now.getTime() + hours * HOUR);
  const live = blocks.filter((block) => block.balance.isPositive() && block.voidedAt === null);
  switch (step.kind) {
    case 'increment':
      return {
        ...base,
        type: 'increment',
        amount: Decimal.of(step.amount),
        effectiveAt: at(step.effectiveInHours),
        expiresAt:
          step.expiresInHours === null ? null : at(step.effectiveInHours + step.expiresInHours),
        perUnitCostBasis: null,
        filters: [],
      };
    case 'decrement':
      return { ...base, type: 'decrement', amount: Decimal.of(step.amount) };
    case 'void': {
      const block = live[step.pick % Math.max(1, live.length)];
      if (!block) return undefined;
      const all = block.balance;
      const amount = step.share === 'all' ? all : Decimal.fromUnits(all.units / 2n);
      if (!amount.isPositive()) return undefined;
      return { ...base, type: 'void', blockId: block.id, amount, voidReason: null };
    }
    case 'expiration_change': {
      const block = live[step.pick % Math.max(1, live.length)];
      if (!block) return undefined;
      return {
        ...base,
        type: 'expiration_change',
        amount: null,
        blockId: block.id,
        sourceExpiresAt: null,
        targetExpiresAt: at(
          Math.max(step.expiresInHours, 1) +
            Math.max(0, (block.effectiveAt.getTime() - now.getTime()) / HOUR),
        ),
      };
    }
    default:
      return undefined;
  }
}

describe('balance alerts against a naive model', () => {
  it('fire exactly the crossings the model sees, in order', () => {
    fc.assert(
      fc.property(
        thresholdValues,
        fc.array(step, { minLength: 1, maxLength: 25 }),
        (dropValues, steps) => {
          let now = manualClockStart();
          let ledger: Ledger = {
            currency: 'credits',
            balance: Decimal.ZERO,
            nextSequenceNumber: 0,
          };
          const blocks = new Map<string, Block>();
          let pending: PendingUsageEntry[] = [];
          let counter = 0;
          const context = () => ({ now, newId: () => `id${(counter += 1)}` });
          const configured = [
            {
              id: 'dropped',
              type: 'credit_balance_dropped' as const,
              values: dropValues.map(Decimal.of),
            },
            { id: 'depleted', type: 'credit_balance_depleted' as const, values: [Decimal.ZERO] },
            { id: 'recovered', type: 'credit_balance_recovered' as const, values: [Decimal.ZERO] },
          ];
          let alerts: WatchedAlert[] = configured.map((alert) => ({
            id: alert.id,
            type: alert.type,
            currency: 'credits',
            enabled: true,
            thresholds: initialThresholds(alert.type, alert.values, Decimal.ZERO),
          }));
          let modelBalance = Decimal.ZERO;
          const expected: Crossing[] = [];
          const actual: Crossing[] = [];

          const take = (changes: LedgerChanges) => {
            const before = naiveBalance(blocks.values(), now);
            expected.push(...naiveCrossings(configured, modelBalance, before));
            ledger = changes.ledger;
            for (const block of [...changes.newBlocks, ...changes.updatedBlocks])
              blocks.set(block.id, block);
            for (const entry of changes.entries)
              if (entry.usage && entry.entryStatus === 'pending')
                pending.push({
                  id: entry.id,
                  amount: entry.amount,
                  endingBalance: entry.endingBalance,
                  ...entry.usage,
                  ledgerSequenceNumber: entry.ledgerSequenceNumber,
                });
            for (const grown of changes.grownEntries)
              pending = pending.map((entry) => (entry.id === grown.id ? grown : entry));
            modelBalance = naiveBalance(blocks.values(), now);
            expected.push(...naiveCrossings(configured, before, modelBalance));
            const watched = watchAlerts(alerts, changes.balancePoints);
            alerts = watched.alerts;
            // Each crossing names an entry the decision made or grew (or where it began).
            const named = new Set([
              changes.balancePoints[0]!.sequenceNumber,
              ...changes.entries.map((entry) => entry.ledgerSequenceNumber),
              ...changes.grownEntries.map((entry) => entry.ledgerSequenceNumber),
            ]);
            for (const crossing of watched.crossings) {
              expect(named).toContain(crossing.sequenceNumber);
              actual.push([crossing.alert.id, crossing.threshold.toString()]);
            }
          };

          for (const each of steps) {
            if (each.kind === 'time') {
              now = new Date(now.getTime() + each.hours * HOUR);
              take(catchUp(ledger, [...blocks.values()], context()));
              continue;
            }
            if (each.kind === 'usage') {
              const usageDay = now.toISOString().slice(0, 10);
              const charges = each.credits.map((credits) => ({
                priceId: 'price',
                itemId: 'gpu',
                usageDay,
                at: now,
                closesAt: new Date(now.getTime() + 48 * HOUR),
                credits: Decimal.of(credits),
              }));
              take(decideUsage(ledger, [...blocks.values()], pending, charges, context()));
              continue;
            }
            const command = commandFor(each, [...blocks.values()], now);
            if (!command) continue;
            const decision = decide(command, ledger, [...blocks.values()], context());
            if (decision.ok) take(decision.value);
          }
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('a disabled alert fires nothing but keeps its state', () => {
    const value = Decimal.of('10');
    const alert: WatchedAlert = {
      id: 'a',
      type: 'credit_balance_dropped',
      currency: 'credits',
      enabled: false,
      thresholds: initialThresholds('credit_balance_dropped', [value], Decimal.of('50')),
    };
    const points = [
      { sequenceNumber: 0, balance: Decimal.of('50') },
      { sequenceNumber: 1, balance: Decimal.of('5') },
    ];
    const watched = watchAlerts([alert], points);
    expect(watched.crossings).toEqual([]);
    expect(watched.alerts[0]!.thresholds).toEqual([{ value, atOrBelow: true }]);
    // Enabled again, it does not fire for the drop it slept through.
    const woken = watchAlerts([{ ...watched.alerts[0]!, enabled: true }], [points[1]!]);
    expect(woken.crossings).toEqual([]);
  });

  it('new thresholds take their state from the balance now: nothing fires retroactively', () => {
    const thresholds = initialThresholds(
      'credit_balance_dropped',
      [Decimal.of('20'), Decimal.of('50'), Decimal.of('20')],
      Decimal.of('30'),
    );
    expect(thresholds.map(({ value, atOrBelow }) => [value.toString(), atOrBelow])).toEqual([
      ['50', true],
      ['20', false],
    ]);
  });
});
