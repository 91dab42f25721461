/**
 * What the processors load and save, inside the transaction they run in. Loading touches only the
 * ledger's head row, its live blocks (balance ≠ 0) and at most one overdraft candidate, never the
 * entry history, so a write costs the same for a customer with ten entries or ten million.
 */
import { LockMode, type EntityManager } from '@mikro-orm/postgresql';
import { Decimal } from '../../domain/decimal.ts';
import type { Block, Ledger, LedgerChanges } from '../../domain/types.ts';
import { CreditBlock, Customer, LedgerEntry, LedgerHead, type CreditBlockRow, type CustomerRow, type LedgerEntryRow, type LedgerHeadRow } from './entities.ts';

export interface LoadedLedger {
  ledger: Ledger;
  blocks: Block[];
  head: LedgerHeadRow;
  blockRows: Map<string, CreditBlockRow>;
}

export function toBlock(row: CreditBlockRow): Block {
  return {
    id: row.id,
    currency: row.currency,
    balance: Decimal.of(row.balance),
    maximumInitialBalance: Decimal.of(row.maximumInitialBalance),
    effectiveAt: row.effectiveDate,
    expiresAt: row.expiryDate ?? null,
    perUnitCostBasis: row.perUnitCostBasis ?? null,
    filters: row.filters,
    status: row.status === 'pending_payment' ? 'pending_payment' : 'active',
    voidedAt: row.voidedAt ?? null,
    createdAt: row.createdAt,
  };
}

/** The customer row, locked: a backstop behind the partition's one-job-at-a-time guarantee. */
export async function lockCustomer(em: EntityManager, customerId: string): Promise<CustomerRow | null> {
  return em.findOne(Customer, { id: customerId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
}

export async function loadLedger(em: EntityManager, customerId: string, currency: string, now: Date): Promise<LoadedLedger> {
  let head = await em.findOne(LedgerHead, { customerId, currency });
  if (!head) {
    head = em.create(LedgerHead, { customerId, currency, balance: '0', nextSequenceNumber: 0 });
  }
  const live = await em.find(CreditBlock, { customerId, currency, balance: { $ne: '0' } });
  const blockRows = new Map(live.map((row) => [row.id, row]));
  // The overdraft block may be depleted (balance 0) and so not among the live ones.
  const [candidate] = await em.execute<{ id: string }[]>(
    `select id from credit_blocks
      where customer_id = ? and currency = ? and expiry_date is null and filters = '[]'::jsonb
        and status = 'active' and voided_at is null and effective_date <= ? and balance = 0
      order by coalesce(per_unit_cost_basis::numeric, 0) desc, created_at desc, id desc
      limit 1`,
    [customerId, currency, now],
  );
  if (candidate && !blockRows.has(candidate.id)) {
    const row = await em.findOneOrFail(CreditBlock, { id: candidate.id });
    blockRows.set(row.id, row);
  }
  return {
    ledger: { currency, balance: Decimal.of(head.balance), nextSequenceNumber: head.nextSequenceNumber },
    blocks: [...blockRows.values()].map(toBlock),
    head,
    blockRows,
  };
}

/** Applies a decision to the managed rows; the caller's transaction flushes and commits it. */
export function applyChanges(
  em: EntityManager,
  customerId: string,
  loaded: LoadedLedger,
  changes: LedgerChanges,
  requestId: string | null,
): LedgerEntryRow[] {
  loaded.head.balance = changes.ledger.balance.toString();
  loaded.head.nextSequenceNumber = changes.ledger.nextSequenceNumber;
  for (const block of changes.updatedBlocks) {
    const row = loaded.blockRows.get(block.id);
    if (!row) throw new Error(`block ${block.id} changed but was not loaded`);
    row.balance = block.balance.toString();
  }
  for (const block of changes.newBlocks) {
    const row = em.create(CreditBlock, {
      id: block.id,
      customerId,
      currency: block.currency,
      balance: block.balance.toString(),
      maximumInitialBalance: block.maximumInitialBalance.toString(),
      effectiveDate: block.effectiveAt,
      expiryDate: block.expiresAt,
      perUnitCostBasis: block.perUnitCostBasis,
      filters: block.filters,
      status: block.status,
      voidedAt: block.voidedAt,
      metadata: {},
      createdAt: block.createdAt,
    });
    loaded.blockRows.set(row.id, row);
  }
  return changes.entries.map((entry) =>
    em.create(LedgerEntry, {
      id: entry.id,
      customerId,
      currency: entry.currency,
      ledgerSequenceNumber: entry.ledgerSequenceNumber,
      entryType: entry.entryType,
      entryStatus: entry.entryStatus,
      amount: entry.amount.toString(),
      startingBalance: entry.startingBalance.toString(),
      endingBalance: entry.endingBalance.toString(),
      blockId: entry.blockId,
      requestId,
      description: entry.description,
      metadata: entry.metadata,
      createdAt: entry.createdAt,
    }),
  );
}
