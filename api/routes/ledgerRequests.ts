/**
 * `GET /v1/ledger_requests/{id}`: the status of an accepted write (a ledger entry, an invoice
 * change, an event deprecation; a balance request has its own shape, at
 * `/v1/balance_transaction_requests/{id}`), for clients that enqueue and poll (ARCHITECTURE.md "The
 * service's own endpoints"). `processing` is read from the queue: the
 * job is running now but its transaction has not committed.
 */
import type { FastifyInstance } from 'fastify';
import type { OutcomeError } from '../../worker/jobs/requestOutcome.ts';
import type { PartitionQueues } from '../../worker/jobs/queues.ts';
import { Customer } from '../../worker/store/entities.ts';
import { findRequest } from '../../worker/store/requests.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { entryViews } from '../../worker/store/readQueries.ts';
import type { RequestStatus } from '../../worker/store/views.ts';
import { ApiError, outcomeProblem } from '../errors.ts';
import { ledgerRequestSchema, toWireLedgerRequest } from '../wire/ledgerRequest.ts';

export function registerLedgerRequestRoutes(
  app: FastifyInstance,
  deps: { orm: Orm; queues: PartitionQueues },
): void {
  app.get(
    '/v1/ledger_requests/:request_id',
    {
      schema: {
        summary: 'Fetch the status of a ledger request',
        tags: ['Ledger requests'],
        response: { 200: ledgerRequestSchema },
      },
    },
    async (request) => {
      const { request_id: requestId } = request.params as { request_id: string };
      const em = deps.orm.em.fork();
      const row = await findRequest(em, requestId);
      // A balance request has its own shape, at /v1/balance_transaction_requests/{id}.
      if (!row || row.kind === 'balance_transaction')
        throw ApiError.notFound(`Request ${requestId} does not exist.`);
      let status: RequestStatus =
        row.status === 'committed' || row.status === 'failed' ? row.status : 'queued';
      if (status === 'queued') {
        const state = await deps.queues.queue(row.partition).getJobState(row.id);
        if (state === 'active') status = 'processing';
      }
      const customer = await em.findOneOrFail(Customer, { id: row.customerId });
      const entries = await entryViews(em, row.entryIds, customer);
      return toWireLedgerRequest(
        { ...row, status },
        entries,
        row.error ? outcomeProblem(row.error as OutcomeError) : null,
      );
    },
  );
}
