/**
 * `decide` as given/when/then tables (Emmett style): given blocks and a ledger, when a command,
 * then these entries, block balances and ledger balance. LEDGER_RULES.md §8 examples 1-3 and 8
 * appear exactly as written there; the transfers (4-7) are in decideTransfers.test.ts. Every case
 * also passes `assertInvariants` (givenWhenThen.ts): gapless sequence numbers, each entry chained
 * to the previous, and Σ block balances = ledger balance (§2).
 */
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import { decide } from '../../../domain/decide.ts';
import type { Ledger } from '../../../domain/types.ts';
import {
  block,
  counterIds,
  DEC_01_2026,
  decrement,
  given,
  increment,
  invoiceSettings,
  JAN_01_2027,
  LONG_AGO,
  NOW,
  runCase,
  type Case,
} from './givenWhenThen.ts';

const cases: Case[] = [
  {
    name: '§8 example 1: decrement 70 draws the sooner-expiring B, then A',
    given: () => [
      block('A', '100', { expiresAt: JAN_01_2027, perUnitCostBasis: '0.20' }),
      block('B', '50', { expiresAt: DEC_01_2026, perUnitCostBasis: '0.50' }),
    ],
    when: decrement('70'),
    then: {
      entries: [
        ['decrement', 'B', '-50'],
        ['decrement', 'A', '-20'],
      ],
      balances: { A: '80', B: '0' },
      ledgerBalance: '80',
      updated: ['A', 'B'],
    },
  },
  {
    name: '§8 example 2: decrement 25 draws cheaper B, then overdraws A with one merged entry',
    given: () => [
      block('A', '10', { expiresAt: null, perUnitCostBasis: '1.00' }),
      block('B', '10', { expiresAt: null, perUnitCostBasis: '0.00' }),
    ],
    when: decrement('25'),
    then: {
      entries: [
        ['decrement', 'B', '-10'],
        ['decrement', 'A', '-15'],
      ],
      balances: { A: '-5', B: '0' },
      ledgerBalance: '-5',
      updated: ['A', 'B'],
    },
  },
  {
    name: '§8 example 3: increment 20 first repays the overdraft block A',
    given: () => [block('A', '-5', { expiresAt: null })],
    when: increment('20', { expiresAt: JAN_01_2027 }),
    then: {
      entries: [['increment', 'id-1', '20']],
      balances: { A: '0', 'id-1': '15' },
      ledgerBalance: '15',
      updated: ['A'],
    },
  },
  {
    // Made in one instant, A's entry first (creation sequence); B's id sorts first, so a tie
    // broken by id would draw B (§3 rule 4: random ids never decide).
    name: '§8 example 12: blocks alike made in one instant: decrement 60 draws A (made first), then B',
    given: () => [
      block('z-A', '50', {
        expiresAt: JAN_01_2027,
        perUnitCostBasis: '0.10',
        createdAt: LONG_AGO,
        creationSequence: 4,
      }),
      block('a-B', '50', {
        expiresAt: JAN_01_2027,
        perUnitCostBasis: '0.10',
        createdAt: LONG_AGO,
        creationSequence: 5,
      }),
    ],
    ledger: { nextSequenceNumber: 6 },
    when: decrement('60'),
    then: {
      entries: [
        ['decrement', 'z-A', '-50'],
        ['decrement', 'a-B', '-10'],
      ],
      balances: { 'z-A': '0', 'a-B': '40' },
      ledgerBalance: '40',
      updated: ['z-A', 'a-B'],
    },
  },
  {
    name: 'an increment repays negative blocks in creation order, not by id (§4 "oldest first")',
    given: () => [
      block('z-X', '-5', { createdAt: LONG_AGO, creationSequence: 2 }),
      block('a-Y', '-5', { createdAt: LONG_AGO, creationSequence: 3 }),
    ],
    ledger: { nextSequenceNumber: 4 },
    when: increment('7'),
    then: {
      entries: [['increment', 'id-1', '7']],
      balances: { 'z-X': '0', 'a-Y': '-3', 'id-1': '0' },
      ledgerBalance: '-3',
      updated: ['z-X', 'a-Y'],
    },
  },
  {
    name: 'decrement with no blocks at all makes a fresh overdraft block',
    given: () => [],
    when: decrement('30'),
    then: {
      entries: [['decrement', 'id-1', '-30']],
      balances: { 'id-1': '-30' },
      ledgerBalance: '-30',
      updated: [],
    },
  },
  {
    name: 'decrement covered by one block writes one entry',
    given: () => [block('A', '100'), block('B', '100')],
    when: decrement('0.000000000001'),
    then: {
      entries: [['decrement', 'A', '-0.000000000001']],
      balances: { A: '99.999999999999', B: '100' },
      ledgerBalance: '199.999999999999',
      updated: ['A'],
    },
  },
  {
    name: 'decrement beyond expiring credit, with no never-expiring block, overdraws a fresh block',
    given: () => [block('A', '10', { expiresAt: JAN_01_2027 })],
    when: decrement('15'),
    then: {
      entries: [
        ['decrement', 'A', '-10'],
        ['decrement', 'id-1', '-5'],
      ],
      balances: { A: '0', 'id-1': '-5' },
      ledgerBalance: '-5',
      updated: ['A'],
    },
  },
  {
    name: 'a manual decrement skips filtered blocks and overdraws the unfiltered one',
    given: () => [
      block('F', '100', { filters: [{ field: 'item_id', operator: 'includes', values: ['gpu'] }] }),
      block('A', '10'),
    ],
    when: decrement('12'),
    then: {
      entries: [['decrement', 'A', '-12']],
      balances: { F: '100', A: '-2' },
      ledgerBalance: '98',
      updated: ['A'],
    },
  },
  {
    name: 'decrement onto an already-empty overdraft block comes after the drawn blocks',
    given: () => [block('O', '0'), block('A', '10', { expiresAt: JAN_01_2027 })],
    when: decrement('14'),
    then: {
      entries: [
        ['decrement', 'A', '-10'],
        ['decrement', 'O', '-4'],
      ],
      balances: { O: '-4', A: '0' },
      ledgerBalance: '-4',
      updated: ['A', 'O'],
    },
  },
  {
    name: 'decrement does not draw from pending, voided, future or expired blocks; the expired one expires first',
    given: () => [
      block('P', '10', { status: 'pending_payment' }),
      block('V', '10', { voidedAt: new Date('2026-11-01T00:00:00Z') }),
      block('F', '10', { effectiveAt: DEC_01_2026 }),
      block('X', '10', { expiresAt: NOW }),
      block('A', '10'),
    ],
    when: decrement('3'),
    then: {
      entries: [
        ['credit_block_expiry', 'X', '-10'],
        ['decrement', 'A', '-3'],
      ],
      balances: { P: '10', V: '10', F: '10', X: '0', A: '7' },
      ledgerBalance: '37',
      updated: ['X', 'A'],
    },
  },
  {
    // LEDGER_RULES.md §8 example 8: expiry 2026-11-22 in Los Angeles is 08:00Z; NOW is a day
    // earlier, so the block is given as already due (expiry an hour before NOW).
    name: '§8 example 8: a due block expires before the command is decided',
    given: () => [block('A', '30', { expiresAt: new Date(NOW.getTime() - 3_600_000) })],
    when: increment('5'),
    then: {
      entries: [
        ['credit_block_expiry', 'A', '-30'],
        // The expiry entry took id-1, so the new block is id-2.
        ['increment', 'id-2', '5'],
      ],
      balances: { A: '0', 'id-2': '5' },
      ledgerBalance: '5',
      updated: ['A'],
    },
  },
  {
    name: 'several due blocks expire soonest first',
    given: () => [
      block('L', '4', { expiresAt: new Date(NOW.getTime() - 1_000) }),
      block('E', '6', { expiresAt: new Date(NOW.getTime() - 60_000) }),
      block('A', '10'),
    ],
    when: decrement('1'),
    then: {
      entries: [
        ['credit_block_expiry', 'E', '-6'],
        ['credit_block_expiry', 'L', '-4'],
        ['decrement', 'A', '-1'],
      ],
      balances: { L: '0', E: '0', A: '9' },
      ledgerBalance: '9',
      updated: ['E', 'L', 'A'],
    },
  },
  {
    name: 'increment with no negative blocks: the new block holds the whole amount',
    given: () => [block('A', '10'), block('Z', '0')],
    when: increment('20.5'),
    then: {
      entries: [['increment', 'id-1', '20.5']],
      balances: { A: '10', Z: '0', 'id-1': '20.5' },
      ledgerBalance: '30.5',
      updated: [],
    },
  },
  {
    name: 'increment effective in the future does not repay negative blocks',
    given: () => [block('A', '-5')],
    when: increment('20', { effectiveAt: DEC_01_2026 }),
    then: {
      entries: [['increment', 'id-1', '20']],
      balances: { A: '-5', 'id-1': '20' },
      ledgerBalance: '15',
      updated: [],
    },
  },
  {
    name: 'increment effective at exactly now repays negative blocks',
    given: () => [block('A', '-5')],
    when: increment('20', { effectiveAt: NOW }),
    then: {
      entries: [['increment', 'id-1', '20']],
      balances: { A: '0', 'id-1': '15' },
      ledgerBalance: '15',
      updated: ['A'],
    },
  },
  {
    name: 'increment larger than the total negative repays every negative block',
    given: () => {
      const older = block('OLD', '-5');
      const newer = block('NEW', '-3');
      return [newer, block('A', '4'), older];
    },
    when: increment('20'),
    then: {
      entries: [['increment', 'id-1', '20']],
      balances: { NEW: '0', A: '4', OLD: '0', 'id-1': '12' },
      ledgerBalance: '16',
      updated: ['NEW', 'OLD'],
    },
  },
  {
    name: 'increment smaller than the total negative repays oldest first; the new block starts at 0',
    given: () => {
      const older = block('OLD', '-5');
      const newer = block('NEW', '-3');
      return [newer, older];
    },
    when: increment('6'),
    then: {
      entries: [['increment', 'id-1', '6']],
      balances: { NEW: '-2', OLD: '0', 'id-1': '0' },
      ledgerBalance: '-2',
      updated: ['NEW', 'OLD'],
    },
  },
];

describe('decide: given / when / then', () => {
  for (const c of cases) {
    it(c.name, () => runCase(c));
  }
});

describe('decide: details of particular cases', () => {
  it('§8 example 1: the response entry (the last) is the A entry; balance 150 → 80', () => {
    const changes = given([
      block('A', '100', { expiresAt: JAN_01_2027, perUnitCostBasis: '0.20' }),
      block('B', '50', { expiresAt: DEC_01_2026, perUnitCostBasis: '0.50' }),
    ])
      .when(decrement('70'))
      .then({
        entries: [
          ['decrement', 'B', '-50'],
          ['decrement', 'A', '-20'],
        ],
        balances: { A: '80', B: '0' },
        ledgerBalance: '80',
      });
    const response = changes.entries.at(-1);
    expect(response?.blockId).toBe('A');
    expect(response?.amount.toString()).toBe('-20');
    expect(response?.startingBalance.toString()).toBe('100');
    expect(response?.endingBalance.toString()).toBe('80');
    expect(changes.entries[0]?.startingBalance.toString()).toBe('150');
  });

  it('§8 example 3: new block C has balance 15, initial 20, the expiry asked for; entry +20, −5 → 15', () => {
    const changes = given([block('A', '-5')])
      .when(increment('20', { expiresAt: JAN_01_2027 }))
      .then({
        entries: [['increment', 'id-1', '20']],
        balances: { A: '0', 'id-1': '15' },
        ledgerBalance: '15',
      });
    expect(changes.newBlocks).toHaveLength(1);
    const c = changes.newBlocks[0];
    expect(c?.balance.toString()).toBe('15');
    expect(c?.maximumInitialBalance.toString()).toBe('20');
    expect(c?.expiresAt?.toISOString()).toBe('2027-01-01T08:00:00.000Z');
    expect(c?.effectiveAt.getTime()).toBe(NOW.getTime());
    expect(c?.status).toBe('active');
    const entry = changes.entries[0];
    expect(entry?.startingBalance.toString()).toBe('-5');
    expect(entry?.endingBalance.toString()).toBe('15');
  });

  it('increment keeps cost basis, filters, expiry and effective date on the new block', () => {
    const filters = [{ field: 'item_id' as const, operator: 'includes' as const, values: ['gpu'] }];
    const changes = given([])
      .when(
        increment('10', {
          expiresAt: JAN_01_2027,
          effectiveAt: DEC_01_2026,
          perUnitCostBasis: '0.20',
          invoice: invoiceSettings(),
          filters,
          description: 'top-up',
          metadata: { order: '42' },
        }),
      )
      .then({
        entries: [['increment', 'id-1', '10']],
        balances: { 'id-1': '10' },
        ledgerBalance: '10',
      });
    const b = changes.newBlocks[0];
    expect(b?.perUnitCostBasis).toBe('0.20');
    expect(b?.filters).toEqual(filters);
    expect(b?.expiresAt?.getTime()).toBe(JAN_01_2027.getTime());
    expect(b?.effectiveAt.getTime()).toBe(DEC_01_2026.getTime());
    expect(b?.createdAt.getTime()).toBe(NOW.getTime());
    expect(changes.entries[0]?.description).toBe('top-up');
    expect(changes.entries[0]?.metadata).toEqual({ order: '42' });
  });

  it('the fresh overdraft block: initial 0, balance −A, no expiry, no cost basis, unfiltered, active', () => {
    const changes = given([])
      .when(decrement('30'))
      .then({
        entries: [['decrement', 'id-1', '-30']],
        balances: { 'id-1': '-30' },
        ledgerBalance: '-30',
      });
    expect(changes.newBlocks).toHaveLength(1);
    const b = changes.newBlocks[0];
    expect(b?.maximumInitialBalance.toString()).toBe('0');
    expect(b?.balance.toString()).toBe('-30');
    expect(b?.expiresAt).toBeNull();
    expect(b?.perUnitCostBasis).toBeNull();
    expect(b?.filters).toEqual([]);
    expect(b?.status).toBe('active');
    expect(b?.voidedAt).toBeNull();
  });

  it('a second decrement reuses the overdraft block it made rather than making another', () => {
    const first = given([])
      .when(decrement('30'))
      .then({
        entries: [['decrement', 'id-1', '-30']],
        balances: { 'id-1': '-30' },
        ledgerBalance: '-30',
      });
    given(first.newBlocks, first.ledger)
      .when(decrement('5'))
      .then({
        entries: [['decrement', 'id-1', '-5']],
        balances: { 'id-1': '-35' },
        ledgerBalance: '-35',
        updated: ['id-1'],
      });
  });

  it('sequence numbers are consecutive from ledger.nextSequenceNumber', () => {
    const changes = given(
      [
        block('A', '100', { expiresAt: JAN_01_2027, perUnitCostBasis: '0.20' }),
        block('B', '50', { expiresAt: DEC_01_2026, perUnitCostBasis: '0.50' }),
      ],
      { nextSequenceNumber: 41 },
    )
      .when(decrement('170'))
      .then({
        entries: [
          ['decrement', 'B', '-50'],
          ['decrement', 'A', '-100'],
          ['decrement', 'id-1', '-20'],
        ],
        balances: { A: '0', B: '0', 'id-1': '-20' },
        ledgerBalance: '-20',
      });
    expect(changes.entries.map((e) => e.ledgerSequenceNumber)).toEqual([41, 42, 43]);
    expect(changes.ledger.nextSequenceNumber).toBe(44);
  });

  it('decide is deterministic: the same inputs give the same changes', () => {
    const blocks = [
      block('A', '10', { perUnitCostBasis: '1.00' }),
      block('B', '10', { perUnitCostBasis: '0.00' }),
    ];
    const ledger: Ledger = {
      currency: 'credits',
      balance: Decimal.of('20'),
      nextSequenceNumber: 3,
    };
    const once = decide(decrement('25'), ledger, blocks, { now: NOW, newId: counterIds() });
    const twice = decide(decrement('25'), ledger, blocks, { now: NOW, newId: counterIds() });
    expect(JSON.stringify(once)).toBe(JSON.stringify(twice));
  });
});

describe('decide: amounts past the representable range', () => {
  it('refuses an increment that would take the balance past 26 integer digits, writing nothing', () => {
    const big = '99999999999999999999999999';
    const ledger: Ledger = { currency: 'credits', balance: Decimal.of(big), nextSequenceNumber: 1 };
    const decision = decide(increment(big), ledger, [block('A', big)], {
      now: NOW,
      newId: counterIds(),
    });
    expect(decision.ok).toBe(false);
    if (!decision.ok) {
      expect(decision.error.kind).toBe('request_validation');
      expect(decision.error.detail).toMatch(/26 integer digits/);
    }
  });
});
