/**
 * Read queries for api/ and for re-answering finished requests. Reads never enqueue and never
 * lock; they see committed data only. The hot reads (balance, ledger page, one block) are one
 * raw statement each, in creditReads.ts and ledgerReads.ts.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  alertChangePayload,
  eventDeprecationPayload,
  invoiceChangePayload,
  topUpCreatePayload,
  topUpDeletePayload,
  type RequestKind,
} from '../jobs/requestKinds.ts';
import { failedOutcome, type OutcomeError, type RequestOutcome } from '../jobs/requestOutcome.ts';
import { findTransactionOfRequest } from './balanceTransactions.ts';
import { CreditBlock, Customer, LedgerEntry, type CustomerRow } from './entities.ts';
import { invoiceViewsByBlock } from './invoices.ts';
import { ledgerEntryView, type CustomerRef, type LedgerEntryView } from './views.ts';

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
  // customer_id with the ids: the rows' whole key, so that Citus routes these to one node.
  const entries = await em.find(LedgerEntry, { id: { $in: entryIds }, customerId: customer.id });
  const blocks = await em.find(CreditBlock, {
    id: { $in: [...new Set(entries.map((entry) => entry.blockId))] },
    customerId: customer.id,
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

/** A finished request as the outcome readers need it. */
export interface FinishedRequest {
  id: string;
  kind: RequestKind;
  payload: unknown;
  entryIds: string[];
  error?: unknown;
}

/**
 * A finished request's answer again, for a replay or a redelivered job: a ledger request's last
 * entry (seed 001), a balance request's transaction, the invoice or event a change named; or the
 * recorded error.
 */
export async function storedOutcome(
  em: EntityManager,
  request: FinishedRequest,
  customer: CustomerRef,
): Promise<RequestOutcome> {
  const requestId = request.id;
  const failed = (): RequestOutcome =>
    failedOutcome(
      request.kind,
      requestId,
      (request.error as OutcomeError | null | undefined) ?? {
        kind: 'internal',
        detail: 'no outcome was recorded',
      },
    );
  if (request.error) return failed();
  switch (request.kind) {
    case 'ledger_entry': {
      const lastId = request.entryIds.at(-1);
      const [entry] = lastId === undefined ? [] : await entryViews(em, [lastId], customer);
      return entry ? { status: 'committed', kind: 'ledger_entry', requestId, entry } : failed();
    }
    case 'balance_transaction': {
      const transaction = await findTransactionOfRequest(em, requestId);
      return transaction
        ? { status: 'committed', kind: 'balance_transaction', requestId, transaction }
        : failed();
    }
    case 'invoice_change': {
      const { invoice_id: invoiceId } = invoiceChangePayload.parse(request.payload);
      return { status: 'committed', kind: 'invoice_change', requestId, invoiceId };
    }
    case 'event_deprecation': {
      const { event_id: eventId } = eventDeprecationPayload.parse(request.payload);
      return { status: 'committed', kind: 'event_deprecation', requestId, eventId };
    }
    case 'top_up_create': {
      // The answer is the payload's top-up, as it was written: the same whatever came after.
      const {
        top_up_id: id,
        invoice_currency: _currency,
        ...fields
      } = topUpCreatePayload.parse(request.payload);
      const topUp = { id, ...fields };
      return { status: 'committed', kind: 'top_up_create', requestId, topUp };
    }
    case 'top_up_delete': {
      const { top_up_id: topUpId } = topUpDeletePayload.parse(request.payload);
      return { status: 'committed', kind: 'top_up_delete', requestId, topUpId };
    }
    case 'alert_change': {
      const { alert_id: alertId, action } = alertChangePayload.parse(request.payload);
      return { status: 'committed', kind: 'alert_change', requestId, alertId, action };
    }
  }
}

export interface Page<T> {
  data: T[];
  /** The position after the last item, when there are more. */
  next: string | null;
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
