/**
 * Orb's Invoice on the wire, for the one-off invoices that credit purchases make. What the service
 * knows is filled in truthfully; what it has no notion of (taxes, discounts, PDFs, subscriptions,
 * payment attempts) is null or empty as the schema allows. Money is decimal text with at least two
 * fractional digits ("20.00", "0.125"), never rounded. The line item's `quantity` (a JSON number
 * in Orb's schema) travels as decimal text like every amount here; api/wire.ts makes it a number.
 */
import { Decimal } from '../../domain/decimal.ts';
import type { InvoiceStatus } from '../../domain/types.ts';

/** An invoice as stored, with its customer's ids. */
export interface InvoiceRecord {
  id: string;
  customerId: string;
  externalCustomerId: string | null;
  blockId: string;
  /** Per customer, from 1. */
  number: number;
  currency: string;
  status: InvoiceStatus;
  quantity: string;
  unitPrice: string;
  total: string;
  invoiceDate: Date;
  dueDate: Date;
  memo: string | null;
  itemId: string | null;
  autoCollection: boolean;
  issuedAt: Date;
  paidAt: Date | null;
  voidedAt: Date | null;
  createdAt: Date;
}

/** Orb's default item for credit purchases when invoice_settings names none. */
const CREDITS_ITEM = { id: 'credits', name: 'Credits' };

export function moneyText(stored: string): string {
  const text = Decimal.of(stored).toString();
  const point = text.indexOf('.');
  if (point < 0) return `${text}.00`;
  return text.length - point - 1 < 2 ? `${text}0` : text;
}

/** Orb's numbers look like "JYEFHK-00001": a prefix (here from the customer id) and a sequence. */
export function invoiceNumber(customerId: string, number: number): string {
  return `${customerId.slice(0, 6).toUpperCase()}-${String(number).padStart(5, '0')}`;
}

const iso = (instant: Date | null) => (instant === null ? null : instant.toISOString());

/** Orb's UnitPrice for the one-time charge: the unit amount is the credits' cost basis. */
function creditsPrice(invoice: InvoiceRecord) {
  const item =
    invoice.itemId === null ? CREDITS_ITEM : { id: invoice.itemId, name: invoice.itemId };
  return {
    model_type: 'unit',
    unit_config: { unit_amount: moneyText(invoice.unitPrice), prorated: false },
    metadata: {},
    id: `${invoice.id}_price`,
    name: 'Credits',
    external_price_id: null,
    replaces_price_id: null,
    price_type: 'fixed_price',
    created_at: invoice.createdAt.toISOString(),
    cadence: 'one_time',
    billing_mode: 'in_advance',
    billing_cycle_configuration: { duration: 1, duration_unit: 'month' },
    invoicing_cycle_configuration: null,
    billable_metric: null,
    fixed_price_quantity: Decimal.of(invoice.quantity).toString(),
    plan_phase_order: null,
    currency: invoice.currency,
    conversion_rate: null,
    conversion_rate_config: null,
    item,
    credit_allocation: null,
    composite_price_filters: null,
    invoice_grouping_key: null,
    discount: null,
    minimum: null,
    minimum_amount: null,
    maximum: null,
    maximum_amount: null,
  };
}

function lineItem(invoice: InvoiceRecord) {
  const total = moneyText(invoice.total);
  return {
    id: `${invoice.id}_line`,
    name: 'Credits',
    quantity: Decimal.of(invoice.quantity).toString(),
    amount: total,
    subtotal: total,
    adjusted_subtotal: total,
    credits_applied: '0.00',
    partially_invoiced_amount: '0.00',
    start_date: invoice.invoiceDate.toISOString(),
    end_date: invoice.invoiceDate.toISOString(),
    grouping: null,
    adjustments: [],
    sub_line_items: [],
    tax_amounts: [],
    price: creditsPrice(invoice),
    usage_customer_ids: null,
    filter: null,
  };
}

export function invoiceView(invoice: InvoiceRecord) {
  const total = moneyText(invoice.total);
  return {
    id: invoice.id,
    invoice_number: invoiceNumber(invoice.customerId, invoice.number),
    customer: { id: invoice.customerId, external_customer_id: invoice.externalCustomerId },
    status: invoice.status,
    invoice_source: 'one_off',
    currency: invoice.currency,
    total,
    subtotal: total,
    // No customer balance is applied to credit purchase invoices.
    amount_due: total,
    invoice_date: invoice.invoiceDate.toISOString(),
    due_date: invoice.dueDate.toISOString(),
    created_at: invoice.createdAt.toISOString(),
    issued_at: invoice.issuedAt.toISOString(),
    paid_at: iso(invoice.paidAt),
    voided_at: iso(invoice.voidedAt),
    scheduled_issue_at: null,
    issue_failed_at: null,
    sync_failed_at: null,
    payment_failed_at: null,
    payment_started_at: null,
    eligible_to_issue_at: null,
    will_auto_issue: false,
    // The setting as requested; the service itself never charges a payment method.
    auto_collection: {
      enabled: invoice.autoCollection,
      next_attempt_at: null,
      previously_attempted_at: null,
      num_attempts: 0,
    },
    memo: invoice.memo,
    line_items: [lineItem(invoice)],
    metadata: {},
    customer_balance_transactions: [],
    credit_notes: [],
    payment_attempts: [],
    discount: null,
    discounts: [],
    minimum: null,
    minimum_amount: null,
    maximum: null,
    maximum_amount: null,
    subscription: null,
    customer_tax_id: null,
    shipping_address: null,
    billing_address: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
  };
}
export type InvoiceView = ReturnType<typeof invoiceView>;
