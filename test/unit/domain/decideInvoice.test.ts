/**
 * Paying and voiding a credit purchase invoice (LEDGER_RULES.md §7), and voiding a block that
 * waits for payment (§4): the block's status and credit change with the invoice, and the other
 * way round.
 */
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import {
  decideInvoice,
  type InvoiceAction,
  type InvoiceState,
} from '../../../domain/decideInvoice.ts';
import { isDrawable } from '../../../domain/drawdown.ts';
import type { Block, LedgerChanges } from '../../../domain/types.ts';
import {
  assertInvariants,
  block,
  blocksAfter,
  counterIds,
  given,
  NOW,
  sumOf,
} from './givenWhenThen.ts';

const PAID_ON = new Date('2026-11-20T08:00:00Z');
const markPaid: InvoiceAction = {
  type: 'mark_paid',
  paidAt: PAID_ON,
  payment: { receivedDate: '2026-11-20', externalId: 'pay_1', notes: null },
};
const issued = (blockId: string): InvoiceState => ({ id: 'inv_1', blockId, status: 'issued' });

function run(action: InvoiceAction, invoice: InvoiceState, blocks: Block[]) {
  const ledger = { currency: 'credits', balance: sumOf(blocks), nextSequenceNumber: 3 };
  const decision = decideInvoice(action, invoice, ledger, blocks, {
    now: NOW,
    newId: counterIds(),
  });
  if (decision.ok) assertInvariants(blocks, ledger, decision.value);
  return decision;
}

function accepted(decision: ReturnType<typeof run>): LedgerChanges {
  if (!decision.ok) throw new Error(`refused: ${decision.error.detail}`);
  return decision.value;
}

describe('mark_paid', () => {
  it('pays the invoice and makes its pending_payment block active, so drawable, writing no entry', () => {
    const pending = block('P', '20', { status: 'pending_payment' });
    expect(isDrawable(pending, NOW, null)).toBe(false);
    const changes = accepted(run(markPaid, issued('P'), [pending]));
    expect(changes.entries).toEqual([]);
    expect(changes.updatedBlocks).toHaveLength(1);
    const paid = changes.updatedBlocks[0]!;
    expect(paid.status).toBe('active');
    expect(isDrawable(paid, NOW, null)).toBe(true);
    expect(changes.invoiceChanges).toEqual([
      {
        blockId: 'P',
        status: 'paid',
        at: PAID_ON,
        payment: markPaid.type === 'mark_paid' ? markPaid.payment : null,
      },
    ]);
  });

  it('pays an invoice whose block was never gated without touching the block', () => {
    const changes = accepted(run(markPaid, issued('A'), [block('A', '20')]));
    expect(changes.updatedBlocks).toEqual([]);
    expect(changes.invoiceChanges?.map((change) => change.status)).toEqual(['paid']);
  });

  it('refuses an invoice that is not issued, writing nothing', () => {
    for (const status of ['paid', 'void'] as const) {
      const decision = run(markPaid, { id: 'inv_1', blockId: 'P', status }, [
        block('P', '20', { status: 'pending_payment' }),
      ]);
      expect(decision).toMatchObject({ ok: false, error: { kind: 'constraint_violation' } });
      if (!decision.ok)
        expect(decision.error.detail).toBe(
          `invoice inv_1 is ${status}; only an issued invoice can be marked paid.`,
        );
    }
  });
});

describe('void', () => {
  it('voids the invoice and what is left of its pending block: void_initiated then void, no reason', () => {
    const pending = block('P', '20', { status: 'pending_payment' });
    const changes = accepted(run({ type: 'void' }, issued('P'), [block('A', '5'), pending]));
    expect(
      changes.entries.map((e) => [
        e.entryType,
        e.blockId,
        e.amount.toString(),
        e.voidReason,
        e.voidAmount?.toString(),
      ]),
    ).toEqual([
      ['void_initiated', 'P', '20', null, '20'],
      ['void', 'P', '-20', null, '20'],
    ]);
    expect(changes.entries.map((e) => e.ledgerSequenceNumber)).toEqual([3, 4]);
    expect(changes.updatedBlocks).toMatchObject([{ id: 'P', voidedAt: NOW }]);
    expect(changes.updatedBlocks[0]?.balance.isZero()).toBe(true);
    expect(changes.ledger.balance.toString()).toBe('5');
    expect(changes.invoiceChanges).toEqual([
      { blockId: 'P', status: 'void', at: NOW, payment: null },
    ]);
  });

  it('voids the remaining credit of an unpaid, active block (Orb: the purchased block is voided)', () => {
    const changes = accepted(
      run({ type: 'void' }, issued('A'), [
        block('A', '7', { maximumInitialBalance: Decimal.of('10') }),
      ]),
    );
    expect(changes.entries.map((e) => [e.entryType, e.amount.toString()])).toEqual([
      ['void_initiated', '7'],
      ['void', '-7'],
    ]);
    expect(changes.invoiceChanges?.map((change) => change.status)).toEqual(['void']);
  });

  it('catches the clock up first: an expired block has nothing left to void', () => {
    const expired = block('P', '20', {
      status: 'pending_payment',
      expiresAt: new Date('2026-11-21T00:00:00Z'),
    });
    const changes = accepted(run({ type: 'void' }, issued('P'), [expired]));
    expect(changes.entries.map((e) => [e.entryType, e.amount.toString()])).toEqual([
      ['credit_block_expiry', '-20'],
    ]);
    expect(changes.invoiceChanges?.map((change) => change.status)).toEqual(['void']);
  });

  it('voids only the invoice when its block is already voided', () => {
    const voided = block('P', '0', {
      status: 'pending_payment',
      voidedAt: new Date('2026-11-01T00:00:00Z'),
      maximumInitialBalance: Decimal.of('20'),
    });
    const changes = accepted(run({ type: 'void' }, issued('P'), [voided]));
    expect(changes.entries).toEqual([]);
    expect(blocksAfter([voided], changes)).toEqual([voided]);
    expect(changes.invoiceChanges?.map((change) => change.status)).toEqual(['void']);
  });

  it('refuses an invoice that is already paid', () => {
    const decision = run({ type: 'void' }, { id: 'inv_1', blockId: 'A', status: 'paid' }, [
      block('A', '20'),
    ]);
    expect(decision).toMatchObject({
      ok: false,
      error: {
        kind: 'constraint_violation',
        detail: 'invoice inv_1 is paid; only an issued invoice can be voided.',
      },
    });
  });
});

describe('a void ledger entry on a pending_payment block (§4)', () => {
  const voidOf = (amount: string) => ({
    type: 'void' as const,
    currency: 'credits',
    blockId: 'P',
    amount: Decimal.of(amount),
    voidReason: null,
    description: null,
    metadata: {},
  });

  it('voiding the whole block voids its invoice', () => {
    const changes = given([block('P', '20', { status: 'pending_payment' })])
      .when(voidOf('20'))
      .then({
        entries: [
          ['void_initiated', 'P', '20'],
          ['void', 'P', '-20'],
        ],
        balances: { P: '0' },
        ledgerBalance: '0',
      });
    expect(changes.invoiceChanges).toEqual([
      { blockId: 'P', status: 'void', at: NOW, payment: null },
    ]);
  });

  it('a partial void is refused: the invoice would charge for voided credit', () => {
    given([block('P', '20', { status: 'pending_payment' })])
      .when(voidOf('5'))
      .thenRefused({
        refused: 'request_validation',
        code: 'block_awaits_payment',
        detail: /awaits payment of its invoice: void its whole balance \(20\) or void the invoice/,
      });
  });

  it('voiding an active block leaves its invoice alone', () => {
    const changes = given([block('P', '20')])
      .when(voidOf('5'))
      .then({
        entries: [
          ['void_initiated', 'P', '5'],
          ['void', 'P', '-5'],
        ],
        balances: { P: '15' },
        ledgerBalance: '15',
      });
    expect(changes.invoiceChanges).toBeUndefined();
  });
});
