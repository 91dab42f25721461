/**
 * The given/when/then harness of the `decide` tables (Emmett style): given blocks and a ledger,
 * when a command, then these entries, block balances and ledger balance, or this refusal. Every
 * accepted decision also passes `assertInvariants`: gapless sequence numbers, each entry starting
 * where the previous ended with `ending = starting + amount` (transfers: `ending = starting`), and
 * Σ block balances = ledger balance (LEDGER_RULES.md §1, §2, §6). Shared by the decide*.test.ts files.
 */
import { expect } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import { decide } from '../../../domain/decide.ts';
import {
  REFUSAL_KINDS,
  type LedgerErrorKind,
  type RefusalCode,
} from '../../../domain/ledgerError.ts';
import type {
  Block,
  DecrementCommand,
  EntryType,
  IncrementCommand,
  InvoiceSettings,
  Ledger,
  LedgerChanges,
  LedgerCommand,
} from '../../../domain/types.ts';

export const NOW = new Date('2026-11-21T12:00:00Z');
export const LONG_AGO = new Date('2020-01-01T00:00:00Z');
/** Midnight in America/Los_Angeles (PST, UTC-8) of the dates used in §8. */
export const DEC_01_2026 = new Date('2026-12-01T08:00:00Z');
export const JAN_01_2027 = new Date('2027-01-01T08:00:00Z');

/** Entry types that move credit without changing the balance (§1). */
const TRANSFER_TYPES: ReadonlySet<EntryType> = new Set(['expiration_change', 'void_initiated']);

let createdSeconds = 0;
/** Later calls get later `createdAt`, so the order of calls is the age order. */
export function block(id: string, balance: string, overrides: Partial<Block> = {}): Block {
  createdSeconds += 1;
  return {
    id,
    currency: 'credits',
    balance: Decimal.of(balance),
    maximumInitialBalance: Decimal.of(balance).isNegative() ? Decimal.ZERO : Decimal.of(balance),
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

/** invoice_settings as the shell gives them: USD, Los Angeles, net 30 unless overridden. */
export function invoiceSettings(overrides: Partial<InvoiceSettings> = {}): InvoiceSettings {
  return {
    currency: 'USD',
    timezone: 'America/Los_Angeles',
    autoCollection: false,
    netTermsDays: 30,
    customDueAt: null,
    invoiceAt: null,
    memo: null,
    itemId: null,
    markAsPaid: false,
    requireSuccessfulPayment: false,
    ...overrides,
  };
}

export function decrement(amount: string): DecrementCommand {
  return {
    type: 'decrement',
    currency: 'credits',
    amount: Decimal.of(amount),
    description: null,
    metadata: {},
  };
}

export function increment(
  amount: string,
  overrides: Partial<IncrementCommand> = {},
): IncrementCommand {
  return {
    type: 'increment',
    currency: 'credits',
    amount: Decimal.of(amount),
    effectiveAt: null,
    expiresAt: null,
    perUnitCostBasis: null,
    filters: [],
    description: null,
    metadata: {},
    ...overrides,
  };
}

/** A counter, so the ids a decision makes are predictable: 'id-1', 'id-2', … */
export function counterIds(): () => string {
  let next = 0;
  return () => `id-${++next}`;
}

export const sumOf = (blocks: readonly Block[]) => Decimal.sum(blocks.map((b) => b.balance));

/** Every block after the decision: untouched ones as given, updated ones replaced, new ones added. */
export function blocksAfter(before: readonly Block[], changes: LedgerChanges): Block[] {
  const updated = new Map(changes.updatedBlocks.map((b) => [b.id, b]));
  return [...before.map((b) => updated.get(b.id) ?? b), ...changes.newBlocks];
}

/** The rules that hold for every decision, whatever the command (§1, §2, §6). */
export function assertInvariants(
  before: readonly Block[],
  ledger: Ledger,
  changes: LedgerChanges,
): void {
  const givenIds = new Set(before.map((b) => b.id));
  for (const b of changes.updatedBlocks)
    expect(givenIds.has(b.id), `updated ${b.id} was given`).toBe(true);
  for (const b of changes.newBlocks) expect(givenIds.has(b.id), `new ${b.id} is new`).toBe(false);
  const after = blocksAfter(before, changes);
  expect(new Set(after.map((b) => b.id)).size).toBe(after.length);

  // Σ block balances (new + updated + untouched) = ledger balance.
  expect(sumOf(after).toString()).toBe(changes.ledger.balance.toString());

  // Gapless sequence numbers, continuing from the ledger's.
  expect(changes.entries.map((e) => e.ledgerSequenceNumber)).toEqual(
    changes.entries.map((_, i) => ledger.nextSequenceNumber + i),
  );
  expect(changes.ledger.nextSequenceNumber).toBe(
    ledger.nextSequenceNumber + changes.entries.length,
  );

  // Each entry starts where the previous ended; ending = starting + amount, except that a
  // transfer moves a positive amount and leaves the balance as it was (§1).
  let running = ledger.balance;
  for (const entry of changes.entries) {
    expect(entry.startingBalance.toString()).toBe(running.toString());
    if (TRANSFER_TYPES.has(entry.entryType)) {
      expect(entry.amount.isPositive(), `${entry.entryType} moves a positive amount`).toBe(true);
      expect(entry.endingBalance.toString()).toBe(entry.startingBalance.toString());
    } else {
      expect(entry.endingBalance.toString()).toBe(
        entry.startingBalance.plus(entry.amount).toString(),
      );
    }
    expect(entry.createdAt.getTime()).toBe(NOW.getTime());
    expect(entry.currency).toBe(ledger.currency);
    expect(
      after.some((b) => b.id === entry.blockId),
      `entry block ${entry.blockId} exists`,
    ).toBe(true);
    running = entry.endingBalance;
  }
  expect(running.toString()).toBe(changes.ledger.balance.toString());
  expect(new Set(changes.entries.map((e) => e.id)).size).toBe(changes.entries.length);
}

export interface Then {
  /** [entry type, block id, signed amount], in the order made; the last answers the request. */
  entries: Array<[EntryType, string, string]>;
  /** The balance of every block afterwards, given and new. */
  balances: Record<string, string>;
  ledgerBalance: string;
  /** Ids of given blocks whose balance changed. */
  updated?: string[];
}

/** A refusal: its kind, its code when the row names one, and a pattern its sentence must match. */
export interface Refused {
  refused: LedgerErrorKind;
  code?: RefusalCode;
  detail: RegExp;
}

/** given(blocks, ledger).when(command).then(expected): returns the changes for further checks. */
export function given(blocks: Block[], ledgerOverrides: Partial<Ledger> = {}) {
  const ledger: Ledger = {
    currency: 'credits',
    balance: sumOf(blocks),
    nextSequenceNumber: 0,
    ...ledgerOverrides,
  };
  // The given state must itself satisfy the central invariant.
  expect(sumOf(blocks).toString()).toBe(ledger.balance.toString());
  return {
    when(command: LedgerCommand) {
      const snapshot = blocks.map((b) => [b.id, b.balance.toString(), b.voidedAt]);
      const decision = decide(command, ledger, blocks, { now: NOW, newId: counterIds() });
      // Pure: the given blocks are not mutated, whatever the outcome.
      const assertUnmutated = () =>
        expect(blocks.map((b) => [b.id, b.balance.toString(), b.voidedAt])).toEqual(snapshot);
      return {
        then(expected: Then): LedgerChanges {
          if (!decision.ok) throw new Error(`refused: ${decision.error.detail}`);
          const changes = decision.value;
          assertUnmutated();
          assertInvariants(blocks, ledger, changes);
          expect(changes.entries.map((e) => [e.entryType, e.blockId, e.amount.toString()])).toEqual(
            expected.entries,
          );
          expect(changes.entries.every((e) => e.entryStatus === 'committed')).toBe(true);
          const balances = Object.fromEntries(
            blocksAfter(blocks, changes).map((b) => [b.id, b.balance.toString()]),
          );
          expect(balances).toEqual(expected.balances);
          expect(changes.ledger.balance.toString()).toBe(expected.ledgerBalance);
          if (expected.updated)
            expect(changes.updatedBlocks.map((b) => b.id).sort()).toEqual(
              [...expected.updated].sort(),
            );
          return changes;
        },
        /** A refusal is the whole decision: there are no changes to write, not even a catch-up. */
        thenRefused(expected: Refused): void {
          assertUnmutated();
          if (decision.ok)
            throw new Error(`expected a refusal, got ${decision.value.entries.length} entries`);
          expect(decision.error.kind).toBe(expected.refused);
          expect(decision.error.kind).toBe(REFUSAL_KINDS[decision.error.code]);
          if (expected.code) expect(decision.error.code).toBe(expected.code);
          expect(decision.error.detail).toMatch(expected.detail);
        },
      };
    },
  };
}

export interface Case {
  name: string;
  given: () => Block[];
  ledger?: Partial<Ledger>;
  when: LedgerCommand;
  then: Then | Refused;
}

/** Runs one table row, accepted or refused. */
export function runCase(c: Case): void {
  const when = given(c.given(), c.ledger).when(c.when);
  if ('refused' in c.then) when.thenRefused(c.then);
  else when.then(c.then);
}
