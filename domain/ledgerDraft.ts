/**
 * A working copy of one ledger while a command is decided: it hands out gapless sequence numbers,
 * keeps the running balance so that every entry's `ending_balance = starting_balance + amount`,
 * and remembers which blocks changed. `changes()` is what the shell persists.
 */
import type { Decimal } from './decimal.ts';
import type { Block, DecisionContext, EntryStatus, EntryType, Ledger, LedgerChanges, NewEntry } from './types.ts';

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
}

export class LedgerDraft {
  private ledger: Ledger;
  private readonly context: DecisionContext;
  private readonly blocks = new Map<string, Block>();
  private readonly newBlockIds = new Set<string>();
  private readonly updatedBlockIds = new Set<string>();
  private readonly entries: NewEntry[] = [];

  constructor(ledger: Ledger, blocks: readonly Block[], context: DecisionContext) {
    this.ledger = ledger;
    this.context = context;
    for (const block of blocks) this.blocks.set(block.id, block);
  }

  get balance(): Decimal {
    return this.ledger.balance;
  }

  addBlock(block: Block): Block {
    this.blocks.set(block.id, block);
    this.newBlockIds.add(block.id);
    return block;
  }

  setBlockBalance(block: Block, balance: Decimal): Block {
    return this.updateBlock(block, { balance });
  }

  /** Balance and voidedAt are the only fields a decision changes on an existing block. */
  updateBlock(block: Block, patch: Partial<Pick<Block, 'balance' | 'voidedAt'>>): Block {
    const updated = { ...this.current(block), ...patch };
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
      ...(input.newBlockExpiryDate !== undefined && { newBlockExpiryDate: input.newBlockExpiryDate }),
    };
    this.entries.push(entry);
    this.ledger = {
      ...this.ledger,
      balance: endingBalance,
      nextSequenceNumber: this.ledger.nextSequenceNumber + 1,
    };
    return entry;
  }

  changes(): LedgerChanges {
    const pick = (ids: Set<string>) => [...ids].map((id) => this.blocks.get(id)).filter((b): b is Block => b !== undefined);
    return {
      ledger: this.ledger,
      newBlocks: pick(this.newBlockIds),
      updatedBlocks: pick(this.updatedBlockIds),
      entries: [...this.entries],
    };
  }
}
