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

/**
 * Orb's Customer. The hierarchy is loaded with the row (worker/store/customerHierarchy.ts).
 * Tax: Orb answers the configuration's `tax_exempt` as `exempt_from_automated_tax` and its
 * `automatic_tax_enabled` as is; "null inherits the account setting", which here is off (false).
 */
export function customerView(
  customer: CustomerRow,
  hierarchy: CustomerHierarchyView = NO_HIERARCHY,
) {
  return {
    id: customer.id,
    external_customer_id: customer.externalCustomerId ?? null,
    name: customer.name,
    email: customer.email,
    timezone: customer.timezone,
    payment_provider_id: customer.paymentProviderId ?? null,
    payment_provider: customer.paymentProvider ?? null,
    created_at: customer.createdAt.toISOString(),
    shipping_address: customer.shippingAddress ?? null,
    billing_address: customer.billingAddress ?? null,
    // Customer.balance is a string on Orb's wire, in the customer's currency.
    balance: Decimal.of(customer.balance).toString(),
    currency: customer.currency ?? null,
    tax_id: customer.taxId ?? null,
    auto_collection: customer.autoCollection,
    exempt_from_automated_tax: customer.taxConfiguration?.tax_exempt ?? null,
    email_delivery: customer.emailDelivery,
    auto_issuance: customer.autoIssuance ?? null,
    additional_emails: customer.additionalEmails,
    portal_url: null,
    accounting_sync_configuration: customer.accountingSyncConfiguration ?? null,
    reporting_configuration: customer.reportingConfiguration ?? null,
    payment_configuration: customer.paymentConfiguration ?? null,
    default_payment_method: null,
    automatic_tax_enabled: customer.taxConfiguration?.automatic_tax_enabled ?? false,
    hierarchy: { parent: hierarchy.parent, children: hierarchy.children },
    metadata: customer.metadata,
  };
}
export type CustomerView = ReturnType<typeof customerView>;

export type RequestStatus = 'queued' | 'processing' | 'committed' | 'failed';
