/**
 * Orb's Invoice, for the one-off invoices that credit purchases make (worker/store/invoiceViews.ts
 * fills it). As in Orb's schema the money fields are decimal strings ("20.00") and only the
 * quantities (`line_items[].quantity`, the price's `fixed_price_quantity`) are numbers.
 */
import { z } from 'zod';
import type { InvoiceView } from '../../worker/store/invoiceViews.ts';
import { dateTime, exact, exactNumber, metadata, type Wire } from './exactNumber.ts';

const nullableDateTime = dateTime.nullable();
/** An Orb object this service never fills (discounts, minimums, subscriptions, taxes): always null. */
const unfilled = z.record(z.string(), z.unknown()).nullable();

export const addressSchema = z
  .object({
    line1: z.string().nullable(),
    line2: z.string().nullable(),
    city: z.string().nullable(),
    state: z.string().nullable(),
    postal_code: z.string().nullable(),
    country: z.string().nullable(),
  })
  .meta({ id: 'Address' });

export const customerMinifiedSchema = z
  .object({ id: z.string(), external_customer_id: z.string().nullable() })
  .meta({ id: 'CustomerMinified' });

const unitPriceSchema = z.object({
  model_type: z.literal('unit'),
  unit_config: z.object({ unit_amount: z.string(), prorated: z.boolean() }),
  metadata,
  id: z.string(),
  name: z.string(),
  external_price_id: z.string().nullable(),
  replaces_price_id: z.string().nullable(),
  price_type: z.enum(['usage_price', 'fixed_price', 'composite_price']),
  created_at: dateTime,
  cadence: z.enum(['one_time', 'monthly', 'quarterly', 'semi_annual', 'annual', 'custom']),
  billing_mode: z.enum(['in_advance', 'in_arrear']),
  billing_cycle_configuration: z.object({
    duration: z.number().int(),
    duration_unit: z.enum(['day', 'month']),
  }),
  invoicing_cycle_configuration: unfilled,
  billable_metric: unfilled,
  fixed_price_quantity: exactNumber.nullable(),
  plan_phase_order: z.number().int().nullable(),
  currency: z.string(),
  conversion_rate: exactNumber.nullable(),
  conversion_rate_config: unfilled,
  item: z.object({ id: z.string(), name: z.string() }),
  credit_allocation: unfilled,
  composite_price_filters: z.array(unfilled).nullable(),
  invoice_grouping_key: z.string().nullable(),
  discount: unfilled,
  minimum: unfilled,
  minimum_amount: z.string().nullable(),
  maximum: unfilled,
  maximum_amount: z.string().nullable(),
});

const lineItemSchema = z.object({
  id: z.string(),
  name: z.string(),
  quantity: exactNumber,
  amount: z.string(),
  subtotal: z.string(),
  adjusted_subtotal: z.string(),
  credits_applied: z.string(),
  partially_invoiced_amount: z.string(),
  start_date: dateTime,
  end_date: dateTime,
  grouping: z.string().nullable(),
  adjustments: z.array(unfilled),
  sub_line_items: z.array(unfilled),
  tax_amounts: z.array(unfilled),
  price: unitPriceSchema,
  usage_customer_ids: z.array(z.string()).nullable(),
  filter: z.string().nullable(),
});

export const invoiceSchema = z
  .object({
    id: z.string(),
    invoice_number: z.string(),
    customer: customerMinifiedSchema,
    status: z.enum(['issued', 'paid', 'void', 'synced', 'draft']),
    invoice_source: z.enum(['subscription', 'partial', 'one_off']),
    currency: z.string(),
    total: z.string(),
    subtotal: z.string(),
    amount_due: z.string(),
    invoice_date: dateTime,
    due_date: nullableDateTime,
    created_at: dateTime,
    issued_at: nullableDateTime,
    paid_at: nullableDateTime,
    voided_at: nullableDateTime,
    scheduled_issue_at: nullableDateTime,
    issue_failed_at: nullableDateTime,
    sync_failed_at: nullableDateTime,
    payment_failed_at: nullableDateTime,
    payment_started_at: nullableDateTime,
    eligible_to_issue_at: nullableDateTime,
    will_auto_issue: z.boolean(),
    auto_collection: z.object({
      enabled: z.boolean().nullable(),
      next_attempt_at: nullableDateTime,
      previously_attempted_at: nullableDateTime,
      num_attempts: z.number().int().nullable(),
    }),
    memo: z.string().nullable(),
    line_items: z.array(lineItemSchema),
    metadata,
    customer_balance_transactions: z.array(unfilled),
    credit_notes: z.array(unfilled),
    payment_attempts: z.array(unfilled),
    discount: unfilled,
    discounts: z.array(unfilled),
    minimum: unfilled,
    minimum_amount: z.string().nullable(),
    maximum: unfilled,
    maximum_amount: z.string().nullable(),
    subscription: unfilled,
    customer_tax_id: unfilled,
    shipping_address: addressSchema.nullable(),
    billing_address: addressSchema.nullable(),
    hosted_invoice_url: z.string().nullable(),
    invoice_pdf: z.string().nullable(),
  })
  .meta({
    id: 'Invoice',
    description:
      "Orb's Invoice: a one-off invoice for purchased credits. Money is decimal text; quantities are numbers.",
  });

type InvoiceLineView = InvoiceView['line_items'][number];

function lineItemToWire(line: InvoiceLineView): Wire<typeof lineItemSchema> {
  const { price } = line;
  return {
    id: line.id,
    name: line.name,
    quantity: exact(line.quantity),
    amount: line.amount,
    subtotal: line.subtotal,
    adjusted_subtotal: line.adjusted_subtotal,
    credits_applied: line.credits_applied,
    partially_invoiced_amount: line.partially_invoiced_amount,
    start_date: line.start_date,
    end_date: line.end_date,
    grouping: line.grouping,
    adjustments: line.adjustments,
    sub_line_items: line.sub_line_items,
    tax_amounts: line.tax_amounts,
    price: {
      model_type: unitPriceSchema.shape.model_type.parse(price.model_type),
      unit_config: {
        unit_amount: price.unit_config.unit_amount,
        prorated: price.unit_config.prorated,
      },
      metadata: price.metadata,
      id: price.id,
      name: price.name,
      external_price_id: price.external_price_id,
      replaces_price_id: price.replaces_price_id,
      price_type: unitPriceSchema.shape.price_type.parse(price.price_type),
      created_at: price.created_at,
      cadence: unitPriceSchema.shape.cadence.parse(price.cadence),
      billing_mode: unitPriceSchema.shape.billing_mode.parse(price.billing_mode),
      billing_cycle_configuration: unitPriceSchema.shape.billing_cycle_configuration.parse(
        price.billing_cycle_configuration,
      ),
      invoicing_cycle_configuration: price.invoicing_cycle_configuration,
      billable_metric: price.billable_metric,
      fixed_price_quantity:
        price.fixed_price_quantity === null ? null : exact(price.fixed_price_quantity),
      plan_phase_order: price.plan_phase_order,
      currency: price.currency,
      conversion_rate: price.conversion_rate,
      conversion_rate_config: price.conversion_rate_config,
      item: price.item,
      credit_allocation: price.credit_allocation,
      composite_price_filters: price.composite_price_filters,
      invoice_grouping_key: price.invoice_grouping_key,
      discount: price.discount,
      minimum: price.minimum,
      minimum_amount: price.minimum_amount,
      maximum: price.maximum,
      maximum_amount: price.maximum_amount,
    },
    usage_customer_ids: line.usage_customer_ids,
    filter: line.filter,
  };
}

export function toWireInvoice(invoice: InvoiceView): Wire<typeof invoiceSchema> {
  return {
    id: invoice.id,
    invoice_number: invoice.invoice_number,
    customer: {
      id: invoice.customer.id,
      external_customer_id: invoice.customer.external_customer_id,
    },
    status: invoice.status,
    invoice_source: invoiceSchema.shape.invoice_source.parse(invoice.invoice_source),
    currency: invoice.currency,
    total: invoice.total,
    subtotal: invoice.subtotal,
    amount_due: invoice.amount_due,
    invoice_date: invoice.invoice_date,
    due_date: invoice.due_date,
    created_at: invoice.created_at,
    issued_at: invoice.issued_at,
    paid_at: invoice.paid_at,
    voided_at: invoice.voided_at,
    scheduled_issue_at: invoice.scheduled_issue_at,
    issue_failed_at: invoice.issue_failed_at,
    sync_failed_at: invoice.sync_failed_at,
    payment_failed_at: invoice.payment_failed_at,
    payment_started_at: invoice.payment_started_at,
    eligible_to_issue_at: invoice.eligible_to_issue_at,
    will_auto_issue: invoice.will_auto_issue,
    auto_collection: { ...invoice.auto_collection },
    memo: invoice.memo,
    line_items: invoice.line_items.map(lineItemToWire),
    metadata: invoice.metadata,
    customer_balance_transactions: invoice.customer_balance_transactions,
    credit_notes: invoice.credit_notes,
    payment_attempts: invoice.payment_attempts,
    discount: invoice.discount,
    discounts: invoice.discounts,
    minimum: invoice.minimum,
    minimum_amount: invoice.minimum_amount,
    maximum: invoice.maximum,
    maximum_amount: invoice.maximum_amount,
    subscription: invoice.subscription,
    customer_tax_id: invoice.customer_tax_id,
    shipping_address: invoice.shipping_address,
    billing_address: invoice.billing_address,
    hosted_invoice_url: invoice.hosted_invoice_url,
    invoice_pdf: invoice.invoice_pdf,
  };
}
