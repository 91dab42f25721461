/**
 * Customer balance transactions (LEDGER_RULES.md §7, seed 003), in Orb's shapes, under both
 * customer path forms:
 *
 * - `POST .../balance_transactions` is a write, so it goes through the customer's partition like
 *   every other write (ARCHITECTURE.md steps 1-4): record the request (with its Idempotency-Key)
 *   in `balance_transaction_requests`, enqueue `balance.apply`, and wait up to SYNC_WAIT_MS for
 *   the worker's outcome on the outcome channel. Orb answers `200` with the transaction; a
 *   refusal is the worker's business error; `Prefer: respond-async`, or a worker slower than
 *   SYNC_WAIT_MS, gets `202` and a request to poll at `GET /v1/balance_transaction_requests/{id}`.
 * - `GET .../balance_transactions` lists them newest first, with `operation_time[...]` filters
 *   and cursor pagination. Reads never enqueue.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { newId } from '../../worker/runtime/ids.ts';
import { enqueueWithin, isQueueUnavailable } from '../intake/queueUnavailable.ts';
import { partitionOf } from '../../worker/jobs/partition.ts';
import {
  findBalanceRequest,
  findBalanceRequestByKey,
  findTransactionOfRequest,
  forgetBalanceRequest,
  listBalanceTransactions,
  recordBalanceRequest,
  storedBalanceOutcome,
  type BalanceOutcome,
  type BalanceRequestPayload,
  type BalanceRequestRow,
  type BalanceTransactionView,
  type IdempotencyInput,
} from '../../worker/store/balanceTransactions.ts';
import type { RequestStatus } from '../../worker/store/views.ts';
import type { CustomerKey, CustomerResolver } from '../customerResolver.ts';
import { ApiError, outcomeProblem, sendProblem } from '../errors.ts';
import { fingerprint, IDEMPOTENCY_KEY_LENGTH_MAX } from '../intake/idempotency.ts';
import type { IntakeDeps } from '../intake/ledgerIntake.ts';
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

type BalanceAnswer =
  | { kind: 'outcome'; outcome: BalanceOutcome; replayed: boolean }
  | { kind: 'accepted'; request: BalanceRequestRow };

interface AcceptInput {
  customer: CustomerKey;
  payload: BalanceRequestPayload;
  idempotency: IdempotencyInput | undefined;
  respondAsync: boolean;
  httpRequestId: string;
}

async function replay(deps: IntakeDeps, idempotency: IdempotencyInput): Promise<BalanceAnswer> {
  const em = deps.orm.em.fork();
  const stored = await findBalanceRequestByKey(em, idempotency.key);
  const request = stored?.request;
  if (!stored || !request || stored.fingerprint !== idempotency.fingerprint) {
    throw new ApiError(
      'resource_conflict',
      `Idempotency-Key ${idempotency.key} was already used for a different request.`,
    );
  }
  if (request.status === 'queued') {
    throw new ApiError(
      'resource_conflict',
      `The request with Idempotency-Key ${idempotency.key} is still being processed; retry shortly.`,
    );
  }
  return { kind: 'outcome', outcome: await storedBalanceOutcome(em, request), replayed: true };
}

/** The intake of ledgerIntake.ts for a balance request: the Postgres row is the durable acceptance. */
async function accept(deps: IntakeDeps, input: AcceptInput): Promise<BalanceAnswer> {
  const partition = partitionOf(input.customer.id, deps.partitions);
  // Before anything is recorded, under the ledger writes' label: both are writes on a partition.
  await deps.backlog.admit('ledger_entry', [partition]);
  const request: BalanceRequestRow = {
    id: newId(),
    customerId: input.customer.id,
    partition,
    payload: input.payload,
    status: 'queued',
    error: null,
    createdAt: deps.clock.now(),
    completedAt: null,
  };
  const em = deps.orm.em.fork();
  if (!(await recordBalanceRequest(em, request, input.idempotency)) && input.idempotency)
    return replay(deps, input.idempotency);
  const job = {
    requestId: request.id,
    customerId: input.customer.id,
    httpRequestId: input.httpRequestId,
  };
  // As for ledger requests: recorded, so accepted even while the queue is unreachable.
  if (deps.deferred.has(partition)) {
    deps.deferred.defer(partition, 'balance.apply', job, request.id);
    return { kind: 'accepted', request };
  }
  const outcome = input.respondAsync
    ? undefined
    : deps.waiter.expect<BalanceOutcome>(request.id, deps.syncWaitMs);
  try {
    await enqueueWithin(
      deps.queues.add(partition, 'balance.apply', job, request.id),
      'enqueueing the request',
    );
  } catch (error) {
    if (isQueueUnavailable(error)) {
      deps.waiter.cancel(request.id);
      deps.deferred.defer(partition, 'balance.apply', job, request.id);
      return { kind: 'accepted', request };
    }
    // Not enqueued, so not accepted: undo the record so that a retry with the same key starts afresh.
    deps.waiter.cancel(request.id);
    await forgetBalanceRequest(em, request.id);
    throw new ApiError(
      'unavailable',
      `The queue is unavailable; nothing was written (${(error as Error).message}).`,
    );
  }
  const finished = await outcome;
  return finished
    ? { kind: 'outcome', outcome: finished, replayed: false }
    : { kind: 'accepted', request };
}

/** `GET /v1/balance_transaction_requests/{id}`: an accepted write's status, and then its transaction or error. */
function requestView(
  request: BalanceRequestRow,
  transaction: BalanceTransactionView | null,
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

function answer(reply: FastifyReply, result: BalanceAnswer): FastifyReply {
  if (result.kind === 'accepted') {
    return reply
      .code(202)
      .header('location', `/v1/balance_transaction_requests/${result.request.id}`)
      .send(requestView(result.request, null, 'queued'));
  }
  if (result.replayed) reply.header('idempotent-replayed', 'true');
  const { outcome } = result;
  if (outcome.status === 'committed')
    return reply.code(200).send(toWireBalanceTransaction(outcome.transaction));
  return sendProblem(reply, outcomeProblem(outcome.error));
}

function idempotencyOf(
  key: string | string[] | undefined,
  customerId: string,
  rawBody: string | undefined,
): IdempotencyInput | undefined {
  if (
    Array.isArray(key) ||
    (key !== undefined && (key.length === 0 || key.length > IDEMPOTENCY_KEY_LENGTH_MAX))
  ) {
    throw ApiError.validation(
      `Idempotency-Key must be one value of 1 to ${IDEMPOTENCY_KEY_LENGTH_MAX} characters.`,
    );
  }
  // Keyed on the Orb id, so that both path forms of one request are the same request.
  return key
    ? {
        key,
        fingerprint: fingerprint(
          'POST',
          `/v1/customers/${customerId}/balance_transactions`,
          rawBody,
        ),
      }
    : undefined;
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
      const idempotency = idempotencyOf(
        request.headers['idempotency-key'],
        customer.id,
        request.rawBody,
      );
      const respondAsync = /\brespond-async\b/i.test(String(request.headers.prefer ?? ''));
      const payload: BalanceRequestPayload = {
        type: body.type,
        amount: body.amount,
        description: body.description,
      };
      return answer(
        reply,
        await accept(deps.intake, {
          customer,
          payload,
          idempotency,
          respondAsync,
          httpRequestId: request.id,
        }),
      );
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
      const row = await findBalanceRequest(em, requestId);
      if (!row) throw ApiError.notFound(`Balance transaction request ${requestId} does not exist.`);
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
