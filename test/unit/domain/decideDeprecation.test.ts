/**
 * Deprecating an applied usage event (domain/decideDeprecation.ts): its credits leave the pending
 * decrements of its group, most recently drawn block first, each entry shrinking toward 0 with its
 * block and the ledger balance rising by the same amount; never past a block's initial balance,
 * never into a voided block; refused, with nothing written, when the group cannot take it all back.
 */
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import { decideDeprecation, deprecationWindowRefusal } from '../../../domain/decideDeprecation.ts';
import type { Block, Ledger, LedgerChanges, PendingUsageEntry } from '../../../domain/types.ts';

const NOW = new Date('2026-11-21T20:00:00Z');
const DAY = '2026-11-21';

let createdSeconds = 0;
/** Later calls get later `createdAt`. `initial` defaults to the balance (0 for negative ones). */
function block(
  id: string,
  balance: string,
  initial?: string,
  overrides: Partial<Block> = {},
): Block {
  createdSeconds += 1;
  const maximum = initial ?? (Decimal.of(balance).isNegative() ? '0' : balance);
  return {
    id,
    currency: 'credits',
    balance: Decimal.of(balance),
    maximumInitialBalance: Decimal.of(maximum),
    effectiveAt: new Date('2026-01-01T00:00:00Z'),
    expiresAt: null,
    perUnitCostBasis: null,
    filters: [],
    status: 'active',
    voidedAt: null,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, createdSeconds)),
    // Before any entry a decision writes (those number from the ledger's next, >= 0); call order.
    creationSequence: createdSeconds - 1_000_000,
    ...overrides,
  };
}

/** A stored pending usage decrement of the group (price_gpu, DAY) on `blockId`. */
function pending(
  id: string,
  blockId: string,
  amount: string,
  endingBalance: string,
): PendingUsageEntry {
  return {
    id,
    priceId: 'price_gpu',
    blockId,
    usageDay: DAY,
    amount: Decimal.of(amount),
    endingBalance: Decimal.of(endingBalance),
  };
}

function ids(): () => string {
  let next = 0;
  return () => `new-${++next}`;
}

const sum = (blocks: readonly Block[]) => Decimal.sum(blocks.map((b) => b.balance));

function ledgerOf(blocks: readonly Block[], next = 5): Ledger {
  return { currency: 'credits', balance: sum(blocks), nextSequenceNumber: next };
}

function accepted(
  blocks: Block[],
  entries: PendingUsageEntry[],
  credits: string,
  ledger = ledgerOf(blocks),
): LedgerChanges {
  const snapshot = blocks.map((b) => b.balance.toString());
  const decision = decideDeprecation(ledger, blocks, entries, Decimal.of(credits), {
    now: NOW,
    newId: ids(),
  });
  if (!decision.ok) throw new Error(`refused: ${decision.error.detail}`);
  // Pure: the given blocks are not mutated.
  expect(blocks.map((b) => b.balance.toString())).toEqual(snapshot);
  const changes = decision.value;
  // Σ blocks = ledger balance afterwards, and the change in balance is what the entries changed.
  const updated = new Map(changes.updatedBlocks.map((b) => [b.id, b]));
  const after = [...blocks.map((b) => updated.get(b.id) ?? b), ...changes.newBlocks];
  expect(sum(after).toString()).toBe(changes.ledger.balance.toString());
  const grownBy = Decimal.sum(
    changes.grownEntries.map((g) => g.amount.minus(entries.find((e) => e.id === g.id)!.amount)),
  );
  const madeBy = Decimal.sum(changes.entries.map((e) => e.amount));
  expect(ledger.balance.plus(grownBy).plus(madeBy).toString()).toBe(
    changes.ledger.balance.toString(),
  );
  for (const grown of changes.grownEntries) {
    const before = entries.find((e) => e.id === grown.id)!;
    // Amount and ending balance move together, and the entry never turns into a credit.
    expect(grown.endingBalance.minus(before.endingBalance).toString()).toBe(
      grown.amount.minus(before.amount).toString(),
    );
    expect(grown.amount.isPositive()).toBe(false);
  }
  return changes;
}

const balances = (changes: LedgerChanges) =>
  Object.fromEntries(changes.updatedBlocks.map((b) => [b.id, b.balance.toString()]));
const grown = (changes: LedgerChanges) =>
  changes.grownEntries.map((e) => [e.id, e.amount.toString(), e.endingBalance.toString()]);

describe('decideDeprecation', () => {
  it('returns one event of a group: the pending entry shrinks by its credits, the block and balance rise', () => {
    // Two events (4 and 6 credits) made one pending entry of -10 on A.
    const blocks = [block('A', '90', '100')];
    const changes = accepted(blocks, [pending('E1', 'A', '-10', '90')], '4');
    expect(grown(changes)).toEqual([['E1', '-6', '94']]);
    expect(balances(changes)).toEqual({ A: '94' });
    expect(changes.ledger.balance.toString()).toBe('94');
    // No entry records a deprecation and the sequence does not move.
    expect(changes.entries).toEqual([]);
    expect(changes.ledger.nextSequenceNumber).toBe(5);
  });

  it('shrinks an entry to exactly 0 when the whole group is deprecated', () => {
    const changes = accepted([block('A', '90', '100')], [pending('E1', 'A', '-10', '90')], '10');
    expect(grown(changes)).toEqual([['E1', '0', '100']]);
    expect(changes.ledger.balance.toString()).toBe('100');
  });

  it('takes from the most recently drawn block first: the overdraft block, then back along the drawdown order', () => {
    // The group drew A (expires soonest), then B, then put 5 on the overdraft block O.
    const blocks = [
      block('A', '0', '20', { expiresAt: new Date('2026-12-01T00:00:00Z') }),
      block('B', '0', '30', { expiresAt: new Date('2027-01-01T00:00:00Z') }),
      block('O', '-5'),
    ];
    const entries = [
      pending('EA', 'A', '-20', '-20'),
      pending('EB', 'B', '-30', '-50'),
      pending('EO', 'O', '-5', '-55'),
    ];
    const changes = accepted(blocks, entries, '12');
    expect(grown(changes)).toEqual([
      ['EO', '0', '-50'],
      ['EB', '-23', '-43'],
    ]);
    expect(balances(changes)).toEqual({ O: '0', B: '7' });
    expect(changes.ledger.balance.toString()).toBe('7');
  });

  it('orders by the blocks, not by the order the entries are given in', () => {
    const blocks = [
      block('F', '0', '10', {
        filters: [{ field: 'item_id', operator: 'includes', values: ['gpu'] }],
      }),
      block('U', '0', '10'),
    ];
    // The filtered block F is drawn before the unfiltered U, so U gives back first.
    const changes = accepted(
      blocks,
      [pending('EF', 'F', '-10', '-10'), pending('EU', 'U', '-10', '-20')],
      '3',
    );
    expect(grown(changes)).toEqual([['EU', '-7', '-17']]);
  });

  it('never fills a block past its initial balance: an overdraft block repaid by an increment passes the credits on', () => {
    // §8 example 3 after the usage: O went to -5 and an increment repaid it to 0.
    const blocks = [
      block('A', '0', '10'),
      block('O', '0', '0'),
      block('C', '15', '20', { expiresAt: new Date('2027-01-01T00:00:00Z') }),
    ];
    const changes = accepted(
      blocks,
      [pending('EA', 'A', '-10', '-10'), pending('EO', 'O', '-5', '-15')],
      '5',
    );
    expect(grown(changes)).toEqual([['EA', '-5', '-5']]);
    expect(balances(changes)).toEqual({ A: '5' });
  });

  it('gives a voided block nothing back', () => {
    const blocks = [
      block('A', '0', '10'),
      block('V', '0', '10', {
        voidedAt: new Date('2026-11-21T15:00:00Z'),
        createdAt: new Date('2026-06-01T00:00:00Z'),
      }),
    ];
    const changes = accepted(
      blocks,
      [pending('EA', 'A', '-4', '-4'), pending('EV', 'V', '-6', '-10')],
      '4',
    );
    expect(grown(changes)).toEqual([['EA', '0', '0']]);
    expect(balances(changes)).toEqual({ A: '4' });
  });

  it('refuses, writing nothing, when the group cannot take all the credits back', () => {
    const blocks = [block('O', '0', '0')];
    const before = blocks.map((b) => b.balance.toString());
    const decision = decideDeprecation(
      ledgerOf(blocks),
      blocks,
      [pending('EO', 'O', '-5', '-5')],
      Decimal.of('5'),
      { now: NOW, newId: ids() },
    );
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.error.kind).toBe('constraint_violation');
    expect(decision.error.detail).toMatch(/5 of its 5 credits cannot be returned/);
    expect(blocks.map((b) => b.balance.toString())).toEqual(before);
  });

  it('refuses when the credits are more than the group holds', () => {
    const blocks = [block('A', '97', '100')];
    const decision = decideDeprecation(
      ledgerOf(blocks),
      blocks,
      [pending('E1', 'A', '-3', '97')],
      Decimal.of('4'),
      { now: NOW, newId: ids() },
    );
    expect(decision.ok ? 'accepted' : decision.error.kind).toBe('constraint_violation');
  });

  it('expires again at once what it returns to a block that has expired since the usage', () => {
    // A expired at 18:00 today (its expiry entry already written); the usage drew 4 from it first.
    const blocks = [
      block('A', '0', '10', { expiresAt: new Date('2026-11-21T18:00:00Z') }),
      block('B', '50'),
    ];
    const changes = accepted(blocks, [pending('EA', 'A', '-4', '46')], '4');
    expect(grown(changes)).toEqual([['EA', '0', '50']]);
    expect(
      changes.entries.map((e) => [
        e.entryType,
        e.blockId,
        e.amount.toString(),
        e.ledgerSequenceNumber,
      ]),
    ).toEqual([['credit_block_expiry', 'A', '-4', 5]]);
    expect(balances(changes)).toEqual({ A: '0' });
    expect(changes.ledger.balance.toString()).toBe('50');
  });

  it('catches the clock up first: a block whose expiry has passed is expired before the credits return', () => {
    const blocks = [
      block('X', '7', '7', { expiresAt: new Date('2026-11-21T19:00:00Z') }),
      block('A', '90', '100'),
    ];
    const changes = accepted(blocks, [pending('E1', 'A', '-10', '97')], '10');
    expect(changes.entries.map((e) => [e.entryType, e.blockId, e.amount.toString()])).toEqual([
      ['credit_block_expiry', 'X', '-7'],
    ]);
    expect(grown(changes)).toEqual([['E1', '0', '107']]);
    expect(balances(changes)).toEqual({ X: '0', A: '100' });
    expect(changes.ledger.balance.toString()).toBe('100');
  });

  it('changes nothing for an event worth 0 credits', () => {
    const blocks = [block('A', '90', '100')];
    const changes = accepted(blocks, [pending('E1', 'A', '-10', '90')], '0');
    expect(changes.grownEntries).toEqual([]);
    expect(changes.updatedBlocks).toEqual([]);
    expect(changes.ledger.balance.toString()).toBe('90');
  });

  it('keeps every digit: 0.000000000001 comes back exactly', () => {
    const changes = accepted(
      [block('A', '99.999999999998', '100')],
      [pending('E1', 'A', '-0.000000000002', '99.999999999998')],
      '0.000000000001',
    );
    expect(grown(changes)).toEqual([['E1', '-0.000000000001', '99.999999999999']]);
    expect(changes.ledger.balance.toString()).toBe('99.999999999999');
  });
});

describe('deprecationWindowRefusal (the grace period, LEDGER_RULES.md §5)', () => {
  const closesAt = new Date(Date.UTC(2030, 0, 2, 12));
  const window = (now: Date, dayCommitted = false) =>
    deprecationWindowRefusal({ eventId: 'evt', closesAt, dayCommitted, now });

  it('admits an event until its day closes, and refuses it from that instant on', () => {
    expect(window(new Date(closesAt.getTime() - 1))).toBeUndefined();
    expect(window(closesAt)?.code).toBe('event_outside_grace');
    expect(window(new Date(closesAt.getTime() + 1))?.kind).toBe('constraint_violation');
  });

  it('refuses once the day close committed the group, whatever the clock says', () => {
    expect(window(new Date(closesAt.getTime() - 60_000), true)).toMatchObject({
      code: 'event_outside_grace',
      detail: `event evt is outside the grace period: its usage day closed at ${closesAt.toISOString()} and its usage is committed.`,
    });
  });
});
