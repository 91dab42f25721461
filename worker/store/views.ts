/**
 * Views: how stored rows look on Orb's wire, with every amount as canonical decimal text. They
 * travel as job return values (JSON through Redis) and api/ turns the amount fields into exact
 * JSON numbers just before sending (api/wire.ts), so no amount ever passes through a float.
 */
import { Decimal } from '../../domain/decimal.ts';
import type { CreditBlockRow, CustomerRow, LedgerEntryRow } from './entities.ts';
import type { InvoiceView } from './invoiceViews.ts';

export type CustomerRef = Pick<CustomerRow, 'id' | 'externalCustomerId'>;

const decimalText = (stored: string) => Decimal.of(stored).toString();
const iso = (instant: Date | null) => (instant === null ? null : instant.toISOString());

export type BlockRef = Pick<CreditBlockRow, 'id' | 'expiryDate' | 'perUnitCostBasis' | 'filters'>;

/** `createdInvoices`: for an increment, the invoice its invoice_settings made (null when none). */
export function ledgerEntryView(
  entry: LedgerEntryRow,
  block: BlockRef,
  customer: CustomerRef,
  createdInvoices: InvoiceView[] | null = null,
) {
  const common = {
    id: entry.id,
    ledger_sequence_number: entry.ledgerSequenceNumber,
    entry_status: entry.entryStatus,
    customer: { id: customer.id, external_customer_id: customer.externalCustomerId ?? null },
    starting_balance: decimalText(entry.startingBalance),
    ending_balance: decimalText(entry.endingBalance),
    amount: decimalText(entry.amount),
    currency: entry.currency,
    created_at: entry.createdAt.toISOString(),
    description: entry.description ?? null,
    credit_block: {
      id: block.id,
      expiry_date: iso(block.expiryDate ?? null),
      per_unit_cost_basis: block.perUnitCostBasis ?? null,
      filters: block.filters,
    },
    entry_type: entry.entryType,
    metadata: entry.metadata,
  };
  const voided = () => ({
    void_reason: entry.voidReason ?? null,
    void_amount: entry.voidAmount ? decimalText(entry.voidAmount) : '0',
  });
  switch (entry.entryType) {
    case 'decrement':
      return { ...common, price_id: entry.priceId ?? null, invoice_id: null, event_id: null };
    case 'increment':
      return { ...common, created_invoices: createdInvoices };
    case 'expiration_change':
      return { ...common, new_block_expiry_date: iso(entry.newBlockExpiryDate ?? null) };
    case 'void':
      return { ...common, ...voided() };
    case 'void_initiated':
      return {
        ...common,
        ...voided(),
        new_block_expiry_date: iso(entry.newBlockExpiryDate ?? entry.createdAt),
      };
    default:
      return common;
  }
}
export type LedgerEntryView = ReturnType<typeof ledgerEntryView>;

export function creditBlockView(block: CreditBlockRow) {
  return {
    id: block.id,
    balance: decimalText(block.balance),
    effective_date: block.effectiveDate.toISOString(),
    expiry_date: iso(block.expiryDate ?? null),
    per_unit_cost_basis: block.perUnitCostBasis ?? null,
    status: block.status,
    maximum_initial_balance: decimalText(block.maximumInitialBalance),
    filters: block.filters,
    credit_block_source: block.source,
    credit_allocation: null,
    credit_commitment: null,
    metadata: block.metadata,
  };
}
export type CreditBlockView = ReturnType<typeof creditBlockView>;

/** Orb's CustomerHierarchy: the parent and the children, each as Orb's CustomerMinified. */
export interface CustomerHierarchyView {
  parent: { id: string; external_customer_id: string | null } | null;
  children: { id: string; external_customer_id: string | null }[];
}

export const NO_HIERARCHY: CustomerHierarchyView = { parent: null, children: [] };

export type RequestStatus = 'queued' | 'processing' | 'committed' | 'failed';
