/**
 * What the processors load and save, inside the transaction they run in. This is the hot path, so
 * it speaks SQL through the EntityManager's connection (MikroORM's `em.execute`, which joins the
 * current transaction) in as few round trips as the work allows: one to lock the request and its
 * customer, one for the ledger head, one for the blocks, one to write everything.
 *
 * Loading touches only the ledger's head row, its live blocks (balance ≠ 0) and at most one
 * depleted overdraft candidate, never the entry history: a write costs the same for a customer
 * with ten entries or ten million.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { Decimal } from '../../domain/decimal.ts';
import type { TopUpState } from '../../domain/decideTopUp.ts';
import type { Block, BlockFilter, Ledger, LedgerChanges, NewEntry } from '../../domain/types.ts';
import type { OutcomeError } from '../jobs/requestOutcome.ts';
import type { RequestKind } from '../jobs/requestKinds.ts';
import type { CreditBlockRow, LedgerEntryRow } from './entities.ts';
import { saveInvoiceChanges } from './invoices.ts';
import { toTopUpState, type TopUpLoadJson } from './topUps.ts';

/** Raw rows bypass MikroORM's hydration: timestamps may arrive as text, numerics always do. */
type Instant = Date | string;
const toDate = (value: Instant) => (value instanceof Date ? value : new Date(value));

export interface LockedRequest {
  id: string;
  kind: RequestKind;
  customerId: string;
  /** The credit ledger of a ledger-entry request; null for the other kinds. */
  currency: string | null;
  status: string;
  payload: unknown;
  entryIds: string[];
  error: OutcomeError | null;
  customer: { id: string; externalCustomerId: string | null; timezone: string };
}

export interface BlockSqlRow {
  id: string;
  currency: string;
  balance: string;
  maximum_initial_balance: string;
  effective_date: Instant;
  expiry_date: Instant | null;
  per_unit_cost_basis: string | null;
  filters: BlockFilter[];
  status: string;
  voided_at: Instant | null;
  created_at: Instant;
  creation_sequence: number;
}

export function toBlock(row: BlockSqlRow): Block {
  return {
    id: row.id,
    currency: row.currency,
    balance: Decimal.of(row.balance),
    maximumInitialBalance: Decimal.of(row.maximum_initial_balance),
    effectiveAt: toDate(row.effective_date),
    expiresAt: row.expiry_date === null ? null : toDate(row.expiry_date),
    perUnitCostBasis: row.per_unit_cost_basis,
    filters: row.filters,
    status: row.status === 'pending_payment' ? 'pending_payment' : 'active',
    voidedAt: row.voided_at === null ? null : toDate(row.voided_at),
    createdAt: toDate(row.created_at),
    creationSequence: row.creation_sequence,
  };
}

export interface LoadedLedger {
  ledger: Ledger;
  blocks: Block[];
}

export interface LoadSqlRow {
  id: string;
  customer_id: string;
  currency: string;
  status: string;
  payload: unknown;
  entry_ids: string[];
  error: OutcomeError | null;
  timezone: string;
  external_customer_id: string | null;
  ledger_balance: string | null;
  next_sequence_number: number | null;
  blocks: BlockSqlRow[];
  top_up?: TopUpLoadJson | null;
}

/**
 * Locks the customer and loads one of its ledgers (the function `ledger_load`), with `blockId`'s
 * block even when it is depleted.
 */
export async function lockCustomerAndLoad(
  em: EntityManager,
  customerId: string,
  currency: string,
  now: Date,
  blockId: string | null = null,
): Promise<LoadedLedger> {
  const [row] = await em.execute<
    Pick<LoadSqlRow, 'ledger_balance' | 'next_sequence_number' | 'blocks'>[]
  >('select * from ledger_load(?, ?, ?, ?)', [customerId, currency, now, blockId]);
  return toLoadedLedger(
    currency,
    row ?? { ledger_balance: null, next_sequence_number: null, blocks: [] },
  );
}

export function toLoadedLedger(
  currency: string,
  row: Pick<LoadSqlRow, 'ledger_balance' | 'next_sequence_number' | 'blocks'>,
): LoadedLedger {
  return {
    ledger: {
      currency,
      balance: row.ledger_balance === null ? Decimal.ZERO : Decimal.of(row.ledger_balance),
      nextSequenceNumber: row.next_sequence_number ?? 0,
    },
    blocks: row.blocks.map(toBlock),
  };
}

/** The columns of a locked request row (with its customer's) that a decision reads. */
export interface LockedRequestRow {
  id: string;
  kind: RequestKind;
  customer_id: string;
  currency: string | null;
  status: string;
  payload: unknown;
  entry_ids: string[];
  error: OutcomeError | null;
  timezone: string;
  external_customer_id: string | null;
}

export function toLockedRequest(row: LockedRequestRow): LockedRequest {
  return {
    id: row.id,
    kind: row.kind,
    customerId: row.customer_id,
    currency: row.currency,
    status: row.status,
    payload: row.payload,
    entryIds: row.entry_ids,
    error: row.error,
    customer: {
      id: row.customer_id,
      externalCustomerId: row.external_customer_id,
      timezone: row.timezone,
    },
  };
}

/** The row forms `ledger_write` takes (jsonb_populate_recordset on the table types). */
export function blockRecord(customerId: string, block: Block) {
  return {
    id: block.id,
    customer_id: customerId,
    currency: block.currency,
    balance: block.balance.toString(),
    maximum_initial_balance: block.maximumInitialBalance.toString(),
    effective_date: block.effectiveAt.toISOString(),
    expiry_date: block.expiresAt?.toISOString() ?? null,
    per_unit_cost_basis: block.perUnitCostBasis,
    filters: block.filters,
    status: block.status,
    voided_at: block.voidedAt?.toISOString() ?? null,
    metadata: {},
    created_at: block.createdAt.toISOString(),
    source: block.source ?? 'manual',
    creation_sequence: block.creationSequence,
  };
}

export function changedBlockRecord(customerId: string, block: Block) {
  return {
    id: block.id,
    customer_id: customerId,
    balance: block.balance.toString(),
    voided_at: block.voidedAt?.toISOString() ?? null,
    status: block.status,
  };
}

export function entryRecord(customerId: string, requestId: string | null, entry: NewEntry) {
  return {
    id: entry.id,
    customer_id: customerId,
    currency: entry.currency,
    ledger_sequence_number: entry.ledgerSequenceNumber,
    entry_type: entry.entryType,
    entry_status: entry.entryStatus,
    amount: entry.amount.toString(),
    starting_balance: entry.startingBalance.toString(),
    ending_balance: entry.endingBalance.toString(),
    block_id: entry.blockId,
    request_id: requestId,
    description: entry.description,
    metadata: entry.metadata,
    created_at: entry.createdAt.toISOString(),
    void_reason: entry.voidReason ?? null,
    void_amount: entry.voidAmount?.toString() ?? null,
    new_block_expiry_date: entry.newBlockExpiryDate?.toISOString() ?? null,
    price_id: entry.usage?.priceId ?? null,
    usage_day: entry.usage?.usageDay ?? null,
    closes_at: entry.usage?.closesAt.toISOString() ?? null,
  };
}

/**
 * Writes a decision and, when a request asked for it, marks the request committed, in one round
 * trip (the function `ledger_save`). `requestId` null: a write no request asked for (the
 * scheduler's clock catch-up).
 */
export async function saveChanges(
  em: EntityManager,
  customerId: string,
  requestId: string | null,
  changes: LedgerChanges,
  now: Date,
): Promise<void> {
  const entries = changes.entries.map((entry) => entryRecord(customerId, requestId, entry));
  await em.execute(
    'select ledger_save(?, ?, ?, ?::jsonb, ?::jsonb, ?::jsonb, ?::numeric, ?, ?::jsonb, ?)',
    [
      requestId,
      customerId,
      changes.ledger.currency,
      JSON.stringify(changes.newBlocks.map((block) => blockRecord(customerId, block))),
      JSON.stringify(changes.updatedBlocks.map((block) => changedBlockRecord(customerId, block))),
      JSON.stringify(entries),
      changes.ledger.balance.toString(),
      changes.ledger.nextSequenceNumber,
      // A top-up's entries carry the request id but are not its answer (LedgerChanges.automaticFrom).
      JSON.stringify(entries.slice(0, changes.automaticFrom).map((entry) => entry.id)),
      now,
    ],
  );
  if (changes.invoices || changes.invoiceChanges) await saveInvoiceChanges(em, customerId, changes);
}

/** The entry and block rows a view needs, from what the decision just wrote. */
export function writtenRows(
  changes: LedgerChanges,
  customerId: string,
  requestId: string | null,
  blocks: readonly Block[],
) {
  const byId = new Map<string, Block>(
    [...blocks, ...changes.newBlocks, ...changes.updatedBlocks].map((block) => [block.id, block]),
  );
  return changes.entries.map((entry) => {
    const block = byId.get(entry.blockId);
    if (!block) throw new Error(`entry ${entry.id} names an unknown block`);
    const entryRow: LedgerEntryRow = {
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
      voidReason: entry.voidReason ?? null,
      voidAmount: entry.voidAmount?.toString() ?? null,
      newBlockExpiryDate: entry.newBlockExpiryDate ?? null,
      priceId: entry.usage?.priceId ?? null,
    };
    const blockRef: Pick<CreditBlockRow, 'id' | 'expiryDate' | 'perUnitCostBasis' | 'filters'> = {
      id: block.id,
      expiryDate: block.expiresAt,
      perUnitCostBasis: block.perUnitCostBasis,
      filters: block.filters,
    };
    return { entry: entryRow, block: blockRef };
  });
}
