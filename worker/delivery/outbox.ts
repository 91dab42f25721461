/**
 * The outbox writer (ARCHITECTURE.md "Outbox"): a transaction hands it the events its change
 * makes, and it renders and stores them in that same transaction, so the body is fixed at commit
 * and a change that rolls back leaves no event. It loads what the bodies need first (customers
 * with their hierarchies, increment blocks, balance transactions, invoices), renders each draft with the renderer the composition root
 * gives it (api/wire/webhookEvent.ts), then writes every row in one insert and notifies the
 * delivery loop, which Postgres tells at commit. Customers and balance transactions are read
 * once for all the drafts; blocks and invoices (one per increment or invoice change) one by one.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type {
  OutboxWriter,
  WebhookEventDraft,
  WebhookEventRenderer,
  WebhookEventSubject,
} from '../jobs/webhookEvents.ts';
import { readCreditBlockInTransaction } from '../store/creditReads.ts';
import { findInvoice } from '../store/invoices.ts';
import { invoiceView } from '../store/invoiceViews.ts';
import {
  balanceTransactionsById,
  customersWithHierarchy,
  insertWebhookEvents,
  invoicePayment,
} from '../store/webhookEvents.ts';

/** Types whose body carries the customer (Orb's `customer` field). */
const CUSTOMER_EVENT = /^customer\./;

export class Outbox implements OutboxWriter {
  private readonly render: WebhookEventRenderer;

  constructor(render: WebhookEventRenderer) {
    this.render = render;
  }

  async append(em: EntityManager, drafts: readonly WebhookEventDraft[]): Promise<void> {
    if (drafts.length === 0) return;
    const subjects = await this.load(em, drafts);
    await insertWebhookEvents(
      em,
      drafts.map((draft, index) => ({
        id: draft.id,
        type: draft.facts.type,
        customerId: draft.customerId,
        ledgerSequenceNumber: draft.ledgerSequenceNumber,
        createdAt: draft.createdAt,
        body: this.render(draft, subjects[index]!),
        targetEndpointId: draft.targetEndpointId ?? null,
      })),
    );
  }

  /** Each draft's subject, in draft order; a row a draft names that is missing is a bug. */
  private async load(
    em: EntityManager,
    drafts: readonly WebhookEventDraft[],
  ): Promise<WebhookEventSubject[]> {
    const customerIds = drafts.flatMap((draft) =>
      CUSTOMER_EVENT.test(draft.facts.type) ? [required(draft.customerId, draft, 'customer')] : [],
    );
    const transactionIds = drafts.flatMap((draft) =>
      draft.facts.type === 'customer.balance_transaction_created'
        ? [draft.facts.balanceTransactionId]
        : [],
    );
    const customers = await customersWithHierarchy(em, customerIds);
    const transactions = await balanceTransactionsById(em, transactionIds);
    const subjects: WebhookEventSubject[] = [];
    for (const draft of drafts) {
      const subject: WebhookEventSubject = {};
      const facts = draft.facts;
      if (CUSTOMER_EVENT.test(facts.type))
        subject.customer = required(customers.get(draft.customerId!), draft, 'customer');
      if (facts.type === 'customer.credit_ledger_incremented')
        subject.block = required(
          await readCreditBlockInTransaction(em, facts.blockId),
          draft,
          'block',
        );
      if (facts.type === 'customer.balance_transaction_created')
        subject.balanceTransaction = required(
          transactions.get(facts.balanceTransactionId),
          draft,
          'balance transaction',
        );
      if (
        facts.type === 'invoice.manually_marked_as_paid' ||
        facts.type === 'invoice.manually_marked_as_void'
      ) {
        const invoice = required(await findInvoice(em, facts.invoiceId), draft, 'invoice');
        subject.invoice = invoiceView(invoice);
        subject.invoicePayment = required(await invoicePayment(em, invoice.id), draft, 'invoice');
      }
      subjects.push(subject);
    }
    return subjects;
  }
}

function required<T>(value: T | null | undefined, draft: WebhookEventDraft, what: string): T {
  if (value === null || value === undefined)
    throw new Error(`webhook event ${draft.id} (${draft.facts.type}): no ${what} to render`);
  return value;
}
