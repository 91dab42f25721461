/**
 * A working copy of one ledger while a command is decided: it hands out gapless sequence numbers,
 * keeps the running balance so that every entry's `ending_balance = starting_balance + amount`,
 * and remembers which blocks changed. `changes()` is what the shell persists.
 */
import { countsTowardAlerts, nextEffectiveAt, watchedUnits, type BalancePoint } from './alerts.ts';
import { Decimal } from './decimal.ts';
import type {
  Block,
  DecisionContext,
  EntryStatus,
  EntryType,
  Invoice,
  InvoiceChange,
  Ledger,
  LedgerChanges,
  NewEntry,
  PendingUsageEntry,
} from './types.ts';

export interface EntryInput {
  entryType: EntryType;
  block: Block;
  amount: Decimal;
  description: string | null;
  metadata: Record<string, string>;
  entryStatus?: EntryStatus;
  /** Transfers (expiration_change, void_initiated) move credit without changing the balance. */
  transfer?: boolean;
  voidAmount?: Decimal;
  voidReason?: 'refund' | null;
  newBlockExpiryDate?: Date | null;
  usage?: NewEntry['usage'];
}

export class LedgerDraft {
  private ledger: Ledger;
  private readonly context: DecisionContext;
  private readonly blocks = new Map<string, Block>();
  private readonly newBlockIds = new Set<string>();
  private readonly updatedBlockIds = new Set<string>();
  private readonly entries: NewEntry[] = [];
  private readonly grown = new Map<string, PendingUsageEntry>();
  private readonly invoices: Invoice[] = [];
  /** By block id: one invoice per block, so a later change of the same invoice replaces an earlier one. */
  private readonly invoiceChanges = new Map<string, InvoiceChange>();
  /** The watched balance now (domain/alerts.ts) in units, kept as blocks change. */
  private watched: bigint;
  private readonly points: BalancePoint[];

  constructor(ledger: Ledger, blocks: readonly Block[], context: DecisionContext) {
    this.ledger = ledger;
    this.context = context;
    for (const block of blocks) this.blocks.set(block.id, block);
    this.watched = watchedUnits(blocks, context.now);
    // Where the decision starts: a block that became effective since the last one shows here.
    this.points = [{ sequenceNumber: this.lastSequenceNumber, balance: this.watchedBalance }];
  }

  private get lastSequenceNumber(): number {
    return Math.max(0, this.ledger.nextSequenceNumber - 1);
  }

  private get watchedBalance(): Decimal {
    return Decimal.saturating(this.watched);
  }

  /** What a block adds to the watched balance, in units. */
  private watchedShare(block: Block | undefined): bigint {
    return block && countsTowardAlerts(block, this.context.now) ? block.balance.units : 0n;
  }

  private rewatch(before: Block | undefined, after: Block): void {
    this.watched += this.watchedShare(after) - this.watchedShare(before);
  }

  /** A step of the ledger: the watched balance right after the entry numbered `sequenceNumber`. */
  private step(sequenceNumber: number): void {
    this.points.push({ sequenceNumber, balance: this.watchedBalance });
  }

  get balance(): Decimal {
    return this.ledger.balance;
  }

  get currency(): string {
    return this.ledger.currency;
  }

  /**
   * Adds a block made by the entry the caller appends next: the block takes that entry's sequence
   * number as its creation order (LEDGER_RULES.md §3 rule 4), so every caller appends the making
   * entry (increment, expiration_change, the overdraft decrement) before any other entry.
   */
  addBlock(fields: Omit<Block, 'creationSequence'>): Block {
    const block: Block = { ...fields, creationSequence: this.ledger.nextSequenceNumber };
    this.rewatch(undefined, block);
    this.blocks.set(block.id, block);
    this.newBlockIds.add(block.id);
    return block;
  }

  /** The sequence number the next entry will get. */
  get nextSequenceNumber(): number {
    return this.ledger.nextSequenceNumber;
  }

  setBlockBalance(block: Block, balance: Decimal): Block {
    return this.updateBlock(block, { balance });
  }

  /** Balance, voidedAt and status (payment) are the only fields a decision changes on an existing block. */
  updateBlock(block: Block, patch: Partial<Pick<Block, 'balance' | 'voidedAt' | 'status'>>): Block {
    const before = this.current(block);
    const updated = { ...before, ...patch };
    this.rewatch(before, updated);
    this.blocks.set(block.id, updated);
    if (!this.newBlockIds.has(block.id)) this.updatedBlockIds.add(block.id);
    return updated;
  }

  /** The block with this id and currency, or undefined: lookups by the caller's id may miss. */
  findBlock(id: string, currency: string): Block | undefined {
    const block = this.blocks.get(id);
    return block?.currency === currency ? block : undefined;
  }

  current(block: Block): Block {
    return this.blocks.get(block.id) ?? block;
  }

  /** How many blocks the decision holds, new ones included (grows only when a block is added). */
  get blockCount(): number {
    return this.blocks.size;
  }

  /** Every block of the decision as it stands now, new ones included. */
  allBlocks(): Block[] {
    return [...this.blocks.values()];
  }

  blockById(id: string): Block {
    const block = this.blocks.get(id);
    if (!block) throw new Error(`block ${id} is not part of this decision`);
    return block;
  }

  appendEntry(input: EntryInput): NewEntry {
    const startingBalance = this.ledger.balance;
    const endingBalance = input.transfer ? startingBalance : startingBalance.plus(input.amount);
    const entry: NewEntry = {
      id: this.context.newId(),
      entryType: input.entryType,
      entryStatus: input.entryStatus ?? 'committed',
      currency: this.ledger.currency,
      ledgerSequenceNumber: this.ledger.nextSequenceNumber,
      amount: input.amount,
      startingBalance,
      endingBalance,
      blockId: input.block.id,
      description: input.description,
      metadata: input.metadata,
      createdAt: this.context.now,
      // Only the entry types that have them carry these fields (void, void_initiated, expiration_change).
      ...(input.voidAmount !== undefined && { voidAmount: input.voidAmount }),
      ...(input.voidReason !== undefined && { voidReason: input.voidReason }),
      ...(input.newBlockExpiryDate !== undefined && {
        newBlockExpiryDate: input.newBlockExpiryDate,
      }),
      ...(input.usage !== undefined && { usage: input.usage }),
    };
    this.entries.push(entry);
    this.ledger = {
      ...this.ledger,
      balance: endingBalance,
      nextSequenceNumber: this.ledger.nextSequenceNumber + 1,
    };
    this.step(entry.ledgerSequenceNumber);
    return entry;
  }

  /**
   * Adds `delta` (negative: more usage) to a pending usage entry, stored or made in this draft.
   * Its amount and ending balance move together, and so does the ledger balance (LEDGER_RULES.md
   * §5: "later events for the same group add to that entry's amount").
   */
  growEntry(entry: PendingUsageEntry | NewEntry, delta: Decimal): void {
    const made = this.entries.findIndex((candidate) => candidate.id === entry.id);
    if (made >= 0) {
      const current = this.entries[made]!;
      this.step(current.ledgerSequenceNumber);
      this.entries[made] = {
        ...current,
        amount: current.amount.plus(delta),
        endingBalance: current.endingBalance.plus(delta),
      };
    } else {
      const current = this.grown.get(entry.id) ?? (entry as PendingUsageEntry);
      this.step(current.ledgerSequenceNumber ?? this.lastSequenceNumber);
      this.grown.set(entry.id, {
        ...current,
        amount: current.amount.plus(delta),
        endingBalance: current.endingBalance.plus(delta),
      });
    }
    this.ledger = { ...this.ledger, balance: this.ledger.balance.plus(delta) };
  }

  addInvoice(invoice: Invoice): void {
    this.invoices.push(invoice);
  }

  changeInvoice(change: InvoiceChange): void {
    this.invoiceChanges.set(change.blockId, change);
  }

  /** The entries made in this draft so far. */
  madeEntries(): readonly NewEntry[] {
    return this.entries;
  }

  changes(): LedgerChanges {
    // A change with no entry of its own (a paid invoice's block turning active) steps at the last.
    const changedSince = !this.points.at(-1)!.balance.equals(this.watchedBalance);
    const pick = (ids: Set<string>) =>
      [...ids].map((id) => this.blocks.get(id)).filter((b): b is Block => b !== undefined);
    return {
      ledger: this.ledger,
      newBlocks: pick(this.newBlockIds),
      updatedBlocks: pick(this.updatedBlockIds),
      entries: [...this.entries],
      grownEntries: [...this.grown.values()],
      balancePoints: changedSince
        ? [
            ...this.points,
            { sequenceNumber: this.lastSequenceNumber, balance: this.watchedBalance },
          ]
        : [...this.points],
      nextEffectiveAt: nextEffectiveAt(this.blocks.values(), this.context.now),
      ...(this.invoices.length > 0 && { invoices: [...this.invoices] }),
      ...(this.invoiceChanges.size > 0 && { invoiceChanges: [...this.invoiceChanges.values()] }),
    };
  }
}
