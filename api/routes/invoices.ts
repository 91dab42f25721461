/**
 * Orb's invoice endpoints, for the invoices credit purchases make (LEDGER_RULES.md §7):
 * `GET /v1/invoices/{id}` reads one; `POST /v1/invoices/{id}/mark_paid` and `POST .../void` change
 * one. A change also changes the invoice's block (paid: `pending_payment` → `active`; void: its
 * remaining credit is voided), so it is a write on the customer's partition like every other:
 * `submit()` an `invoice_change` request (api/intake/submit.ts, with its Idempotency-Key), wait up
 * to SYNC_WAIT_MS, and answer the invoice as it is then, or the refusal the worker decided (400 for
 * an invoice that is not `issued`); `Prefer: respond-async`, or a worker slower than the wait, gets
 * `202` and the request to poll at `GET /v1/ledger_requests/{id}`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { InvoiceChangePayload } from '../../worker/jobs/requestKinds.ts';
import { invoiceView } from '../../worker/store/invoiceViews.ts';
import { findInvoice } from '../../worker/store/invoices.ts';
import type { Orm } from '../../worker/store/orm.ts';
import type { CustomerResolver } from '../customerResolver.ts';
import { ApiError } from '../errors.ts';
import { submittedKey } from '../intake/idempotency.ts';
import { sendAnswer } from '../intake/sendAnswer.ts';
import { respondsAsync, submit, type IntakeDeps } from '../intake/submit.ts';
import { markPaidRequest, type MarkPaidRequest } from '../schemas/invoiceRequests.ts';
import { invoiceSchema, toWireInvoice } from '../wire/invoice.ts';
import { ledgerRequestSchema, toWireLedgerRequest } from '../wire/ledgerRequest.ts';

export interface InvoiceRouteDeps {
  orm: Orm;
  intake: IntakeDeps;
  customers: CustomerResolver;
}

async function invoiceOr404(deps: InvoiceRouteDeps, invoiceId: string) {
  const invoice = await findInvoice(deps.orm.em.fork(), invoiceId);
  if (!invoice) throw ApiError.notFound(`Invoice ${invoiceId} does not exist.`);
  return invoice;
}

async function change(
  deps: InvoiceRouteDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  path: 'mark_paid' | 'void',
  action: InvoiceChangePayload['action'],
): Promise<FastifyReply> {
  const { invoice_id: invoiceId } = request.params as { invoice_id: string };
  const invoice = await invoiceOr404(deps, invoiceId);
  const customer = await deps.customers.resolve({ customerId: invoice.customerId });
  const answer = await submit(deps.intake, {
    kind: 'invoice_change',
    customer,
    payload: { invoice_id: invoiceId, action },
    currency: null,
    idempotency: submittedKey(request, `/v1/invoices/${invoiceId}/${path}`),
    respondAsync: respondsAsync(request.headers.prefer),
    httpRequestId: request.id,
  });
  return sendAnswer(reply, answer, {
    accepted: (accepted) => ({
      location: `/v1/ledger_requests/${accepted.id}`,
      body: toWireLedgerRequest({ ...accepted, status: 'queued' }, [], null),
    }),
    committed: async () => ({
      status: 200,
      body: toWireInvoice(invoiceView(await invoiceOr404(deps, invoiceId))),
    }),
  });
}

export function registerInvoiceRoutes(app: FastifyInstance, deps: InvoiceRouteDeps): void {
  app.get(
    '/v1/invoices/:invoice_id',
    {
      schema: { summary: 'Fetch an invoice', tags: ['Credits'], response: { 200: invoiceSchema } },
    },
    async (request) => {
      const { invoice_id: invoiceId } = request.params as { invoice_id: string };
      return toWireInvoice(invoiceView(await invoiceOr404(deps, invoiceId)));
    },
  );
  app.post(
    '/v1/invoices/:invoice_id/mark_paid',
    {
      schema: {
        summary: 'Mark an invoice paid',
        tags: ['Credits'],
        body: markPaidRequest,
        response: { 200: invoiceSchema, 202: ledgerRequestSchema },
      },
    },
    async (request, reply) => {
      const body = request.body as MarkPaidRequest;
      return change(deps, request, reply, 'mark_paid', {
        type: 'mark_paid',
        payment_received_date: body.payment_received_date,
        external_id: body.external_id ?? null,
        notes: body.notes ?? null,
      });
    },
  );
  app.post(
    '/v1/invoices/:invoice_id/void',
    {
      schema: {
        summary: 'Void an invoice',
        tags: ['Credits'],
        response: { 200: invoiceSchema, 202: ledgerRequestSchema },
      },
    },
    async (request, reply) => change(deps, request, reply, 'void', { type: 'void' }),
  );
}
