/**
 * Customer balance transactions (LEDGER_RULES.md §7, seed 003), in Orb's shapes, under both
 * customer path forms:
 *
 * - `POST .../balance_transactions` is a write, so it goes through the customer's partition like
 *   every other write (ARCHITECTURE.md steps 1-4): `submit()` a `balance_transaction` request
 *   (api/intake/submit.ts) and wait up to SYNC_WAIT_MS for the worker's outcome. Orb answers `200` with the transaction; a
 *   refusal is the worker's business error; `Prefer: respond-async`, or a worker slower than
 *   SYNC_WAIT_MS, gets `202` and a request to poll at `GET /v1/balance_transaction_requests/{id}`.
 * - `GET .../balance_transactions` lists them newest first, with `operation_time[...]` filters
 *   and cursor pagination. Reads never enqueue.
 */
import type { FastifyInstance } from 'fastify';
import type { BalanceRequestPayload } from '../../worker/jobs/requestKinds.ts';
import {
  findTransactionOfRequest,
  listBalanceTransactions,
  type BalanceTransactionRecord,
} from '../../worker/store/balanceTransactions.ts';
import { findRequest, type RequestRow } from '../../worker/store/requests.ts';
import type { RequestStatus } from '../../worker/store/views.ts';
import type { CustomerResolver } from '../customerResolver.ts';
import { ApiError, outcomeProblem } from '../errors.ts';
import { submittedKey } from '../intake/idempotency.ts';
import { sendAnswer } from '../intake/sendAnswer.ts';
import { respondsAsync, submit, type IntakeDeps } from '../intake/submit.ts';
import {
  balanceTransactionRequest,
  balanceTransactionsQuery,
  type BalanceTransactionRequest,
  type BalanceTransactionsQuery,
} from '../schemas/balanceTransactionRequest.ts';
import { decodeSeq, paginationMetadata, timeRange } from '../schemas/listQueries.ts';
import {
  balanceTransactionRequestSchema,
  balanceTransactionSchema,
  balanceTransactionsSchema,
  toWireBalanceTransaction,
} from '../wire/balanceTransaction.ts';
import { routeBothCustomerForms } from './customerPaths.ts';

/** `GET /v1/balance_transaction_requests/{id}`: an accepted write's status, and then its transaction or error. */
function requestView(
  request: RequestRow,
  transaction: BalanceTransactionRecord | null,
  status: RequestStatus,
) {
  return {
    id: request.id,
    status,
    transaction: transaction === null ? null : toWireBalanceTransaction(transaction),
    error: request.error ? outcomeProblem(request.error) : null,
    created_at: request.createdAt.toISOString(),
    completed_at: request.completedAt?.toISOString() ?? null,
  };
}

export function registerBalanceTransactionRoutes(
  app: FastifyInstance,
  deps: { intake: IntakeDeps; customers: CustomerResolver },
): void {
  const createSchema = {
    summary: 'Create a customer balance transaction',
    tags: ['Customers'],
    body: balanceTransactionRequest,
    response: { 200: balanceTransactionSchema, 202: balanceTransactionRequestSchema },
  };
  routeBothCustomerForms(
    app,
    'POST',
    '/balance_transactions',
    createSchema,
    async (path, request, reply) => {
      const body = request.body as BalanceTransactionRequest;
      const customer = await deps.customers.resolve(path);
      // Choice: the balance is an amount in the customer's invoicing currency, so a customer without
      // one has nothing to count it in: 400 rather than a guessed currency. The worker's domain rule
      // refuses the same; this check only spares the partition a job that cannot succeed.
      if (customer.currency === null) {
        throw ApiError.validation(
          `customer ${customer.id} has no invoicing currency, and a customer balance is an amount in that currency; create the customer with a currency (e.g. "USD") to keep a balance.`,
        );
      }
      const payload: BalanceRequestPayload = {
        type: body.type,
        amount: body.amount,
        description: body.description,
      };
      const answer = await submit(deps.intake, {
        kind: 'balance_transaction',
        customer,
        payload,
        currency: null,
        // Keyed on the Orb id, so that both path forms of one request are the same request.
        idempotency: submittedKey(request, `/v1/customers/${customer.id}/balance_transactions`),
        respondAsync: respondsAsync(request.headers.prefer),
        httpRequestId: request.id,
      });
      return sendAnswer(reply, answer, {
        accepted: (accepted) => ({
          location: `/v1/balance_transaction_requests/${accepted.id}`,
          body: requestView(accepted, null, 'queued'),
        }),
        committed: (outcome) => ({
          status: 200,
          body: toWireBalanceTransaction(outcome.transaction),
        }),
      });
    },
  );

  const listSchema = {
    summary: 'List customer balance transactions',
    tags: ['Customers'],
    querystring: balanceTransactionsQuery,
    response: { 200: balanceTransactionsSchema },
  };
  routeBothCustomerForms(app, 'GET', '/balance_transactions', listSchema, async (path, request) => {
    const query = request.query as BalanceTransactionsQuery;
    const customer = await deps.customers.resolve(path);
    const page = await listBalanceTransactions(deps.intake.orm.em.fork(), customer.id, {
      limit: query.limit,
      afterSeq: decodeSeq(query.cursor),
      operationTime: timeRange(query, 'operation_time'),
    });
    return {
      data: page.data.map(toWireBalanceTransaction),
      pagination_metadata: paginationMetadata(page.next),
    };
  });

  const pollSchema = {
    summary: 'Fetch the status of a customer balance transaction request',
    tags: ['Customers'],
    response: { 200: balanceTransactionRequestSchema },
  };
  app.get(
    '/v1/balance_transaction_requests/:request_id',
    { schema: pollSchema },
    async (request) => {
      const { request_id: requestId } = request.params as { request_id: string };
      const em = deps.intake.orm.em.fork();
      const row = await findRequest(em, requestId);
      if (!row || row.kind !== 'balance_transaction')
        throw ApiError.notFound(`Balance transaction request ${requestId} does not exist.`);
      let status: RequestStatus = row.status;
      if (
        status === 'queued' &&
        (await deps.intake.queues.queue(row.partition).getJobState(row.id)) === 'active'
      )
        status = 'processing';
      const transaction =
        row.status === 'committed' ? ((await findTransactionOfRequest(em, row.id)) ?? null) : null;
      return requestView(row, transaction, status);
    },
  );
}
