/**
 * Read queries for api/ and for re-answering finished requests. Reads never enqueue and never
 * lock; they see committed data only.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { LedgerOutcome, OutcomeError } from '../ledgerOutcome.ts';
import {
  CreditBlock,
  Customer,
  LedgerEntry,
  type CreditBlockRow,
  type CustomerRow,
} from './entities.ts';
import { invoiceViewsByBlock } from './invoices.ts';
import {
  creditBlockView,
  ledgerEntryView,
  type CreditBlockView,
  type CustomerRef,
  type LedgerEntryView,
} from './views.ts';

export async function findCustomer(
  em: EntityManager,
  ref: { customerId: string } | { externalCustomerId: string },
): Promise<CustomerRow | null> {
  return 'customerId' in ref
    ? em.findOne(Customer, { id: ref.customerId })
    : em.findOne(Customer, { externalCustomerId: ref.externalCustomerId });
}

export async function entryViews(
  em: EntityManager,
  entryIds: string[],
  customer: CustomerRef,
): Promise<LedgerEntryView[]> {
  if (entryIds.length === 0) return [];
  const entries = await em.find(LedgerEntry, { id: { $in: entryIds } });
  const blocks = await em.find(CreditBlock, {
    id: { $in: [...new Set(entries.map((entry) => entry.blockId))] },
  });
  const blockById = new Map(blocks.map((block) => [block.id, block]));
  const entryById = new Map(entries.map((entry) => [entry.id, entry]));
  const invoices = await invoiceViewsByBlock(em, incrementBlockIds(entries));
  return entryIds.map((id) => {
    const entry = entryById.get(id);
    const block = entry && blockById.get(entry.blockId);
    if (!entry || !block) throw new Error(`entry ${id} of a finished request is missing`);
    return ledgerEntryView(entry, block, customer, invoices.get(entry.blockId) ?? null);
  });
}

/** The blocks increments made: the only entries that can carry `created_invoices`. */
function incrementBlockIds(entries: readonly { entryType: string; blockId: string }[]): string[] {
  return entries.filter((entry) => entry.entryType === 'increment').map((entry) => entry.blockId);
}

/** A finished request's answer again: its last entry (seed 001) or its error. */
export async function storedOutcome(
  em: EntityManager,
  request: { id: string; entryIds: string[]; error?: unknown },
  customer: CustomerRef,
): Promise<LedgerOutcome> {
  const lastId = request.entryIds.at(-1);
  const [entry] = lastId === undefined ? [] : await entryViews(em, [lastId], customer);
  if (entry) return { status: 'committed', requestId: request.id, entry };
  const error = (request.error as OutcomeError | null | undefined) ?? {
    kind: 'internal',
    detail: 'no outcome was recorded',
  };
  return { status: 'failed', requestId: request.id, error };
}

export interface Page<T> {
  data: T[];
  /** The position after the last item, when there are more. */
  next: string | null;
}

interface EntryJoinRow {
  seq: string;
  id: string;
  customer_id: string;
  currency: string;
  ledger_sequence_number: number;
  entry_type: string;
  entry_status: string;
  amount: string;
  starting_balance: string;
  ending_balance: string;
  block_id: string;
  request_id: string | null;
  description: string | null;
  metadata: Record<string, string>;
  /** Raw queries bypass MikroORM's hydration: timestamps may arrive as text. */
  created_at: Date | string;
  void_reason: string | null;
  void_amount: string | null;
  new_block_expiry_date: Date | string | null;
  price_id: string | null;
  block_expiry_date: Date | string | null;
  block_per_unit_cost_basis: string | null;
  block_filters: CreditBlockRow['filters'];
}

export interface LedgerFilter {
  limit: number;
  /** `seq` of the last entry already seen; the page continues with older ones. */
  afterSeq?: string;
  currency?: string;
  entryType?: string;
  entryStatus?: string;
  minimumAmount?: string;
  createdAt: TimeRange;
}

/** Newest first; `seq` is the insertion order, which for one customer is the order applied. */
export async function listLedgerEntries(
  em: EntityManager,
  customer: CustomerRef,
  filter: LedgerFilter,
): Promise<Page<LedgerEntryView>> {
  const where = ['e.customer_id = ?'];
  const params: unknown[] = [customer.id];
  const add = (clause: string, value: unknown) => {
    where.push(clause);
    params.push(value);
  };
  if (filter.afterSeq !== undefined) add('e.seq < ?', filter.afterSeq);
  if (filter.currency !== undefined) add('e.currency = ?', filter.currency);
  if (filter.entryType !== undefined) add('e.entry_type = ?', filter.entryType);
  if (filter.entryStatus !== undefined) add('e.entry_status = ?', filter.entryStatus);
  if (filter.minimumAmount !== undefined) add('abs(e.amount) >= ?::numeric', filter.minimumAmount);
  if (filter.createdAt.gt) add('e.created_at > ?', filter.createdAt.gt);
  if (filter.createdAt.gte) add('e.created_at >= ?', filter.createdAt.gte);
  if (filter.createdAt.lt) add('e.created_at < ?', filter.createdAt.lt);
  if (filter.createdAt.lte) add('e.created_at <= ?', filter.createdAt.lte);
  const rows = await em.execute<EntryJoinRow[]>(
    `select e.*, b.expiry_date as block_expiry_date, b.per_unit_cost_basis as block_per_unit_cost_basis, b.filters as block_filters
       from ledger_entries e join credit_blocks b on b.id = e.block_id
      where ${where.join(' and ')}
      order by e.seq desc
      limit ?`,
    [...params, filter.limit + 1],
  );
  const page = rows.slice(0, filter.limit);
  const invoices = await invoiceViewsByBlock(
    em,
    incrementBlockIds(page.map((row) => ({ entryType: row.entry_type, blockId: row.block_id }))),
  );
  const data = page.map((row) =>
    ledgerEntryView(
      {
        id: row.id,
        customerId: row.customer_id,
        currency: row.currency,
        ledgerSequenceNumber: row.ledger_sequence_number,
        entryType: row.entry_type,
        entryStatus: row.entry_status,
        amount: row.amount,
        startingBalance: row.starting_balance,
        endingBalance: row.ending_balance,
        blockId: row.block_id,
        requestId: row.request_id,
        description: row.description,
        metadata: row.metadata,
        createdAt: new Date(row.created_at),
        voidReason: row.void_reason,
        voidAmount: row.void_amount,
        newBlockExpiryDate:
          row.new_block_expiry_date === null ? null : new Date(row.new_block_expiry_date),
        priceId: row.price_id,
      },
      {
        id: row.block_id,
        expiryDate: row.block_expiry_date === null ? null : new Date(row.block_expiry_date),
        perUnitCostBasis: row.block_per_unit_cost_basis,
        filters: row.block_filters,
      },
      customer,
      row.entry_type === 'increment' ? (invoices.get(row.block_id) ?? null) : null,
    ),
  );
  return { data, next: rows.length > filter.limit ? String(page.at(-1)?.seq) : null };
}

export interface BlockFilterQuery {
  limit: number;
  /** `created_at|id` of the last block already seen. */
  after?: { createdAt: Date; id: string };
  currency: string;
  includeAll: boolean;
  now: Date;
  effectiveDate: TimeRange;
}

export interface TimeRange {
  gt?: Date;
  gte?: Date;
  lt?: Date;
  lte?: Date;
}

/** MikroORM conditions for `field[gt|gte|lt|lte]` query filters. */
function rangeConditions(field: string, range: TimeRange): Record<string, unknown>[] {
  const operators = { gt: '$gt', gte: '$gte', lt: '$lt', lte: '$lte' } as const;
  return (Object.keys(operators) as (keyof TimeRange)[])
    .filter((bound) => range[bound] !== undefined)
    .map((bound) => ({ [field]: { [operators[bound]]: range[bound] } }));
}

/** Keyset pagination on (created_at, id), ascending or descending. */
function keysetAfter(
  after: { createdAt: Date; id: string },
  direction: 'asc' | 'desc',
): Record<string, unknown> {
  const beyond = direction === 'asc' ? '$gt' : '$lt';
  return {
    $or: [
      { createdAt: { [beyond]: after.createdAt } },
      { createdAt: after.createdAt, id: { [beyond]: after.id } },
    ],
  };
}

function keysetPage<T extends { createdAt: Date; id: string }>(rows: T[], limit: number): Page<T> {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: page,
    next: rows.length > limit && last ? `${last.createdAt.toISOString()}|${last.id}` : null,
  };
}

/** By default the blocks still holding credit (balance ≠ 0, not expired); all with includeAll. */
export async function listCreditBlocks(
  em: EntityManager,
  customerId: string,
  query: BlockFilterQuery,
): Promise<Page<CreditBlockView>> {
  const where: Record<string, unknown>[] = [{ customerId, currency: query.currency }];
  if (!query.includeAll) {
    where.push(
      { balance: { $ne: '0' } },
      { $or: [{ expiryDate: null }, { expiryDate: { $gt: query.now } }] },
    );
  }
  if (query.after) where.push(keysetAfter(query.after, 'asc'));
  where.push(...rangeConditions('effectiveDate', query.effectiveDate));
  const rows = await em.find(
    CreditBlock,
    { $and: where },
    { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], limit: query.limit + 1 },
  );
  const page = keysetPage(rows, query.limit);
  return { data: page.data.map(creditBlockView), next: page.next };
}

export async function listCustomers(
  em: EntityManager,
  query: { limit: number; after?: { createdAt: Date; id: string }; createdAt: TimeRange },
): Promise<Page<CustomerRow>> {
  const where = rangeConditions('createdAt', query.createdAt);
  if (query.after) where.push(keysetAfter(query.after, 'desc'));
  const rows = await em.find(Customer, where.length ? { $and: where } : {}, {
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    limit: query.limit + 1,
  });
  return keysetPage(rows, query.limit);
}
