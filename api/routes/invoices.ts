/**
 * Orb's invoice endpoints, for the invoices credit purchases make (LEDGER_RULES.md §7):
 * `GET /v1/invoices/{id}` reads one; `POST /v1/invoices/{id}/mark_paid` and `POST .../void` change
 * one. A change also changes the invoice's block (paid: `pending_payment` → `active`; void: its
 * remaining credit is voided), so it is a write on the customer's partition: the route enqueues
 * `invoice.change`, waits for it (up to INVOICE_CHANGE_WAIT_MS), and answers the invoice as it is
 * then, or the refusal the worker decided (400 for an invoice that is not `issued`). When the wait
 * runs out, Postgres says whether the change happened; if not, 503 (the job may still run; a
 * retry then answers 400 because the invoice is no longer issued).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { newId } from '../../worker/runtime/ids.ts';
import { partitionOf } from '../../worker/jobs/partition.ts';
import type { InvoiceChangeOutcome } from '../../worker/processors/changeInvoice.ts';
import type { JobPayload, PartitionQueues } from '../../worker/jobs/queues.ts';
import { invoiceView } from '../../worker/store/invoiceViews.ts';
import { findInvoice } from '../../worker/store/invoices.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { waitForJobs } from '../../worker/sweeps/runSweeps.ts';
import { ApiError, outcomeProblem, sendProblem } from '../errors.ts';
import { markPaidRequest, type MarkPaidRequest } from '../schemas/invoiceRequests.ts';
import { invoiceSchema, toWireInvoice } from '../wire/invoice.ts';

/** How long a change waits for its job before answering from Postgres (or 503). */
const INVOICE_CHANGE_WAIT_MS = 10_000;

export interface InvoiceRouteDeps {
  orm: Orm;
  queues: PartitionQueues;
  partitions: number;
}

type Action = JobPayload<'invoice.change'>['action'];

async function invoiceOr404(deps: InvoiceRouteDeps, invoiceId: string) {
  const invoice = await findInvoice(deps.orm.em.fork(), invoiceId);
  if (!invoice) throw ApiError.notFound(`Invoice ${invoiceId} does not exist.`);
  return invoice;
}

async function change(
  deps: InvoiceRouteDeps,
  reply: FastifyReply,
  invoiceId: string,
  action: Action,
): Promise<unknown> {
  const before = await invoiceOr404(deps, invoiceId);
  const partition = partitionOf(before.customerId, deps.partitions);
  const jobId = `invoice-${newId()}`;
  await deps.queues.add(
    partition,
    'invoice.change',
    { invoiceId, customerId: before.customerId, action },
    jobId,
  );
  const finished = await waitForJobs(deps.queues, [{ partition, jobId }], INVOICE_CHANGE_WAIT_MS);
  const job = finished ? await deps.queues.queue(partition).getJob(jobId) : undefined;
  const outcome = job?.returnvalue as InvoiceChangeOutcome | null | undefined;
  if (outcome?.status === 'failed') return sendProblem(reply, outcomeProblem(outcome.error));
  const after = await invoiceOr404(deps, invoiceId);
  const wanted = action.type === 'void' ? 'void' : 'paid';
  if (outcome?.status === 'changed' || (after.status === wanted && before.status !== wanted))
    return toWireInvoice(invoiceView(after));
  throw new ApiError(
    'unavailable',
    finished
      ? `the change of invoice ${invoiceId} finished without an answer; fetch the invoice to see its status.`
      : `the change of invoice ${invoiceId} did not finish within ${INVOICE_CHANGE_WAIT_MS} ms; fetch the invoice to see its status.`,
  );
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
        response: { 200: invoiceSchema },
      },
    },
    async (request, reply) => {
      const { invoice_id: invoiceId } = request.params as { invoice_id: string };
      const body = request.body as MarkPaidRequest;
      return change(deps, reply, invoiceId, {
        type: 'mark_paid',
        payment_received_date: body.payment_received_date,
        external_id: body.external_id ?? null,
        notes: body.notes ?? null,
      });
    },
  );
  app.post(
    '/v1/invoices/:invoice_id/void',
    { schema: { summary: 'Void an invoice', tags: ['Credits'], response: { 200: invoiceSchema } } },
    async (request, reply) => {
      const { invoice_id: invoiceId } = request.params as { invoice_id: string };
      return change(deps, reply, invoiceId, { type: 'void' });
    },
  );
}
