/**
 * The ledger's vocabulary (LEDGER_RULES.md §2, §4): blocks, entries, ledgers and the commands the
 * domain decides on. One word per meaning: a *block* holds credits, an *entry* records a change,
 * a *ledger* is one (customer, currency) pair. Instants are `Date`s given by the caller.
 */
import type { Decimal } from './decimal.ts';
import type { BalancePoint } from './alerts.ts';
import type { LedgerError } from './ledgerError.ts';

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
  /**
   * The `ledger_sequence_number` of the entry that made the block (an increment, an
   * expiration_change, a top-up's increment, the decrement that opened an overdraft block):
   * unique per ledger, it is the last drawdown tie-break (LEDGER_RULES.md §3 rule 4).
   */
  creationSequence: number;
  /** How the block was made (Orb's credit_block_source); absent means a manual increment. */
  source?: 'manual' | 'top_up';
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
  /** void and void_initiated: the amount voided and why. */
  voidAmount?: Decimal;
  voidReason?: 'refund' | null;
  /** expiration_change: the moved credit's new expiry; void_initiated: when the void happened. */
  newBlockExpiryDate?: Date | null;
  /** Usage decrements: the price, the usage day (YYYY-MM-DD, customer timezone) and when it closes. */
  usage?: UsageKey & { closesAt: Date };
}

/** What identifies a pending usage entry besides its ledger: one per price, block and day. */
export interface UsageKey {
  priceId: string;
  blockId: string;
  usageDay: string;
}

/** A pending usage decrement already stored; later usage of its group grows it. */
export interface PendingUsageEntry extends UsageKey {
  id: string;
  amount: Decimal;
  endingBalance: Decimal;
  /** Its place in the ledger, when the loader gave it: a crossing its growth causes names it. */
  ledgerSequenceNumber?: number;
}

/**
 * What one usage event charges one ledger (LEDGER_RULES.md §5). A batch hands them over in the
 * order the service accepted the events: each draws from the blocks drawable at its own instant.
 */
export interface UsageCharge {
  priceId: string;
  itemId: string;
  usageDay: string;
  /** The event's timestamp: the blocks drawable at this instant pay for it. */
  at: Date;
  /** End of the usage day plus the grace period: the entries become committed then. */
  closesAt: Date;
  credits: Decimal;
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
  /** invoice_settings: the increment also invoices the credits (LEDGER_RULES.md §7). */
  invoice?: InvoiceSettings | null;
  /** An automatic top-up's increment rather than a caller's. */
  source?: 'top_up';
  /**
   * Accepted by a version from before invoices (its stored request has no invoice_settings key),
   * which granted a cost basis without an invoice: applied as it was promised then.
   */
  acceptedBeforeInvoices?: true;
}

/** An increment's invoice_settings, its dates resolved to instants by the shell. */
export interface InvoiceSettings {
  /** The customer's invoicing currency (ISO 4217): the invoice's amounts are in it. */
  currency: string;
  /** The customer's timezone: net terms count calendar days there. */
  timezone: string;
  autoCollection: boolean;
  /** Exactly one of netTermsDays and customDueAt is set (checked by invoiceSettingsProblem). */
  netTermsDays: number | null;
  customDueAt: Date | null;
  /** null: the block's effective date. */
  invoiceAt: Date | null;
  memo: string | null;
  itemId: string | null;
  markAsPaid: boolean;
  requireSuccessfulPayment: boolean;
  /** Made by an automatic top-up (domain/decideTopUp.ts): while issued, it pauses further top-ups. */
  topUp?: boolean;
}

export type InvoiceStatus = 'issued' | 'paid' | 'void';

/** A one-off invoice for the credits of one block: quantity × unit price = total, exactly. */
export interface Invoice {
  id: string;
  blockId: string;
  currency: string;
  status: InvoiceStatus;
  quantity: Decimal;
  unitPrice: Decimal;
  total: Decimal;
  invoiceAt: Date;
  dueAt: Date;
  memo: string | null;
  itemId: string | null;
  autoCollection: boolean;
  requireSuccessfulPayment: boolean;
  issuedAt: Date;
  paidAt: Date | null;
  createdAt: Date;
  /** Made by an automatic top-up; absent otherwise. */
  topUp?: boolean;
}

/** How a payment was recorded (Orb's mark_paid body). */
export interface InvoicePayment {
  /** YYYY-MM-DD as given. */
  receivedDate: string;
  externalId: string | null;
  notes: string | null;
}

/** A stored invoice leaving `issued`, named by its block (a block has at most one invoice). */
export interface InvoiceChange {
  blockId: string;
  status: 'paid' | 'void';
  at: Date;
  payment: InvoicePayment | null;
}

export interface DecrementCommand {
  type: 'decrement';
  currency: string;
  amount: Decimal;
  description: string | null;
  metadata: Record<string, string>;
}

/** Moves credit from one block into a new block with another expiry (LEDGER_RULES.md §4). */
export interface ExpirationChangeCommand {
  type: 'expiration_change';
  currency: string;
  /** null: the source block's whole balance. */
  amount: Decimal | null;
  /** The source block, by id... */
  blockId: string | null;
  /** ...or by its current expiry instant, when no id is given. */
  sourceExpiresAt: Date | null;
  targetExpiresAt: Date;
  description: string | null;
  metadata: Record<string, string>;
}

export interface VoidCommand {
  type: 'void';
  currency: string;
  blockId: string;
  amount: Decimal;
  voidReason: 'refund' | null;
  description: string | null;
  metadata: Record<string, string>;
}

/** Returns credit to a block that was drawn from ("undo a decrement"). */
export interface AmendmentCommand {
  type: 'amendment';
  currency: string;
  blockId: string;
  amount: Decimal;
  description: string | null;
  metadata: Record<string, string>;
}

export type LedgerCommand =
  IncrementCommand | DecrementCommand | ExpirationChangeCommand | VoidCommand | AmendmentCommand;

/** What a decision changes; the shell persists it as given, in one transaction. */
export interface LedgerChanges {
  ledger: Ledger;
  newBlocks: Block[];
  /** Existing blocks whose balance, voidedAt or status changed, as they are now. */
  updatedBlocks: Block[];
  /** In the order they were made; the last one answers the request (seed 001). */
  entries: NewEntry[];
  /** Stored pending usage entries that grew: their new amount and ending balance. */
  grownEntries: PendingUsageEntry[];
  /** Invoices an increment made, and stored invoices paid or voided; absent when none. */
  invoices?: Invoice[];
  invoiceChanges?: InvoiceChange[];
  /**
   * Entries from this index on were written by an automatic top-up (decideTopUp.ts), not by the
   * command: the request's answer and its entry_ids stop before them. Absent: all are the command's.
   */
  automaticFrom?: number;
  /**
   * The balance crossed the top-up threshold but the rules refused the top-up (a configuration the
   * api should not have accepted): the command or batch applies without it, and the shell logs and
   * records this so that it is not lost. Absent when no top-up was refused.
   */
  topUpRefused?: LedgerError;
  /**
   * The watched balance (domain/alerts.ts) when the decision began and after each of its steps, in
   * ledger order: what the alerts are evaluated against.
   */
  balancePoints: BalancePoint[];
  /** When the watched balance next changes with no entry (domain/alerts.ts nextEffectiveAt). */
  nextEffectiveAt: Date | null;
}

/** Time and identity are given, never read: decisions are deterministic. */
export interface DecisionContext {
  now: Date;
  newId: () => string;
}
