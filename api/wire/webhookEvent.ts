/**
 * Orb's webhook events (orb-python `src/orb/types/*_webhook_event.py`): the envelope `id`,
 * `created_at`, `type`, `properties`, plus `customer` (Orb's full Customer) on customer events and
 * `invoice` (Orb's Invoice) on invoice events. `renderWebhookEvent` is the outbox's renderer
 * (worker/jobs/webhookEvents.ts `WebhookEventRenderer`): it makes the exact body stored at commit,
 * which every delivery attempt and the feed send unchanged. Amounts inside webhook payloads are
 * decimal strings, as in Orb's webhook types (the block's `balance`, the thresholds), even where
 * the REST shape has numbers. Balance and ledger events also carry
 * `properties.ledger_sequence_number`, the ledger entry that caused them, so that a receiver can
 * order and reconcile (a field Orb does not send; receivers that do not know it ignore it).
 */
import { z } from 'zod';
import type {
  WebhookEventDraft,
  WebhookEventSubject,
  WebhookFacts,
} from '../../worker/jobs/webhookEvents.ts';
import { WEBHOOK_EVENT_TYPES } from '../../worker/jobs/webhookEvents.ts';
import type { CreditBlockReadRow } from '../../worker/store/creditReads.ts';
import { toWebhookAlert, webhookAlertSchema } from './alert.ts';
import { balanceTransactionSchema, toWireBalanceTransaction } from './balanceTransaction.ts';
import { customerSchema, toWireCustomer } from './customer.ts';
import {
  canonicalDecimal,
  dateTime,
  isoInstant,
  metadata,
  page,
  type Wire,
} from './exactNumber.ts';
import { invoiceSchema, toWireInvoice } from './invoice.ts';
import { priceFilterSchema } from './ledgerEntry.ts';

/** Orb's PricingUnit in webhook payloads: this service's units are its currencies. */
export const pricingUnitSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    display_name: z.string().nullable(),
    symbol: z.string().nullable(),
  })
  .meta({ id: 'WebhookPricingUnit' });

/** The credit block inside `customer.credit_ledger_incremented`: amounts are strings. */
export const webhookCreditBlockSchema = z
  .object({
    id: z.string(),
    balance: z.string(),
    credit_block_source: z.enum(['allocation', 'top_up', 'commitment', 'manual']),
    effective_date: dateTime.nullable(),
    expiry_date: dateTime.nullable(),
    filters: z.array(priceFilterSchema),
    maximum_initial_balance: z.string().nullable(),
    metadata,
    per_unit_cost_basis: z.string().nullable(),
    status: z.enum(['active', 'pending_payment']),
    credit_allocation: z.null(),
    credit_commitment: z.null(),
  })
  .meta({ id: 'WebhookCreditBlock' });

const ledgerSequenceNumber = z.number().int().optional().meta({
  description: 'The ledger entry that caused the event (absent when no entry did).',
});

const envelope = { id: z.string(), created_at: dateTime };

const alertProperties = z.object({
  alert_configuration: webhookAlertSchema,
  pricing_unit: pricingUnitSchema,
  ledger_sequence_number: ledgerSequenceNumber,
});

export const webhookEventSchema = z
  .discriminatedUnion('type', [
    z.object({
      ...envelope,
      type: z.enum(['customer.credit_balance_depleted', 'customer.credit_balance_recovered']),
      customer: customerSchema,
      properties: alertProperties,
    }),
    z.object({
      ...envelope,
      type: z.literal('customer.credit_balance_dropped'),
      customer: customerSchema,
      properties: alertProperties.extend({ balance_threshold: z.string() }),
    }),
    z.object({
      ...envelope,
      type: z.literal('customer.credit_ledger_incremented'),
      customer: customerSchema,
      properties: z.object({
        block: webhookCreditBlockSchema,
        pricing_unit: pricingUnitSchema,
        ledger_sequence_number: ledgerSequenceNumber,
      }),
    }),
    z.object({
      ...envelope,
      type: z.literal('customer.balance_transaction_created'),
      customer: customerSchema,
      properties: z.object({
        balance_transaction: balanceTransactionSchema,
        ledger_sequence_number: ledgerSequenceNumber,
      }),
    }),
    z.object({
      ...envelope,
      type: z.literal('customer.created'),
      customer: customerSchema,
      properties: z.object({}),
    }),
    z.object({
      ...envelope,
      type: z.literal('invoice.manually_marked_as_paid'),
      invoice: invoiceSchema,
      properties: z.object({
        external_id: z.string().nullable(),
        notes: z.string().nullable(),
        payment_received_date: dateTime.nullable(),
      }),
    }),
    z.object({
      ...envelope,
      type: z.literal('invoice.manually_marked_as_void'),
      invoice: invoiceSchema,
      properties: z.object({}),
    }),
    z.object({
      ...envelope,
      type: z.literal('ingestion.unmatched_customer_ids'),
      properties: z.object({
        external_customer_ids: z.array(z.string()),
        customer_ids: z.array(z.string()),
      }),
    }),
    z.object({
      ...envelope,
      type: z.literal('resource_event.test'),
      properties: z.object({ message: z.string() }),
    }),
  ])
  .meta({ id: 'WebhookEvent' });

export const webhookEventsSchema = page(webhookEventSchema).meta({ id: 'WebhookEvents' });

export const webhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES);

export type WireWebhookEvent = Wire<typeof webhookEventSchema>;

export function pricingUnit(currency: string): Wire<typeof pricingUnitSchema> {
  return { id: currency, name: currency, display_name: currency, symbol: null };
}

export function toWebhookCreditBlock(
  row: CreditBlockReadRow,
): Wire<typeof webhookCreditBlockSchema> {
  return {
    id: row.id,
    balance: canonicalDecimal(row.balance),
    credit_block_source: webhookCreditBlockSchema.shape.credit_block_source.parse(row.source),
    effective_date: isoInstant(row.effective_date),
    expiry_date: row.expiry_date === null ? null : isoInstant(row.expiry_date),
    filters: row.filters,
    maximum_initial_balance: canonicalDecimal(row.maximum_initial_balance),
    metadata: row.metadata,
    per_unit_cost_basis: row.per_unit_cost_basis,
    status: webhookCreditBlockSchema.shape.status.parse(row.status),
    credit_allocation: null,
    credit_commitment: null,
  };
}

function need<T>(value: T | undefined, draft: WebhookEventDraft, what: string): T {
  if (value === undefined) throw new Error(`webhook event ${draft.id}: no ${what} given`);
  return value;
}

function sequence(draft: WebhookEventDraft) {
  return draft.ledgerSequenceNumber === null
    ? {}
    : { ledger_sequence_number: draft.ledgerSequenceNumber };
}

/** The event as Orb's webhook payload (its wire object, before JSON). */
export function toWireWebhookEvent(
  draft: WebhookEventDraft,
  subject: WebhookEventSubject,
): WireWebhookEvent {
  const base = { id: draft.id, created_at: draft.createdAt.toISOString() };
  const customer = () => {
    const found = need(subject.customer, draft, 'customer');
    return toWireCustomer(found.row, found.hierarchy);
  };
  const facts: WebhookFacts = draft.facts;
  switch (facts.type) {
    case 'customer.credit_balance_depleted':
    case 'customer.credit_balance_recovered':
      return {
        ...base,
        type: facts.type,
        customer: customer(),
        properties: {
          alert_configuration: toWebhookAlert(facts.alert),
          pricing_unit: pricingUnit(facts.alert.currency),
          ...sequence(draft),
        },
      };
    case 'customer.credit_balance_dropped':
      return {
        ...base,
        type: facts.type,
        customer: customer(),
        properties: {
          alert_configuration: toWebhookAlert(facts.alert),
          balance_threshold: canonicalDecimal(facts.balanceThreshold),
          pricing_unit: pricingUnit(facts.alert.currency),
          ...sequence(draft),
        },
      };
    case 'customer.credit_ledger_incremented':
      return {
        ...base,
        type: facts.type,
        customer: customer(),
        properties: {
          block: toWebhookCreditBlock(need(subject.block, draft, 'block')),
          pricing_unit: pricingUnit(facts.currency),
          ...sequence(draft),
        },
      };
    case 'customer.balance_transaction_created':
      return {
        ...base,
        type: facts.type,
        customer: customer(),
        properties: {
          balance_transaction: toWireBalanceTransaction(
            need(subject.balanceTransaction, draft, 'balance transaction'),
          ),
          ...sequence(draft),
        },
      };
    case 'customer.created':
      return { ...base, type: facts.type, customer: customer(), properties: {} };
    case 'invoice.manually_marked_as_paid': {
      const payment = need(subject.invoicePayment, draft, 'invoice payment');
      return {
        ...base,
        type: facts.type,
        invoice: toWireInvoice(need(subject.invoice, draft, 'invoice')),
        properties: {
          external_id: payment.externalId,
          notes: payment.notes,
          payment_received_date:
            payment.receivedDate === null ? null : `${payment.receivedDate}T00:00:00.000Z`,
        },
      };
    }
    case 'invoice.manually_marked_as_void':
      return {
        ...base,
        type: facts.type,
        invoice: toWireInvoice(need(subject.invoice, draft, 'invoice')),
        properties: {},
      };
    case 'ingestion.unmatched_customer_ids':
      return {
        ...base,
        type: facts.type,
        properties: {
          external_customer_ids: facts.externalCustomerIds,
          customer_ids: facts.customerIds,
        },
      };
    case 'resource_event.test':
      return { ...base, type: facts.type, properties: { message: facts.message } };
    default: {
      const unreachable: never = facts;
      throw new Error(`unknown webhook event ${JSON.stringify(unreachable)}`);
    }
  }
}

/** The outbox's renderer: the bytes stored at commit and sent on every attempt. */
export function renderWebhookEvent(draft: WebhookEventDraft, subject: WebhookEventSubject): string {
  return JSON.stringify(toWireWebhookEvent(draft, subject));
}
