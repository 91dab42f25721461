/**
 * The catalog of webhook events (issue "Balance alerts and signed webhooks"; type names and
 * payloads as Orb's, `src/orb/types/*_webhook_event.py` in orbcorp/orb-python). A change that must
 * be told makes a `WebhookEventDraft` inside its transaction: what happened, by reference to rows
 * the same transaction wrote (a block, a balance transaction, an invoice) or with the state only
 * the change knows (an alert at the crossing). The outbox writer renders each draft into Orb's body
 * and stores it with the change, so the body is fixed at commit.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AlertRecord } from '../store/alerts.ts';
import type { BalanceTransactionRecord } from '../store/balanceTransactions.ts';
import type { CreditBlockReadRow } from '../store/creditReads.ts';
import type { CustomerRow } from '../store/entities.ts';
import type { InvoiceView } from '../store/invoiceViews.ts';
import type { CustomerHierarchyView } from '../store/views.ts';

export const WEBHOOK_EVENT_TYPES = [
  'customer.credit_balance_depleted',
  'customer.credit_balance_dropped',
  'customer.credit_balance_recovered',
  'customer.credit_ledger_incremented',
  'customer.balance_transaction_created',
  'customer.created',
  'invoice.manually_marked_as_paid',
  'invoice.manually_marked_as_void',
  'ingestion.unmatched_customer_ids',
  'resource_event.test',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const ALERT_EVENT_TYPES = {
  credit_balance_depleted: 'customer.credit_balance_depleted',
  credit_balance_dropped: 'customer.credit_balance_dropped',
  credit_balance_recovered: 'customer.credit_balance_recovered',
} as const satisfies Record<AlertRecord['type'], WebhookEventType>;

export type WebhookFacts =
  | {
      type: (typeof ALERT_EVENT_TYPES)[keyof typeof ALERT_EVENT_TYPES];
      /** The alert as it stood right after the step that crossed the threshold. */
      alert: AlertRecord;
      /** Decimal text: the threshold crossed (0 for depleted and recovered). */
      balanceThreshold: string;
    }
  | { type: 'customer.credit_ledger_incremented'; blockId: string; currency: string }
  | { type: 'customer.balance_transaction_created'; balanceTransactionId: string }
  | { type: 'customer.created' }
  | {
      type: 'invoice.manually_marked_as_paid' | 'invoice.manually_marked_as_void';
      invoiceId: string;
    }
  | {
      type: 'ingestion.unmatched_customer_ids';
      /** The customer ids / external ids named by ingested events that matched no customer. */
      customerIds: string[];
      externalCustomerIds: string[];
    }
  | { type: 'resource_event.test'; message: string };

export interface WebhookEventDraft {
  /** The event's id: the same on every delivery attempt and in the feed. */
  id: string;
  createdAt: Date;
  /** The customer the event is about (ordering and the feed's filter); null for account events. */
  customerId: string | null;
  /** The ledger entry that caused a balance or ledger event, so a receiver can order and reconcile. */
  ledgerSequenceNumber: number | null;
  facts: WebhookFacts;
  /** Only this endpoint gets it (a test event); absent: every endpoint subscribed to its type. */
  targetEndpointId?: string;
}

/**
 * Where a transaction puts its events: renders each draft into Orb's body and writes it in the
 * caller's transaction (worker/delivery/outbox.ts). A change that rolled back sent nothing.
 */
export interface OutboxWriter {
  append(em: EntityManager, drafts: readonly WebhookEventDraft[]): Promise<void>;
}

/**
 * What a draft's body is made of besides the draft itself, loaded by the outbox writer in the
 * draft's transaction: the customer (with its hierarchy) for customer events, the block of a
 * ledger increment, the balance transaction, the invoice. Absent when the type does not need it.
 */
export interface WebhookEventSubject {
  customer?: { row: CustomerRow; hierarchy: CustomerHierarchyView };
  block?: CreditBlockReadRow;
  balanceTransaction?: BalanceTransactionRecord;
  invoice?: InvoiceView;
  /** The payment an invoice was marked paid with (Orb's `invoice.manually_marked_as_paid`). */
  invoicePayment?: InvoicePayment;
}

export interface InvoicePayment {
  externalId: string | null;
  notes: string | null;
  /** ISO date (YYYY-MM-DD), as given. */
  receivedDate: string | null;
}

/**
 * Renders a draft into the exact bytes every delivery and the feed send (Orb's envelope and
 * payload). Implemented on the wire side (api/wire/webhookEvent.ts) and handed to the outbox writer
 * by the composition root, since worker/ does not import api/.
 */
export type WebhookEventRenderer = (
  draft: WebhookEventDraft,
  subject: WebhookEventSubject,
) => string;

/** The channel the outbox writer notifies at commit, on which the delivery loop wakes. */
export const WEBHOOK_EVENTS_CHANNEL = 'webhook_events';
