/**
 * Invoices in Postgres: written with the ledger decision that made or changed them (inside the
 * caller's transaction), locked by the worker that pays or voids one, and read for the api. An
 * invoice belongs to one block (unique block_id), so a change names the invoice by its block.
 * Invoice numbers count per customer; the customer is locked by the decision's load, so two
 * writes cannot take the same number.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { InvoiceState } from '../../domain/decideInvoice.ts';
import type { InvoiceStatus, LedgerChanges } from '../../domain/types.ts';
import { invoiceView, type InvoiceRecord, type InvoiceView } from './invoiceViews.ts';

type Instant = Date | string;
const toDate = (value: Instant) => (value instanceof Date ? value : new Date(value));

interface InvoiceSqlRow {
  id: string;
  customer_id: string;
  external_customer_id: string | null;
  block_id: string;
  number: number;
  currency: string;
  status: InvoiceStatus;
  quantity: string;
  unit_price: string;
  total: string;
  invoice_date: Instant;
  due_date: Instant;
  memo: string | null;
  item_id: string | null;
  auto_collection: boolean;
  issued_at: Instant;
  paid_at: Instant | null;
  voided_at: Instant | null;
  created_at: Instant;
}

const SELECT_INVOICES = `
  select i.id, i.customer_id, c.external_customer_id, i.block_id, i.number, i.currency, i.status,
         i.quantity::text as quantity, i.unit_price::text as unit_price, i.total::text as total,
         i.invoice_date, i.due_date, i.memo, i.item_id, i.auto_collection, i.issued_at, i.paid_at,
         i.voided_at, i.created_at
    from invoices i join customers c on c.id = i.customer_id`;

function toRecord(row: InvoiceSqlRow): InvoiceRecord {
  return {
    id: row.id,
    customerId: row.customer_id,
    externalCustomerId: row.external_customer_id,
    blockId: row.block_id,
    number: row.number,
    currency: row.currency,
    status: row.status,
    quantity: row.quantity,
    unitPrice: row.unit_price,
    total: row.total,
    invoiceDate: toDate(row.invoice_date),
    dueDate: toDate(row.due_date),
    memo: row.memo,
    itemId: row.item_id,
    autoCollection: row.auto_collection,
    issuedAt: toDate(row.issued_at),
    paidAt: row.paid_at === null ? null : toDate(row.paid_at),
    voidedAt: row.voided_at === null ? null : toDate(row.voided_at),
    createdAt: toDate(row.created_at),
  };
}

/** Inserts the invoices a decision made and applies its invoice changes. */
export async function saveInvoiceChanges(
  em: EntityManager,
  customerId: string,
  changes: LedgerChanges,
): Promise<void> {
  for (const invoice of changes.invoices ?? []) {
    await em.execute(
      `insert into invoices (id, customer_id, block_id, number, currency, status, quantity, unit_price, total, invoice_date,
                             due_date, memo, item_id, auto_collection, require_successful_payment, issued_at, paid_at, created_at, top_up)
       values (?, ?, ?, (select coalesce(max(number), 0) + 1 from invoices where customer_id = ?), ?, ?, ?::numeric, ?::numeric,
               ?::numeric, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        invoice.id,
        customerId,
        invoice.blockId,
        customerId,
        invoice.currency,
        invoice.status,
        invoice.quantity.toString(),
        invoice.unitPrice.toString(),
        invoice.total.toString(),
        invoice.invoiceAt,
        invoice.dueAt,
        invoice.memo,
        invoice.itemId,
        invoice.autoCollection,
        invoice.requireSuccessfulPayment,
        invoice.issuedAt,
        invoice.paidAt,
        invoice.createdAt,
        invoice.topUp === true,
      ],
    );
  }
  for (const change of changes.invoiceChanges ?? []) {
    const paid = change.status === 'paid';
    const payment = change.payment;
    const updated = await em.execute<{ id: string }[]>(
      `update invoices set status = ?, paid_at = ?, voided_at = ?, payment_received_date = ?::date, payment_external_id = ?,
              payment_notes = ?
        where customer_id = ? and block_id = ? and status = 'issued' returning id`,
      [
        change.status,
        paid ? change.at : null,
        paid ? null : change.at,
        payment?.receivedDate ?? null,
        payment?.externalId ?? null,
        payment?.notes ?? null,
        customerId,
        change.blockId,
      ],
    );
    if (updated.length !== 1)
      throw new Error(`no issued invoice of block ${change.blockId} to mark ${change.status}`);
  }
}

export interface InvoiceOwner {
  id: string;
  customerId: string;
  blockId: string;
  /** The ledger the invoice's block is in. */
  blockCurrency: string;
  timezone: string;
}

/** Where an invoice's block is, read without a lock: the caller locks the customer next. */
export async function findInvoiceOwner(
  em: EntityManager,
  invoiceId: string,
): Promise<InvoiceOwner | undefined> {
  const [row] = await em.execute<
    { id: string; customer_id: string; block_id: string; currency: string; timezone: string }[]
  >(
    `select i.id, i.customer_id, i.block_id, b.currency, c.timezone
       from invoices i join credit_blocks b on b.customer_id = i.customer_id and b.id = i.block_id
       join customers c on c.id = i.customer_id
      where i.id = ?`,
    [invoiceId],
  );
  if (!row) return undefined;
  return {
    id: row.id,
    customerId: row.customer_id,
    blockId: row.block_id,
    blockCurrency: row.currency,
    timezone: row.timezone,
  };
}

/**
 * Locks an invoice whose customer the caller has locked (customer first, as every ledger write
 * does, so that the two cannot deadlock) and reads the state a decision needs.
 */
export async function lockInvoice(
  em: EntityManager,
  customerId: string,
  invoiceId: string,
): Promise<InvoiceState> {
  const [row] = await em.execute<{ id: string; block_id: string; status: InvoiceStatus }[]>(
    'select id, block_id, status from invoices where id = ? and customer_id = ? for no key update',
    [invoiceId, customerId],
  );
  if (!row) throw new Error(`invoice ${invoiceId} disappeared`);
  return { id: row.id, blockId: row.block_id, status: row.status };
}

export async function findInvoice(
  em: EntityManager,
  invoiceId: string,
): Promise<InvoiceRecord | undefined> {
  const [row] = await em.execute<InvoiceSqlRow[]>(`${SELECT_INVOICES} where i.id = ?`, [invoiceId]);
  return row && toRecord(row);
}

/** The invoices the given blocks' increments made, as `created_invoices` shows them. */
export async function invoiceViewsByBlock(
  em: EntityManager,
  blockIds: readonly string[],
): Promise<Map<string, InvoiceView[]>> {
  const byBlock = new Map<string, InvoiceView[]>();
  if (blockIds.length === 0) return byBlock;
  const rows = await em.execute<InvoiceSqlRow[]>(
    `${SELECT_INVOICES} where i.block_id in (select jsonb_array_elements_text(?::jsonb))`,
    [JSON.stringify([...new Set(blockIds)])],
  );
  for (const row of rows) byBlock.set(row.block_id, [invoiceView(toRecord(row))]);
  return byBlock;
}
