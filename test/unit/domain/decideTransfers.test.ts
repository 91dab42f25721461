/**
 * `decide` for the commands that name a block: expiration_change, void and amendment
 * (LEDGER_RULES.md §4), as given/when/then tables. §8 examples 4-7 appear exactly as written
 * there; every refusal of §4 has a row, and a refusal writes nothing, not even the clock catch-up.
 * Accepted rows pass `assertInvariants` (givenWhenThen.ts), transfers keeping starting = ending.
 */
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import type {
  AmendmentCommand,
  Block,
  ExpirationChangeCommand,
  VoidCommand,
} from '../../../domain/types.ts';
import {
  block,
  DEC_01_2026,
  decrement,
  given,
  JAN_01_2027,
  NOW,
  runCase,
  type Case,
} from './givenWhenThen.ts';

/** Midnight in America/Los_Angeles (PST, UTC-8) of the dates of §8 example 4. */
const DEC_28_2026 = new Date('2026-12-28T08:00:00Z');
const DEC_28_2027 = new Date('2027-12-28T08:00:00Z');
const AN_HOUR_AGO = new Date(NOW.getTime() - 3_600_000);
const GPU_ONLY = [{ field: 'item_id' as const, operator: 'includes' as const, values: ['gpu'] }];

function expirationChange(overrides: Partial<ExpirationChangeCommand>): ExpirationChangeCommand {
  return {
    type: 'expiration_change',
    currency: 'credits',
    amount: null,
    blockId: null,
    sourceExpiresAt: null,
    targetExpiresAt: DEC_28_2027,
    description: null,
    metadata: {},
    ...overrides,
  };
}

function voidBlock(
  blockId: string,
  amount: string,
  voidReason: 'refund' | null = null,
): VoidCommand {
  return {
    type: 'void',
    currency: 'credits',
    blockId,
    amount: Decimal.of(amount),
    voidReason,
    description: null,
    metadata: {},
  };
}

function amendment(blockId: string, amount: string): AmendmentCommand {
  return {
    type: 'amendment',
    currency: 'credits',
    blockId,
    amount: Decimal.of(amount),
    description: null,
    metadata: {},
  };
}

/** A block holding `balance` of the `initial` it was created with. */
function drawn(
  id: string,
  balance: string,
  initial: string,
  overrides: Partial<Block> = {},
): Block {
  return block(id, balance, { maximumInitialBalance: Decimal.of(initial), ...overrides });
}

const expirationChangeCases: Case[] = [
  {
    name: '§8 example 4: 10 of A (30, expiring 2026-12-28) move to a new block expiring 2027-12-28',
    given: () => [block('A', '30', { expiresAt: DEC_28_2026 })],
    when: expirationChange({
      amount: Decimal.of('10'),
      sourceExpiresAt: DEC_28_2026,
      targetExpiresAt: DEC_28_2027,
    }),
    then: {
      // The new block took id-1, so the entry is id-2; the entry names the source block.
      entries: [['expiration_change', 'A', '10']],
      balances: { A: '20', 'id-1': '10' },
      ledgerBalance: '30',
      updated: ['A'],
    },
  },
  {
    name: 'by block_id: the named block is the source, whatever else expires then',
    given: () => [
      block('A', '30', { expiresAt: DEC_28_2026 }),
      block('B', '5', { expiresAt: DEC_28_2026 }),
    ],
    when: expirationChange({ blockId: 'B', amount: Decimal.of('2') }),
    then: {
      entries: [['expiration_change', 'B', '2']],
      balances: { A: '30', B: '3', 'id-1': '2' },
      ledgerBalance: '35',
      updated: ['B'],
    },
  },
  {
    name: 'by expiry_date: the one block with credit left and that expiry; empty blocks with it do not count',
    given: () => [
      block('A', '30', { expiresAt: DEC_01_2026 }),
      block('B', '0', { expiresAt: DEC_28_2026 }),
      block('C', '7', { expiresAt: DEC_28_2026 }),
      block('D', '9'),
    ],
    when: expirationChange({ sourceExpiresAt: DEC_28_2026, amount: Decimal.of('7') }),
    then: {
      entries: [['expiration_change', 'C', '7']],
      balances: { A: '30', B: '0', C: '0', D: '9', 'id-1': '7' },
      ledgerBalance: '46',
      updated: ['C'],
    },
  },
  {
    name: 'amount defaults to the source block’s whole balance',
    given: () => [block('A', '30.5', { expiresAt: DEC_28_2026 })],
    when: expirationChange({ blockId: 'A' }),
    then: {
      entries: [['expiration_change', 'A', '30.5']],
      balances: { A: '0', 'id-1': '30.5' },
      ledgerBalance: '30.5',
      updated: ['A'],
    },
  },
  {
    name: 'never-expiring credit named by block_id can be given an expiry',
    given: () => [block('A', '30')],
    when: expirationChange({ blockId: 'A', amount: Decimal.of('30') }),
    then: {
      entries: [['expiration_change', 'A', '30']],
      balances: { A: '0', 'id-1': '30' },
      ledgerBalance: '30',
      updated: ['A'],
    },
  },
  {
    name: 'a target exactly on the block’s effective date is allowed',
    given: () => [block('A', '30', { effectiveAt: DEC_01_2026, expiresAt: DEC_28_2026 })],
    when: expirationChange({ blockId: 'A', targetExpiresAt: DEC_01_2026 }),
    then: {
      entries: [['expiration_change', 'A', '30']],
      balances: { A: '0', 'id-1': '30' },
      ledgerBalance: '30',
      updated: ['A'],
    },
  },
  {
    name: 'refused 404: block_id not found',
    given: () => [block('A', '30', { expiresAt: DEC_28_2026 })],
    when: expirationChange({ blockId: 'NOPE' }),
    then: {
      refused: 'resource_not_found',
      code: 'block_not_found',
      detail: /^block NOPE not found$/,
    },
  },
  {
    name: 'refused 404: block_id of a block in another currency',
    given: () => [block('A', '30', { expiresAt: DEC_28_2026 })],
    when: expirationChange({ blockId: 'A', currency: 'USD' }),
    then: { refused: 'resource_not_found', code: 'block_not_found', detail: /block A not found/ },
  },
  {
    name: 'refused 404: no block with credit left has that expiry_date',
    given: () => [
      block('A', '30', { expiresAt: DEC_01_2026 }),
      block('B', '0', { expiresAt: DEC_28_2026 }),
    ],
    when: expirationChange({ sourceExpiresAt: DEC_28_2026 }),
    then: {
      refused: 'resource_not_found',
      code: 'block_with_expiry_not_found',
      detail: /no block with credit left expires at 2026-12-28T08:00:00.000Z/,
    },
  },
  {
    name: 'refused 400: two blocks have that expiry_date, so block_id must choose',
    given: () => [
      block('A', '30', { expiresAt: DEC_28_2026 }),
      block('B', '5', { expiresAt: DEC_28_2026 }),
    ],
    when: expirationChange({ sourceExpiresAt: DEC_28_2026 }),
    then: {
      refused: 'request_validation',
      code: 'source_block_ambiguous',
      detail: /2 blocks expire at .*\(A, B\); give block_id/,
    },
  },
  {
    name: 'refused 400: neither block_id nor expiry_date',
    given: () => [block('A', '30')],
    when: expirationChange({}),
    then: {
      refused: 'request_validation',
      code: 'source_block_unnamed',
      detail: /needs block_id or expiry_date/,
    },
  },
  {
    name: 'refused 400: amount above the source balance',
    given: () => [block('A', '30', { expiresAt: DEC_28_2026 })],
    when: expirationChange({ blockId: 'A', amount: Decimal.of('30.000000000001') }),
    then: {
      refused: 'request_validation',
      code: 'insufficient_credits',
      detail: /cannot move 30.000000000001: block A has 30 left/,
    },
  },
  {
    name: 'refused 400: the default amount of an empty block is not > 0',
    given: () => [block('A', '0', { expiresAt: DEC_28_2026 })],
    when: expirationChange({ blockId: 'A' }),
    then: {
      refused: 'request_validation',
      code: 'block_has_no_credit',
      detail: /block A has no credit to move \(balance 0\)/,
    },
  },
  {
    name: 'refused 400: the default amount of an overdrawn block is not > 0',
    given: () => [block('A', '-5')],
    when: expirationChange({ blockId: 'A' }),
    then: {
      refused: 'request_validation',
      code: 'block_has_no_credit',
      detail: /no credit to move \(balance -5\)/,
    },
  },
  {
    name: 'refused 400: target in the past',
    given: () => [block('A', '30', { expiresAt: DEC_28_2026 })],
    when: expirationChange({ blockId: 'A', targetExpiresAt: AN_HOUR_AGO }),
    then: {
      refused: 'request_validation',
      code: 'target_expiry_not_future',
      detail: /target_expiry_date .* must be after now/,
    },
  },
  {
    name: 'refused 400: target exactly now',
    given: () => [block('A', '30', { expiresAt: DEC_28_2026 })],
    when: expirationChange({ blockId: 'A', targetExpiresAt: NOW }),
    then: {
      refused: 'request_validation',
      code: 'target_expiry_not_future',
      detail: /must be after now/,
    },
  },
  {
    name: 'refused 400: target before the block’s effective date',
    given: () => [block('A', '30', { effectiveAt: JAN_01_2027, expiresAt: DEC_28_2027 })],
    when: expirationChange({ blockId: 'A', targetExpiresAt: DEC_28_2026 }),
    then: {
      refused: 'request_validation',
      code: 'target_expiry_before_effective',
      detail: /is before block A's effective date 2027-01-01T08:00:00.000Z/,
    },
  },
  {
    name: 'refused 400: source voided',
    given: () => [block('A', '30', { voidedAt: AN_HOUR_AGO })],
    when: expirationChange({ blockId: 'A' }),
    then: {
      refused: 'request_validation',
      code: 'block_voided',
      detail: /cannot change the expiry of block A: it was voided/,
    },
  },
  {
    name: 'refused 400: source expired (and its catch-up expiry is discarded with the refusal)',
    given: () => [block('A', '30', { expiresAt: AN_HOUR_AGO })],
    when: expirationChange({ blockId: 'A', amount: Decimal.of('10') }),
    then: {
      refused: 'request_validation',
      code: 'block_expired',
      detail: /cannot change the expiry of block A: it expired at/,
    },
  },
  {
    name: 'refused 400: source pending payment',
    given: () => [block('A', '30', { status: 'pending_payment' })],
    when: expirationChange({ blockId: 'A' }),
    then: {
      refused: 'request_validation',
      code: 'block_not_active',
      detail: /block A: it is pending_payment/,
    },
  },
];

const voidCases: Case[] = [
  {
    name: '§8 example 5: void 40 (refund) of A (40 of 100): void_initiated +40, then void −40; 40 → 0',
    given: () => [drawn('A', '40', '100')],
    when: voidBlock('A', '40', 'refund'),
    then: {
      entries: [
        ['void_initiated', 'A', '40'],
        ['void', 'A', '-40'],
      ],
      balances: { A: '0' },
      ledgerBalance: '0',
      updated: ['A'],
    },
  },
  {
    name: '§8 example 6: void 60 of A (40 of 100) is refused, nothing written',
    given: () => [drawn('A', '40', '100')],
    when: voidBlock('A', '60'),
    then: {
      refused: 'request_validation',
      code: 'insufficient_credits',
      detail: /cannot void 60: block A has 40 left; credit already consumed cannot be voided/,
    },
  },
  {
    name: 'a partial void leaves the rest in the block',
    given: () => [drawn('A', '40', '100'), block('B', '5')],
    when: voidBlock('A', '15.25'),
    then: {
      entries: [
        ['void_initiated', 'A', '15.25'],
        ['void', 'A', '-15.25'],
      ],
      balances: { A: '24.75', B: '5' },
      ledgerBalance: '29.75',
      updated: ['A'],
    },
  },
  {
    name: 'a pending_payment block can be voided (the shell voids its invoice)',
    given: () => [block('P', '50', { status: 'pending_payment' })],
    when: voidBlock('P', '50'),
    then: {
      entries: [
        ['void_initiated', 'P', '50'],
        ['void', 'P', '-50'],
      ],
      balances: { P: '0' },
      ledgerBalance: '0',
      updated: ['P'],
    },
  },
  {
    name: 'refused 404: block not found',
    given: () => [drawn('A', '40', '100')],
    when: voidBlock('NOPE', '1'),
    then: {
      refused: 'resource_not_found',
      code: 'block_not_found',
      detail: /^block NOPE not found$/,
    },
  },
  {
    name: 'refused 400: block already voided',
    given: () => [
      block('A', '0', { maximumInitialBalance: Decimal.of('40'), voidedAt: AN_HOUR_AGO }),
    ],
    when: voidBlock('A', '1'),
    then: {
      refused: 'request_validation',
      code: 'block_voided',
      detail: /cannot void block A: it was voided at/,
    },
  },
  {
    name: 'refused 400: block expired (and its catch-up expiry is discarded with the refusal)',
    given: () => [block('A', '30', { expiresAt: AN_HOUR_AGO })],
    when: voidBlock('A', '10'),
    then: {
      refused: 'request_validation',
      code: 'block_expired',
      detail: /cannot void block A: it expired at/,
    },
  },
  {
    name: 'refused 400: an overdrawn block has nothing to void',
    given: () => [block('O', '-5')],
    when: voidBlock('O', '1'),
    then: {
      refused: 'request_validation',
      code: 'insufficient_credits',
      detail: /cannot void 1: block O has -5 left/,
    },
  },
];

const amendmentCases: Case[] = [
  {
    name: '§8 example 7: amendment 70 to A (40 of 100) is refused: it would exceed the initial balance',
    given: () => [drawn('A', '40', '100')],
    when: amendment('A', '70'),
    then: {
      refused: 'request_validation',
      code: 'exceeds_initial_balance',
      detail: /would exceed the block's initial balance: block A has 40 of 100/,
    },
  },
  {
    name: '§8 example 7: amendment 60 to A (40 of 100) fills it to 100',
    given: () => [drawn('A', '40', '100')],
    when: amendment('A', '60'),
    then: {
      entries: [['amendment', 'A', '60']],
      balances: { A: '100' },
      ledgerBalance: '100',
      updated: ['A'],
    },
  },
  {
    name: 'refused 400: one unit past the initial balance',
    given: () => [drawn('A', '40', '100')],
    when: amendment('A', '60.000000000001'),
    then: {
      refused: 'request_validation',
      code: 'exceeds_initial_balance',
      detail: /would exceed the block's initial balance/,
    },
  },
  {
    name: 'an amendment to a depleted block (balance 0, given because the worker loads it by id)',
    given: () => [drawn('A', '0', '50', { expiresAt: DEC_28_2026 }), block('B', '10')],
    when: amendment('A', '20'),
    then: {
      entries: [['amendment', 'A', '20']],
      balances: { A: '20', B: '10' },
      ledgerBalance: '30',
      updated: ['A'],
    },
  },
  {
    name: 'an amendment to an overdraft block (initial 0) may bring it back to 0, not above',
    given: () => [block('O', '-5')],
    when: amendment('O', '5'),
    then: {
      entries: [['amendment', 'O', '5']],
      balances: { O: '0' },
      ledgerBalance: '0',
      updated: ['O'],
    },
  },
  {
    name: 'refused 400: an overdraft block (initial 0) cannot be amended above 0',
    given: () => [block('O', '-5')],
    when: amendment('O', '6'),
    then: {
      refused: 'request_validation',
      code: 'exceeds_initial_balance',
      detail: /would exceed the block's initial balance: block O has -5 of 0/,
    },
  },
  {
    name: 'refused 404: block not found',
    given: () => [drawn('A', '40', '100')],
    when: amendment('NOPE', '1'),
    then: {
      refused: 'resource_not_found',
      code: 'block_not_found',
      detail: /^block NOPE not found$/,
    },
  },
  {
    name: 'refused 400: block voided',
    given: () => [
      block('A', '0', { maximumInitialBalance: Decimal.of('40'), voidedAt: AN_HOUR_AGO }),
    ],
    when: amendment('A', '1'),
    then: {
      refused: 'request_validation',
      code: 'block_voided',
      detail: /cannot amend block A: it was voided at/,
    },
  },
  {
    name: 'refused 400: block expired, even one already emptied by its expiry',
    given: () => [drawn('A', '0', '50', { expiresAt: AN_HOUR_AGO })],
    when: amendment('A', '1'),
    then: {
      refused: 'request_validation',
      code: 'block_expired',
      detail: /cannot amend block A: it expired at/,
    },
  },
];

describe('decide expiration_change: given / when / then', () => {
  for (const c of expirationChangeCases) it(c.name, () => runCase(c));
});

describe('decide void: given / when / then', () => {
  for (const c of voidCases) it(c.name, () => runCase(c));
});

describe('decide amendment: given / when / then', () => {
  for (const c of amendmentCases) it(c.name, () => runCase(c));
});

describe('decide expiration_change: the new block and the entry', () => {
  it('§8 example 4: new block of 10 expiring 2027-12-28T08:00Z; entry +10 with start = end = 30', () => {
    const changes = given([block('A', '30', { expiresAt: DEC_28_2026 })])
      .when(expirationChange({ amount: Decimal.of('10'), sourceExpiresAt: DEC_28_2026 }))
      .then({
        entries: [['expiration_change', 'A', '10']],
        balances: { A: '20', 'id-1': '10' },
        ledgerBalance: '30',
      });
    const [moved] = changes.newBlocks;
    expect(moved?.expiresAt?.toISOString()).toBe('2027-12-28T08:00:00.000Z');
    expect(moved?.maximumInitialBalance.toString()).toBe('10');
    const [entry] = changes.entries;
    expect(entry?.startingBalance.toString()).toBe('30');
    expect(entry?.endingBalance.toString()).toBe('30');
    expect(entry?.newBlockExpiryDate?.toISOString()).toBe('2027-12-28T08:00:00.000Z');
    expect(entry?.voidAmount).toBeUndefined();
  });

  it('the new block keeps cost basis, filters and effective date; it is active, created now', () => {
    const effectiveAt = new Date('2026-01-01T08:00:00Z');
    const source = block('A', '30', {
      expiresAt: DEC_28_2026,
      perUnitCostBasis: '0.20',
      filters: GPU_ONLY,
      effectiveAt,
    });
    const changes = given([source])
      .when(
        expirationChange({
          blockId: 'A',
          amount: Decimal.of('12'),
          description: 'extend',
          metadata: { ticket: '7' },
        }),
      )
      .then({
        entries: [['expiration_change', 'A', '12']],
        balances: { A: '18', 'id-1': '12' },
        ledgerBalance: '30',
      });
    const moved = changes.newBlocks[0];
    expect(moved).toMatchObject({
      id: 'id-1',
      currency: 'credits',
      perUnitCostBasis: '0.20',
      filters: GPU_ONLY,
    });
    expect(moved).toMatchObject({ status: 'active', voidedAt: null });
    expect(moved?.effectiveAt.getTime()).toBe(effectiveAt.getTime());
    expect(moved?.expiresAt?.getTime()).toBe(DEC_28_2027.getTime());
    expect(moved?.createdAt.getTime()).toBe(NOW.getTime());
    expect(changes.updatedBlocks[0]?.expiresAt?.getTime()).toBe(DEC_28_2026.getTime());
    expect(changes.entries[0]).toMatchObject({
      id: 'id-2',
      description: 'extend',
      metadata: { ticket: '7' },
    });
  });

  it('a due block is expired first; the command then sees the ledger after the catch-up', () => {
    given(
      [block('X', '4', { expiresAt: AN_HOUR_AGO }), block('A', '30', { expiresAt: DEC_28_2026 })],
      { nextSequenceNumber: 9 },
    )
      .when(expirationChange({ blockId: 'A' }))
      .then({
        entries: [
          ['credit_block_expiry', 'X', '-4'],
          ['expiration_change', 'A', '30'],
        ],
        balances: { X: '0', A: '0', 'id-2': '30' },
        ledgerBalance: '30',
      });
  });
});

describe('decide void: the entries and the block', () => {
  it('§8 example 5: both entries carry void_amount 40 and reason refund; the response is the void entry', () => {
    const changes = given([drawn('A', '40', '100')])
      .when(voidBlock('A', '40', 'refund'))
      .then({
        entries: [
          ['void_initiated', 'A', '40'],
          ['void', 'A', '-40'],
        ],
        balances: { A: '0' },
        ledgerBalance: '0',
      });
    const [initiated, voided] = changes.entries;
    expect(initiated).toMatchObject({ voidReason: 'refund', newBlockExpiryDate: NOW });
    expect(initiated?.voidAmount?.toString()).toBe('40');
    expect([initiated?.startingBalance.toString(), initiated?.endingBalance.toString()]).toEqual([
      '40',
      '40',
    ]);
    expect(voided?.voidReason).toBe('refund');
    expect(voided?.voidAmount?.toString()).toBe('40');
    expect(voided?.newBlockExpiryDate).toBeUndefined();
    expect([voided?.startingBalance.toString(), voided?.endingBalance.toString()]).toEqual([
      '40',
      '0',
    ]);
    expect(changes.entries.at(-1)?.entryType).toBe('void');
  });

  it('voiding the whole balance marks the block voided now; a partial void does not', () => {
    const whole = given([drawn('A', '40', '100')])
      .when(voidBlock('A', '40'))
      .then({
        entries: [
          ['void_initiated', 'A', '40'],
          ['void', 'A', '-40'],
        ],
        balances: { A: '0' },
        ledgerBalance: '0',
      });
    expect(whole.updatedBlocks[0]?.voidedAt?.getTime()).toBe(NOW.getTime());
    expect(whole.entries.map((e) => e.voidReason)).toEqual([null, null]);
    const partial = given([drawn('A', '40', '100')])
      .when(voidBlock('A', '39'))
      .then({
        entries: [
          ['void_initiated', 'A', '39'],
          ['void', 'A', '-39'],
        ],
        balances: { A: '1' },
        ledgerBalance: '1',
      });
    expect(partial.updatedBlocks[0]?.voidedAt).toBeNull();
  });

  it('void of the overdraft candidate: fully voided, it no longer takes overdrafts; a fresh block does', () => {
    const voided = given([block('A', '40'), block('E', '10', { expiresAt: JAN_01_2027 })])
      .when(voidBlock('A', '40'))
      .then({
        entries: [
          ['void_initiated', 'A', '40'],
          ['void', 'A', '-40'],
        ],
        balances: { A: '0', E: '10' },
        ledgerBalance: '10',
      });
    const after = [voided.updatedBlocks[0]!, block('E', '10', { expiresAt: JAN_01_2027 })];
    given(after, voided.ledger)
      .when(decrement('15'))
      .then({
        entries: [
          ['decrement', 'E', '-10'],
          ['decrement', 'id-1', '-5'],
        ],
        balances: { A: '0', E: '0', 'id-1': '-5' },
        ledgerBalance: '-5',
      });
  });

  it('void of the overdraft candidate: partly voided, it stays usable and still takes the overdraft', () => {
    const voided = given([block('A', '40')])
      .when(voidBlock('A', '30'))
      .then({
        entries: [
          ['void_initiated', 'A', '30'],
          ['void', 'A', '-30'],
        ],
        balances: { A: '10' },
        ledgerBalance: '10',
      });
    given(voided.updatedBlocks, voided.ledger)
      .when(decrement('15'))
      .then({ entries: [['decrement', 'A', '-15']], balances: { A: '-5' }, ledgerBalance: '-5' });
  });
});
