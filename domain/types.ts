/**
 * The ledger's vocabulary (LEDGER_RULES.md §2, §4): blocks, entries, ledgers and the commands the
 * domain decides on. One word per meaning: a *block* holds credits, an *entry* records a change,
 * a *ledger* is one (customer, currency) pair. Instants are `Date`s given by the caller.
 */
import type { Decimal } from './decimal.ts';

export type BlockStatus = 'active' | 'pending_payment';

export interface BlockFilter {
  field: 'item_id';
  operator: 'includes' | 'excludes';
  values: string[];
}

export interface Block {
  id: string;
  currency: string;
  balance: Decimal;
  maximumInitialBalance: Decimal;
  effectiveAt: Date;
  expiresAt: Date | null;
  /** Kept as the caller wrote it ("0.20"), compared as a decimal. */
  perUnitCostBasis: string | null;
  filters: BlockFilter[];
  status: BlockStatus;
  voidedAt: Date | null;
  createdAt: Date;
}

export interface Ledger {
  currency: string;
  balance: Decimal;
  /** The sequence number the next entry will get; gapless from 0. */
  nextSequenceNumber: number;
}

export type EntryType =
  | 'increment'
  | 'decrement'
  | 'expiration_change'
  | 'credit_block_expiry'
  | 'void'
  | 'void_initiated'
  | 'amendment';

export type EntryStatus = 'committed' | 'pending';

export interface NewEntry {
  id: string;
  entryType: EntryType;
  entryStatus: EntryStatus;
  currency: string;
  ledgerSequenceNumber: number;
  /** Signed change to the ledger balance (positive magnitude moved for transfers). */
  amount: Decimal;
  startingBalance: Decimal;
  endingBalance: Decimal;
  blockId: string;
  description: string | null;
  metadata: Record<string, string>;
  createdAt: Date;
}

export interface IncrementCommand {
  type: 'increment';
  currency: string;
  amount: Decimal;
  effectiveAt: Date | null;
  expiresAt: Date | null;
  perUnitCostBasis: string | null;
  filters: BlockFilter[];
  description: string | null;
  metadata: Record<string, string>;
}

export interface DecrementCommand {
  type: 'decrement';
  currency: string;
  amount: Decimal;
  description: string | null;
  metadata: Record<string, string>;
}

export type LedgerCommand = IncrementCommand | DecrementCommand;

/** What a decision changes; the shell persists it as given, in one transaction. */
export interface LedgerChanges {
  ledger: Ledger;
  newBlocks: Block[];
  /** Existing blocks whose balance changed, with the new balance. */
  updatedBlocks: Block[];
  /** In the order they were made; the last one answers the request (seed 001). */
  entries: NewEntry[];
}

/** Time and identity are given, never read: decisions are deterministic. */
export interface DecisionContext {
  now: Date;
  newId: () => string;
}
