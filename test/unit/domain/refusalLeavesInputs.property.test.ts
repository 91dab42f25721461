/**
 * A refusal changes nothing (domain/ledgerError.ts, Precedence): over random ledgers and random,
 * often invalid, commands, a decide function that refuses has left its draft exactly as it found
 * it (and drawn no id), `decide` has left the blocks and ledger it was given unchanged, and every
 * refusal's kind is its code's. Every balance overflow is foreseen by a check: no decision throws.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyCommand, decide } from '../../../domain/decide.ts';
import { decideAmendment } from '../../../domain/decideAmendment.ts';
import { decideDecrement } from '../../../domain/decideDecrement.ts';
import { decideExpirationChange } from '../../../domain/decideExpirationChange.ts';
import { decideIncrement } from '../../../domain/decideIncrement.ts';
import { decideVoid } from '../../../domain/decideVoid.ts';
import { Decimal, INTEGER_DIGITS_MAX } from '../../../domain/decimal.ts';
import { expireDue } from '../../../domain/expireDue.ts';
import { LedgerDraft } from '../../../domain/ledgerDraft.ts';
import { REFUSAL_KINDS, type LedgerError } from '../../../domain/ledgerError.ts';
import type {
  Block,
  DecisionContext,
  Ledger,
  LedgerCommand,
  BlockStatus,
} from '../../../domain/types.ts';
import { invoiceSettings, NOW } from './givenWhenThen.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 5000);
const SEED = Number(process.env.PROPERTY_SEED ?? 1);
const HOUR = 3_600_000;
const at = (hours: number) => new Date(NOW.getTime() + hours * HOUR);
const LARGEST = '9'.repeat(INTEGER_DIGITS_MAX);
const IDS = ['A', 'B', 'C', 'D', 'E'];

const amount = fc.constantFrom('0', '-1', '0.5', '1', '10', '40', '41', '0.0000001', LARGEST);
const instant = fc.constantFrom(null, at(-48), at(-1), at(0), at(3), at(48));

const blockArb = (id: string, sequence: number): fc.Arbitrary<Block> =>
  fc
    .record({
      balance: fc.constantFrom('-5', '0', '10', '40', LARGEST, `-${LARGEST}`),
      headroom: fc.constantFrom('0', '5', '100'),
      effectiveAt: fc.constantFrom(at(-100), at(5)),
      expiresAt: fc.constantFrom(null, at(-2), at(3), at(48)),
      status: fc.constantFrom<BlockStatus>('active', 'active', 'pending_payment'),
      voidedAt: fc.constantFrom(null, null, at(-3)),
      perUnitCostBasis: fc.constantFrom(null, '0.5'),
    })
    .map(({ balance, headroom, ...rest }) => {
      const value = Decimal.of(balance);
      const initial = value.isNegative() ? Decimal.ZERO : value;
      return {
        id,
        currency: 'credits',
        balance: value,
        // Past the largest balance would be out of range: that block gets no headroom.
        maximumInitialBalance: balance === LARGEST ? initial : initial.plus(Decimal.of(headroom)),
        filters: [],
        createdAt: at(-200),
        creationSequence: sequence - 100,
        ...rest,
      };
    });

const blocksArb: fc.Arbitrary<Block[]> = fc
  .subarray(IDS, { minLength: 0, maxLength: IDS.length })
  .chain((ids) => (ids.length === 0 ? fc.constant([]) : fc.tuple(...ids.map(blockArb))));

const blockId = fc.constantFrom(...IDS, 'NOPE');
const common = { currency: 'credits', description: null, metadata: {} };

const commandArb: fc.Arbitrary<LedgerCommand> = fc.oneof(
  fc
    .record({
      amount,
      effectiveAt: instant,
      expiresAt: instant,
      perUnitCostBasis: fc.constantFrom(null, '0', '1', '0.0000001', 'x'),
      invoice: fc.constantFrom(
        null,
        invoiceSettings(),
        invoiceSettings({ netTermsDays: -1 }),
        invoiceSettings({ netTermsDays: null }),
        invoiceSettings({ customDueAt: at(2) }),
        invoiceSettings({ netTermsDays: null, invoiceAt: at(5), customDueAt: at(1) }),
      ),
      acceptedBeforeInvoices: fc.constantFrom(undefined, true as const),
    })
    .map(({ amount: text, acceptedBeforeInvoices, ...rest }) => ({
      type: 'increment' as const,
      ...common,
      ...rest,
      amount: Decimal.of(text),
      filters: [],
      ...(acceptedBeforeInvoices && { acceptedBeforeInvoices, invoice: null }),
    })),
  amount.map((text) => ({ type: 'decrement' as const, ...common, amount: Decimal.of(text) })),
  fc
    .record({ blockId, amount, refund: fc.boolean() })
    .map(({ blockId: id, amount: text, refund }) => ({
      type: 'void' as const,
      ...common,
      blockId: id,
      amount: Decimal.of(text),
      voidReason: refund ? ('refund' as const) : null,
    })),
  fc.record({ blockId, amount }).map(({ blockId: id, amount: text }) => ({
    type: 'amendment' as const,
    ...common,
    blockId: id,
    amount: Decimal.of(text),
  })),
  fc
    .record({
      blockId: fc.option(blockId, { nil: null }),
      sourceExpiresAt: instant,
      amount: fc.option(amount, { nil: null }),
      target: fc.constantFrom(at(-5), at(0), at(2), at(24), at(4000)),
    })
    .map(({ blockId: id, sourceExpiresAt, amount: text, target }) => ({
      type: 'expiration_change' as const,
      ...common,
      blockId: id,
      sourceExpiresAt,
      amount: text === null ? null : Decimal.of(text),
      targetExpiresAt: target,
    })),
);

/** The ledger of these blocks, or undefined when their sum is itself out of range. */
function ledgerOf(blocks: readonly Block[]): Ledger | undefined {
  try {
    return {
      currency: 'credits',
      balance: Decimal.sum(blocks.map((b) => b.balance)),
      nextSequenceNumber: 7,
    };
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/** A deep, comparable picture: Decimals by their units, Dates by their instants. */
const picture = (value: unknown) =>
  JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

function catchUpFits(draft: LedgerDraft): boolean {
  try {
    expireDue(draft, NOW);
    return true;
  } catch (error) {
    if (error instanceof RangeError) return false;
    throw error;
  }
}

function countingIds(): { context: DecisionContext; drawn: () => number } {
  let next = 0;
  return { context: { now: NOW, newId: () => `new-${++next}` }, drawn: () => next };
}

describe('a refused decision changes nothing', () => {
  it('the kind decides before it touches the draft: a refusal leaves the draft as it was', () => {
    const refused = new Map<string, number>();
    fc.assert(
      fc.property(blocksArb, commandArb, (blocks, command) => {
        const ledger = ledgerOf(blocks);
        fc.pre(ledger !== undefined);
        const { context, drawn } = countingIds();
        const draft = new LedgerDraft(ledger!, blocks, context);
        // The catch-up is the clock's, not the command's: a state whose expiries alone overflow
        // the balance is refused by decide's backstop, not by a check (see the next property).
        fc.pre(catchUpFits(draft));
        const before = picture(draft.changes());
        const idsBefore = drawn();
        const refusal = applyCommand(command, draft, context);
        if (!refusal) return;
        refused.set(refusal.code, (refused.get(refusal.code) ?? 0) + 1);
        expect(refusal.kind).toBe(REFUSAL_KINDS[refusal.code]);
        expect(picture(draft.changes())).toBe(before);
        expect(drawn()).toBe(idsBefore);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // The generators reach most codes, so the property is not vacuous.
    expect(refused.size).toBeGreaterThanOrEqual(20);
  });

  it('decide leaves the blocks and ledger it was given unchanged, and never throws', () => {
    fc.assert(
      fc.property(blocksArb, commandArb, (blocks, command) => {
        const ledger = ledgerOf(blocks);
        fc.pre(ledger !== undefined);
        const given = picture({ blocks, ledger });
        const decision = decide(command, ledger!, blocks, {
          now: NOW,
          newId: countingIds().context.newId,
        });
        expect(picture({ blocks, ledger })).toBe(given);
        if (!decision.ok) expect(decision.error.kind).toBe(REFUSAL_KINDS[decision.error.code]);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
