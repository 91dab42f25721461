/**
 * Orb's CreditLedgerEntry (one shape per `entry_type`), built field by field from the store's
 * entry view (worker/store/views.ts). The numbers of Orb's schema — `amount`, `starting_balance`,
 * `ending_balance`, `void_amount` — are exact JSON numbers; `metadata` is copied as stored; an
 * increment's `created_invoices` are Orb Invoices (api/wire/invoice.ts).
 */
import { z } from 'zod';
import { invoiceView } from '../../worker/store/invoiceViews.ts';
import type { LedgerEntryReadRow } from '../../worker/store/ledgerReads.ts';
import { ledgerEntryView, type LedgerEntryView } from '../../worker/store/views.ts';
import { dateTime, exact, exactNumber, metadata, page, type Wire } from './exactNumber.ts';
import { customerMinifiedSchema, invoiceSchema, toWireInvoice } from './invoice.ts';

export const priceFilterSchema = z
  .object({
    field: z.literal('item_id'),
    operator: z.enum(['includes', 'excludes']),
    values: z.array(z.string()),
  })
  .meta({ id: 'BlockPriceFilter' });

const affectedBlockSchema = z.object({
  id: z.string(),
  expiry_date: dateTime.nullable(),
  per_unit_cost_basis: z.string().nullable(),
  filters: z.array(priceFilterSchema),
});

const common = {
  id: z.string(),
  ledger_sequence_number: z.number().int(),
  entry_status: z.enum(['committed', 'pending']),
  customer: customerMinifiedSchema,
  starting_balance: exactNumber,
  ending_balance: exactNumber,
  amount: exactNumber,
  currency: z.string(),
  created_at: dateTime,
  description: z.string().nullable(),
  credit_block: affectedBlockSchema,
  metadata,
};

const voided = { void_reason: z.string().nullable(), void_amount: exactNumber };

export const incrementEntrySchema = z
  .object({
    ...common,
    entry_type: z.literal('increment'),
    created_invoices: z.array(invoiceSchema).nullable(),
  })
  .meta({ id: 'IncrementLedgerEntry' });
export const decrementEntrySchema = z
  .object({
    ...common,
    entry_type: z.literal('decrement'),
    price_id: z.string().nullable(),
    invoice_id: z.string().nullable(),
    event_id: z.string().nullable(),
  })
  .meta({ id: 'DecrementLedgerEntry' });
export const expirationChangeEntrySchema = z
  .object({
    ...common,
    entry_type: z.literal('expiration_change'),
    new_block_expiry_date: dateTime.nullable(),
  })
  .meta({ id: 'ExpirationChangeLedgerEntry' });
export const creditBlockExpiryEntrySchema = z
  .object({ ...common, entry_type: z.literal('credit_block_expiry') })
  .meta({ id: 'CreditBlockExpiryLedgerEntry' });
export const voidEntrySchema = z
  .object({ ...common, entry_type: z.literal('void'), ...voided })
  .meta({ id: 'VoidLedgerEntry' });
export const voidInitiatedEntrySchema = z
  .object({
    ...common,
    entry_type: z.literal('void_initiated'),
    new_block_expiry_date: dateTime,
    ...voided,
  })
  .meta({ id: 'VoidInitiatedLedgerEntry' });
export const amendmentEntrySchema = z
  .object({ ...common, entry_type: z.literal('amendment') })
  .meta({ id: 'AmendmentLedgerEntry' });

export const ledgerEntrySchema = z
  .discriminatedUnion('entry_type', [
    incrementEntrySchema,
    decrementEntrySchema,
    expirationChangeEntrySchema,
    creditBlockExpiryEntrySchema,
    voidEntrySchema,
    voidInitiatedEntrySchema,
    amendmentEntrySchema,
  ])
  .meta({ id: 'CreditLedgerEntry' });

export const ledgerEntriesSchema = page(ledgerEntrySchema).meta({ id: 'CreditLedgerEntries' });

export type WireLedgerEntry = Wire<typeof ledgerEntrySchema>;

/** The entry view with every type's extra fields readable (each present only for its types). */
type AnyEntryView = Extract<LedgerEntryView, { entry_type: string }> &
  Partial<{
    price_id: string | null;
    invoice_id: string | null;
    event_id: string | null;
    created_invoices: Parameters<typeof toWireInvoice>[0][] | null;
    new_block_expiry_date: string | null;
    void_reason: string | null;
    void_amount: string;
  }>;

export function toWireLedgerEntry(view: LedgerEntryView): WireLedgerEntry {
  const entry = view as AnyEntryView;
  const base = {
    id: entry.id,
    ledger_sequence_number: entry.ledger_sequence_number,
    entry_status: decrementEntrySchema.shape.entry_status.parse(entry.entry_status),
    customer: { id: entry.customer.id, external_customer_id: entry.customer.external_customer_id },
    starting_balance: exact(entry.starting_balance),
    ending_balance: exact(entry.ending_balance),
    amount: exact(entry.amount),
    currency: entry.currency,
    created_at: entry.created_at,
    description: entry.description,
    credit_block: {
      id: entry.credit_block.id,
      expiry_date: entry.credit_block.expiry_date,
      per_unit_cost_basis: entry.credit_block.per_unit_cost_basis,
      filters: entry.credit_block.filters,
    },
    metadata: entry.metadata,
  };
  const voidFields = () => ({
    void_reason: entry.void_reason ?? null,
    void_amount: exact(entry.void_amount ?? '0'),
  });
  switch (entry.entry_type) {
    case 'increment':
      return {
        ...base,
        entry_type: 'increment',
        created_invoices: entry.created_invoices?.map(toWireInvoice) ?? null,
      };
    case 'decrement':
      return {
        ...base,
        entry_type: 'decrement',
        price_id: entry.price_id ?? null,
        invoice_id: entry.invoice_id ?? null,
        event_id: entry.event_id ?? null,
      };
    case 'expiration_change':
      return {
        ...base,
        entry_type: 'expiration_change',
        new_block_expiry_date: entry.new_block_expiry_date ?? null,
      };
    case 'void':
      return { ...base, entry_type: 'void', ...voidFields() };
    case 'void_initiated':
      return {
        ...base,
        entry_type: 'void_initiated',
        new_block_expiry_date: entry.new_block_expiry_date ?? entry.created_at,
        ...voidFields(),
      };
    case 'credit_block_expiry':
    case 'amendment':
      return { ...base, entry_type: entry.entry_type };
    default:
      throw new Error(
        `unknown entry_type ${String(entry.entry_type)} for ledger entry ${entry.id}`,
      );
  }
}

const toDate = (instant: Date | string) => new Date(instant);
const toDateOrNull = (instant: Date | string | null) => (instant === null ? null : toDate(instant));

/**
 * The same shape straight from a read row (worker/store/ledgerReads.ts), for the customer the
 * page was read for; an increment's invoice comes in the row's `invoice_*` columns.
 */
export function ledgerEntryFromRow(
  row: LedgerEntryReadRow,
  customer: { id: string; externalCustomerId: string | null },
): WireLedgerEntry {
  const invoice =
    row.invoice_id === null
      ? null
      : invoiceView({
          id: row.invoice_id,
          customerId: customer.id,
          externalCustomerId: customer.externalCustomerId,
          blockId: row.block_id,
          number: row.invoice_number!,
          currency: row.invoice_currency!,
          status: row.invoice_status!,
          quantity: row.invoice_quantity!,
          unitPrice: row.invoice_unit_price!,
          total: row.invoice_total!,
          invoiceDate: toDate(row.invoice_date!),
          dueDate: toDate(row.invoice_due_date!),
          memo: row.invoice_memo,
          itemId: row.invoice_item_id,
          autoCollection: row.invoice_auto_collection!,
          issuedAt: toDate(row.invoice_issued_at!),
          paidAt: toDateOrNull(row.invoice_paid_at),
          voidedAt: toDateOrNull(row.invoice_voided_at),
          createdAt: toDate(row.invoice_created_at!),
        });
  return toWireLedgerEntry(
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
        createdAt: toDate(row.created_at),
        voidReason: row.void_reason,
        voidAmount: row.void_amount,
        newBlockExpiryDate: toDateOrNull(row.new_block_expiry_date),
        priceId: row.price_id,
      },
      {
        id: row.block_id,
        expiryDate: toDateOrNull(row.block_expiry_date),
        perUnitCostBasis: row.block_per_unit_cost_basis,
        filters: row.block_filters,
      },
      { id: customer.id, externalCustomerId: customer.externalCustomerId },
      row.entry_type === 'increment' ? (invoice === null ? null : [invoice]) : null,
    ),
  );
}
