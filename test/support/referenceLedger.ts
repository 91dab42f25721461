/**
 * A deliberately naive reference model of ONE ledger, written straight from LEDGER_RULES.md §2-§5
 * and sharing no code with domain/ (only `Decimal` and the command types): a list of blocks, a
 * list of entries and a clock. It re-sorts and re-sums everything every time, so that each rule
 * can be read off the code next to the paragraph it comes from. The property test
 * (test/unit/domain/decide.property.test.ts) runs it beside `decide` and expects the same entries,
 * block balances and refusals.
 *
 * Where the rules leave something to the implementation, the model says so in a comment:
 * - ids of new blocks: `apply` takes the ids the domain gave its new blocks, in creation order, so
 *   that entries compare; past those it makes its own. Ids never order anything: the last
 *   drawdown tie-break is the sequence number of the entry that made the block (§3 rule 4).
 * - usage (§5, `usage`): events one by one in the order given (the order the service accepted
 *   them), each drawing from the blocks drawable at its own timestamp, re-sorted every time.
 *   The overdraft block is the ledger's as of now (§4), passing over a block that still holds
 *   credit but was not yet effective at the event: credit bought after an event never pays for it.
 * - expiry catch-up order (the rules only say "before the command"): soonest expiry first, then the
 *   §3 drawdown tie-breaks (as domain/expireDue.ts's own contract says; see ReferenceLedgerOptions).
 * - a block is *voided* when a void takes its balance to zero; a partial void leaves the rest of
 *   the block usable (otherwise the rest would be stranded: not drawable, never expiring).
 * - the block made by expiration_change has `maximum_initial_balance` = the amount moved and is
 *   created now; the source keeps its own `maximum_initial_balance`.
 * - void entries both name the voided block.
 * - expiration_change by `expiry_date` looks among blocks with credit left only.
 *
 * A refused command changes nothing, not even the expiry catch-up it started with (the shell
 * persists a decision or nothing).
 */
import { Decimal } from '../../domain/decimal.ts';
import type { BlockFilter, EntryType, LedgerCommand } from '../../domain/types.ts';

export interface ModelBlock {
  id: string;
  balance: Decimal;
  maximumInitialBalance: Decimal;
  effectiveAt: Date;
  expiresAt: Date | null;
  perUnitCostBasis: string | null;
  filters: BlockFilter[];
  /** Increments made here are never payment-gated, so every block is `active`. */
  status: 'active';
  voided: boolean;
  createdAt: Date;
  /** The ledger_sequence_number of the entry that made it (§3 rule 4). */
  creationSequence: number;
}

export interface ModelEntry {
  ledgerSequenceNumber: number;
  entryType: EntryType;
  blockId: string;
  /** Signed change to the balance; the positive amount moved for the two transfer types. */
  amount: Decimal;
  startingBalance: Decimal;
  endingBalance: Decimal;
  createdAt: Date;
  /** expiration_change: the target expiry; void_initiated: the instant of the void. */
  newBlockExpiryDate?: Date;
  /** void_initiated and void. */
  voidAmount?: Decimal;
  voidReason?: 'refund' | null;
  /** Usage decrements (pending): their group. */
  usage?: { priceId: string; usageDay: string };
}

/** One usage event as the model takes it (§5): its price's item and the credits it costs. */
export interface ModelUsageEvent {
  priceId: string;
  itemId: string;
  usageDay: string;
  at: Date;
  credits: Decimal;
}

/** 400 and 404 in LEDGER_RULES.md terms. */
export type ModelRefusalKind = 'request_validation' | 'resource_not_found';

export type ModelOutcome = { refused: ModelRefusalKind; why: string } | { applied: ModelEntry[] };

/** The two entry types that move credit without changing the balance (§1). */
export const TRANSFER_TYPES: ReadonlySet<EntryType> = new Set([
  'expiration_change',
  'void_initiated',
]);

const ms = (date: Date) => date.getTime();

class Refusal extends Error {
  readonly kind: ModelRefusalKind;
  constructor(kind: ModelRefusalKind, why: string) {
    super(why);
    this.kind = kind;
  }
}

function cloneBlock(block: ModelBlock): ModelBlock {
  return {
    ...block,
    filters: block.filters.map((filter) => ({ ...filter, values: [...filter.values] })),
  };
}

/** §2: no filters admit everything; a manual decrement (item null) draws only from unfiltered blocks. */
function admits(block: ModelBlock, item: string | null): boolean {
  if (block.filters.length === 0) return true;
  if (item === null) return false;
  for (const filter of block.filters) {
    if (filter.operator === 'includes' && !filter.values.includes(item)) return false;
    if (filter.operator === 'excludes' && filter.values.includes(item)) return false;
  }
  return true;
}

function isExpiredAt(block: ModelBlock, at: Date): boolean {
  return block.expiresAt !== null && ms(block.expiresAt) <= ms(at);
}

/** §2 drawable, minus the `balance > 0` condition (the overdraft block may be at or below zero). */
function isUsableAt(block: ModelBlock, at: Date): boolean {
  return (
    block.status === 'active' &&
    !block.voided &&
    ms(block.effectiveAt) <= ms(at) &&
    !isExpiredAt(block, at)
  );
}

function isDrawable(block: ModelBlock, at: Date, item: string | null): boolean {
  return isUsableAt(block, at) && block.balance.isPositive() && admits(block, item);
}

function costBasis(block: ModelBlock): Decimal {
  return block.perUnitCostBasis === null ? Decimal.ZERO : Decimal.of(block.perUnitCostBasis);
}

/** null (never) sorts after every instant. */
function compareExpiry(a: ModelBlock, b: ModelBlock): number {
  if (a.expiresAt === null && b.expiresAt === null) return 0;
  if (a.expiresAt === null) return 1;
  if (b.expiresAt === null) return -1;
  return ms(a.expiresAt) - ms(b.expiresAt);
}

/** §3 rule 4 (and §4 "oldest first"): the block made by the earlier entry first. */
function compareAge(a: ModelBlock, b: ModelBlock): number {
  return a.creationSequence - b.creationSequence;
}

/** §3, rule by rule. */
function compareDrawdown(a: ModelBlock, b: ModelBlock): number {
  const aFiltered = a.filters.length > 0;
  const bFiltered = b.filters.length > 0;
  if (aFiltered !== bFiltered) return aFiltered ? -1 : 1; // 1. filtered before unfiltered
  const expiry = compareExpiry(a, b); // 2. soonest expiry first, never-expiring last
  if (expiry !== 0) return expiry;
  const cost = costBasis(a).compare(costBasis(b)); // 3. lower cost basis first, null = 0
  if (cost !== 0) return cost;
  return compareAge(a, b); // 4. creation order
}

/** Expiry catch-up order (choice stated above): soonest expiry first, then §3. */
function compareExpiryCatchUp(a: ModelBlock, b: ModelBlock): number {
  return compareExpiry(a, b) || compareDrawdown(a, b);
}

export interface ReferenceLedgerOptions {
  /**
   * The order of the expiry catch-up entries: `expiry-first` (the default, the rule the model
   * asserts) or `drawdown` (plain §3 order, filtered blocks first whatever their expiry). The
   * second exists only to look past a known disagreement while exploring; see the property test.
   */
  expiryCatchUpOrder?: 'expiry-first' | 'drawdown';
}

/** One ledger's state. `apply` either applies a whole command or changes nothing. */
export class ReferenceLedger {
  private nowAt: Date;
  private blockList: ModelBlock[] = [];
  private entryList: ModelEntry[] = [];
  /** Working state of the command being applied. */
  private work: {
    blocks: ModelBlock[];
    entries: ModelEntry[];
    newBlockIds: readonly string[];
    made: number;
  } | null = null;
  private ownIds = 0;
  private readonly options: Required<ReferenceLedgerOptions>;

  constructor(start: Date, options: ReferenceLedgerOptions = {}) {
    this.nowAt = start;
    this.options = { expiryCatchUpOrder: options.expiryCatchUpOrder ?? 'expiry-first' };
  }

  get now(): Date {
    return this.nowAt;
  }

  /** Every block in creation order (copies). */
  get blocks(): ModelBlock[] {
    return this.blockList.map(cloneBlock);
  }

  get entries(): ModelEntry[] {
    return [...this.entryList];
  }

  /** §2: the balance is the sum of the entries' amounts (transfers move credit, they add none). */
  get balance(): Decimal {
    return Decimal.sum(
      this.entryList
        .filter((entry) => !TRANSFER_TYPES.has(entry.entryType))
        .map((entry) => entry.amount),
    );
  }

  /** Moves the clock. Nothing is written now: due expiries are caught up before the next command. */
  advanceTo(instant: Date): void {
    if (ms(instant) < ms(this.nowAt)) throw new Error('the clock never goes back');
    this.nowAt = instant;
  }

  /**
   * Applies `command` at the current instant. `newBlockIds` are the ids the implementation gave
   * the blocks this command creates, in creation order (the rules leave ids open).
   */
  apply(command: LedgerCommand, newBlockIds: readonly string[] = []): ModelOutcome {
    this.work = {
      blocks: this.blockList.map(cloneBlock),
      entries: [...this.entryList],
      newBlockIds,
      made: 0,
    };
    try {
      this.catchUpExpiry();
      this.decideCommand(command);
      const applied = this.work.entries.slice(this.entryList.length);
      this.blockList = this.work.blocks;
      this.entryList = this.work.entries;
      return { applied };
    } catch (error) {
      if (error instanceof Refusal) return { refused: error.kind, why: error.message };
      throw error;
    } finally {
      this.work = null;
    }
  }

  /**
   * §5: applies a batch of usage events at the current instant, in the order given, and returns
   * the usage entries afterwards (made or grown). Usage is never refused.
   */
  usage(events: readonly ModelUsageEvent[], newBlockIds: readonly string[] = []): ModelEntry[] {
    this.work = {
      blocks: this.blockList.map(cloneBlock),
      entries: [...this.entryList],
      newBlockIds,
      made: 0,
    };
    try {
      this.catchUpExpiry();
      for (const event of events) this.useCredits(event);
      this.blockList = this.work.blocks;
      this.entryList = this.work.entries;
      return this.entryList.filter((entry) => entry.usage !== undefined);
    } finally {
      this.work = null;
    }
  }

  // ---- working state ----------------------------------------------------------------------

  private get w() {
    if (!this.work) throw new Error('no command is being applied');
    return this.work;
  }

  private workingBalance(): Decimal {
    return Decimal.sum(
      this.w.entries
        .filter((entry) => !TRANSFER_TYPES.has(entry.entryType))
        .map((entry) => entry.amount),
    );
  }

  private nextBlockId(): string {
    const id = this.w.newBlockIds[this.w.made];
    this.w.made += 1;
    if (id !== undefined) return id;
    this.ownIds += 1;
    return `model-block-${this.ownIds}`;
  }

  private findBlock(id: string): ModelBlock | undefined {
    return this.w.blocks.find((block) => block.id === id);
  }

  /** A block made by the entry written next: `write` with `makes` numbers it. */
  private addBlock(
    fields: Omit<ModelBlock, 'id' | 'status' | 'voided' | 'createdAt' | 'creationSequence'>,
  ): ModelBlock {
    const block: ModelBlock = {
      id: this.nextBlockId(),
      status: 'active',
      voided: false,
      createdAt: this.nowAt,
      creationSequence: Number.NaN,
      ...fields,
    };
    this.w.blocks.push(block);
    return block;
  }

  /** Appends an entry; `makes`: the block this entry made, which takes its sequence number (§3). */
  private write(
    entryType: EntryType,
    block: ModelBlock,
    amount: Decimal,
    extra: Partial<ModelEntry> = {},
    makes?: ModelBlock,
  ): void {
    if (makes) makes.creationSequence = this.w.entries.length;
    const startingBalance = this.workingBalance();
    const endingBalance = TRANSFER_TYPES.has(entryType)
      ? startingBalance
      : startingBalance.plus(amount);
    this.w.entries.push({
      ledgerSequenceNumber: this.w.entries.length,
      entryType,
      blockId: block.id,
      amount,
      startingBalance,
      endingBalance,
      createdAt: this.nowAt,
      ...extra,
    });
  }

  // ---- rules ------------------------------------------------------------------------------

  /** §4 credit_block_expiry: every block past its expiry with credit left loses it, one entry each. */
  private catchUpExpiry(): void {
    const due = this.w.blocks
      .filter(
        (block) => isExpiredAt(block, this.nowAt) && block.balance.isPositive() && !block.voided,
      )
      .sort(
        this.options.expiryCatchUpOrder === 'drawdown' ? compareDrawdown : compareExpiryCatchUp,
      );
    for (const block of due) {
      const lost = block.balance;
      block.balance = Decimal.ZERO;
      this.write('credit_block_expiry', block, lost.negated());
    }
  }

  private decideCommand(command: LedgerCommand): void {
    switch (command.type) {
      case 'increment':
        return this.increment(
          command.amount,
          command.effectiveAt,
          command.expiresAt,
          command.perUnitCostBasis,
          command.filters,
        );
      case 'decrement':
        return this.decrement(command.amount);
      case 'expiration_change':
        return this.expirationChange(
          command.blockId,
          command.sourceExpiresAt,
          command.amount,
          command.targetExpiresAt,
        );
      case 'void':
        return this.voidBlock(command.blockId, command.amount, command.voidReason);
      case 'amendment':
        return this.amend(command.blockId, command.amount);
      default: {
        const unreachable: never = command;
        throw new Error(`unknown command ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** §4 increment: repay negative blocks oldest first (if effective now), the new block keeps the rest. */
  private increment(
    amount: Decimal,
    effectiveAt: Date | null,
    expiresAt: Date | null,
    cost: string | null,
    filters: BlockFilter[],
  ): void {
    const effective = effectiveAt ?? this.nowAt;
    let rest = amount;
    if (ms(effective) <= ms(this.nowAt)) {
      const negative = this.w.blocks.filter((block) => block.balance.isNegative()).sort(compareAge);
      for (const block of negative) {
        const repaid = Decimal.min(block.balance.negated(), rest);
        block.balance = block.balance.plus(repaid);
        rest = rest.minus(repaid);
      }
    }
    const block = this.addBlock({
      balance: rest,
      maximumInitialBalance: amount,
      effectiveAt: effective,
      expiresAt,
      perUnitCostBasis: cost,
      filters: filters.map((filter) => ({ ...filter, values: [...filter.values] })),
    });
    this.write('increment', block, amount, {}, block);
  }

  /** §4 decrement: drawdown order, then the overdraft block; one entry per block touched. */
  private decrement(amount: Decimal): void {
    const shares = new Map<ModelBlock, Decimal>(); // insertion order = entry order
    let remaining = amount;
    const drawable = this.w.blocks
      .filter((block) => isDrawable(block, this.nowAt, null))
      .sort(compareDrawdown);
    for (const block of drawable) {
      if (!remaining.isPositive()) break;
      const share = Decimal.min(block.balance, remaining);
      shares.set(block, share);
      remaining = remaining.minus(share);
    }
    if (remaining.isPositive()) {
      const candidates = this.w.blocks
        .filter(
          (block) =>
            isUsableAt(block, this.nowAt) && block.expiresAt === null && block.filters.length === 0,
        )
        .sort(compareDrawdown);
      const overdraft =
        candidates.at(-1) ??
        this.addBlock({
          balance: Decimal.ZERO,
          maximumInitialBalance: Decimal.ZERO,
          effectiveAt: this.nowAt,
          expiresAt: null,
          perUnitCostBasis: null,
          filters: [],
        });
      shares.set(overdraft, (shares.get(overdraft) ?? Decimal.ZERO).plus(remaining));
    }
    for (const [block, share] of shares) {
      block.balance = block.balance.minus(share);
      // A fresh overdraft block (not yet numbered) is made by its own decrement.
      this.write(
        'decrement',
        block,
        share.negated(),
        {},
        Number.isNaN(block.creationSequence) ? block : undefined,
      );
    }
  }

  /** §5: one event draws from the blocks drawable at its timestamp; the rest onto the overdraft block. */
  private useCredits(event: ModelUsageEvent): void {
    if (!event.credits.isPositive()) return;
    let remaining = event.credits;
    const drawable = this.w.blocks
      .filter((block) => isDrawable(block, event.at, event.itemId))
      .sort(compareDrawdown);
    for (const block of drawable) {
      if (!remaining.isPositive()) break;
      const share = Decimal.min(block.balance, remaining);
      this.chargeUsage(event, block, share);
      remaining = remaining.minus(share);
    }
    if (!remaining.isPositive()) return;
    // The ledger's overdraft block now (§4), but never one whose credit was bought after the event.
    const candidates = this.w.blocks
      .filter(
        (block) =>
          isUsableAt(block, this.nowAt) && block.expiresAt === null && block.filters.length === 0,
      )
      .filter((block) => !(block.balance.isPositive() && ms(block.effectiveAt) > ms(event.at)))
      .sort(compareDrawdown);
    const found = candidates.at(-1);
    const overdraft =
      found ??
      this.addBlock({
        balance: Decimal.ZERO,
        maximumInitialBalance: Decimal.ZERO,
        effectiveAt: this.nowAt,
        expiresAt: null,
        perUnitCostBasis: null,
        filters: [],
      });
    this.chargeUsage(event, overdraft, remaining, found ? undefined : overdraft);
  }

  /** One pending decrement per (price, block, usage day): grown if it exists, else written. */
  private chargeUsage(
    event: ModelUsageEvent,
    block: ModelBlock,
    share: Decimal,
    makes?: ModelBlock,
  ): void {
    block.balance = block.balance.minus(share);
    const index = this.w.entries.findIndex(
      (entry) =>
        entry.usage?.priceId === event.priceId &&
        entry.usage.usageDay === event.usageDay &&
        entry.blockId === block.id,
    );
    const existing = this.w.entries[index];
    if (existing) {
      this.w.entries[index] = {
        ...existing,
        amount: existing.amount.minus(share),
        endingBalance: existing.endingBalance.minus(share),
      };
      return;
    }
    this.write(
      'decrement',
      block,
      share.negated(),
      { usage: { priceId: event.priceId, usageDay: event.usageDay } },
      makes,
    );
  }

  /** §4 expiration_change: move credit from a source block into a new block with the target expiry. */
  private expirationChange(
    blockId: string | null,
    sourceExpiresAt: Date | null,
    amount: Decimal | null,
    target: Date,
  ): void {
    let source: ModelBlock | undefined;
    if (blockId !== null) {
      source = this.findBlock(blockId);
      if (!source) throw new Refusal('resource_not_found', `no block ${blockId}`);
    } else {
      if (sourceExpiresAt === null) throw new Error('expiration_change names no source block');
      // "The one block whose expiry_date equals expiry_date": among blocks with credit left (a
      // depleted block has nothing to move, and the worker does not even load it).
      const matches = this.w.blocks.filter(
        (block) =>
          block.balance.isPositive() &&
          block.expiresAt !== null &&
          ms(block.expiresAt) === ms(sourceExpiresAt),
      );
      if (matches.length === 0)
        throw new Refusal('resource_not_found', 'no block has that expiry_date');
      if (matches.length > 1)
        throw new Refusal(
          'request_validation',
          'several blocks have that expiry_date: give block_id',
        );
      source = matches[0]!;
    }
    const moved = amount ?? source.balance;
    if (!moved.isPositive()) throw new Refusal('request_validation', 'amount must be > 0');
    if (moved.compare(source.balance) > 0)
      throw new Refusal('request_validation', 'amount exceeds the block balance');
    if (ms(target) <= ms(this.nowAt))
      throw new Refusal('request_validation', 'target_expiry_date must be after now');
    if (ms(target) < ms(source.effectiveAt))
      throw new Refusal('request_validation', 'target_expiry_date is before the effective date');
    source.balance = source.balance.minus(moved);
    const made = this.addBlock({
      balance: moved,
      maximumInitialBalance: moved,
      effectiveAt: source.effectiveAt,
      expiresAt: target,
      perUnitCostBasis: source.perUnitCostBasis,
      filters: source.filters.map((filter) => ({ ...filter, values: [...filter.values] })),
    });
    this.write('expiration_change', source, moved, { newBlockExpiryDate: target }, made);
  }

  /** §4 void: at most the current balance; void_initiated (transfer) then void (−A). */
  private voidBlock(blockId: string, amount: Decimal, reason: 'refund' | null): void {
    const block = this.findBlock(blockId);
    if (!block) throw new Refusal('resource_not_found', `no block ${blockId}`);
    if (!amount.isPositive()) throw new Refusal('request_validation', 'amount must be > 0');
    if (amount.compare(block.balance) > 0)
      throw new Refusal('request_validation', 'amount exceeds the block balance');
    this.write('void_initiated', block, amount, {
      voidAmount: amount,
      voidReason: reason,
      newBlockExpiryDate: this.nowAt,
    });
    block.balance = block.balance.minus(amount);
    if (block.balance.isZero()) block.voided = true;
    this.write('void', block, amount.negated(), { voidAmount: amount, voidReason: reason });
  }

  /** §4 amendment: give credit back to a block, never past its maximum initial balance. */
  private amend(blockId: string, amount: Decimal): void {
    const block = this.findBlock(blockId);
    if (!block) throw new Refusal('resource_not_found', `no block ${blockId}`);
    if (!amount.isPositive()) throw new Refusal('request_validation', 'amount must be > 0');
    if (isExpiredAt(block, this.nowAt))
      throw new Refusal('request_validation', 'the block has expired');
    if (block.voided) throw new Refusal('request_validation', 'the block is voided');
    if (block.balance.plus(amount).compare(block.maximumInitialBalance) > 0) {
      throw new Refusal(
        'request_validation',
        'balance + amount would exceed maximum_initial_balance',
      );
    }
    block.balance = block.balance.plus(amount);
    this.write('amendment', block, amount);
  }
}
