/**
 * Top-ups (Orb `credits/top_ups`, by Orb id and by external id): create, list, delete. Creating one
 * (which replaces the (customer, currency) one before it) and deleting one are writes on the
 * customer's partition like every other (`submit()`, api/intake/submit.ts), so that a change of
 * configuration is ordered with the ledger writes around it: the worker reads the configuration
 * with the ledger when it decides a decrement or a usage batch (domain/decideTopUp.ts). An
 * `Idempotency-Key` replays the first answer; `Prefer: respond-async` answers 202.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Decimal } from '../../domain/decimal.ts';
import { exactProduct } from '../../domain/invoiceFor.ts';
import type { Clock } from '../../worker/runtime/clock.ts';
import { newId } from '../../worker/runtime/ids.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { listTopUps } from '../../worker/store/topUps.ts';
import type { CustomerKey, CustomerResolver } from '../customerResolver.ts';
import { ApiError } from '../errors.ts';
import { submittedKey } from '../intake/idempotency.ts';
import { sendAnswer } from '../intake/sendAnswer.ts';
import { respondsAsync, submit, type IntakeDeps } from '../intake/submit.ts';
import { ledgerRequestSchema, toWireLedgerRequest } from '../wire/ledgerRequest.ts';
import { toWireTopUp, topUpSchema, topUpsSchema } from '../wire/topUp.ts';
import { decodeKeyset, paginationMetadata } from '../schemas/listQueries.ts';
import {
  topUpRequest,
  topUpsQuery,
  type TopUpRequest,
  type TopUpsQuery,
} from '../schemas/topUpRequest.ts';
import { routeBothCustomerForms } from './customerPaths.ts';

const TAGS = ['Credits'];
/** Orb: `active_from` "should not be more than 10 days in the past". */
const ACTIVE_FROM_PAST_DAYS_MAX = 10;
const DAY_MS = 86_400_000;

interface Deps {
  orm: Orm;
  clock: Clock;
  customers: CustomerResolver;
  intake: IntakeDeps;
}

/** The 202 of a top-up write: the request to poll. */
const acceptedTopUp = (accepted: Parameters<typeof toWireLedgerRequest>[0]) => ({
  location: `/v1/ledger_requests/${accepted.id}`,
  body: toWireLedgerRequest({ ...accepted, status: 'queued' }, [], null),
});

/**
 * The checks the body schema cannot make alone: the customer's invoicing currency, an exact total
 * and an `active_from` no more than 10 days before now.
 */
function checkTopUp(body: TopUpRequest, customer: CustomerKey, now: Date): string {
  if (customer.currency === null) {
    throw ApiError.validation(
      `a top-up invoices the credits in the customer's invoicing currency, and customer ${customer.id} has none; create the customer with a currency.`,
    );
  }
  if (/^[A-Z]{3}$/.test(body.currency) && body.currency !== customer.currency) {
    throw ApiError.validation(
      `currency ${body.currency} is a real currency but the customer's invoicing currency is ${customer.currency}; use it or a custom unit such as "credits".`,
    );
  }
  if ((body.expires_after === null) !== (body.expires_after_unit === null)) {
    throw ApiError.validation(
      'expires_after and expires_after_unit go together: give both or neither.',
    );
  }
  if (
    body.active_from !== null &&
    Date.parse(body.active_from) < now.getTime() - ACTIVE_FROM_PAST_DAYS_MAX * DAY_MS
  ) {
    throw ApiError.validation(
      `active_from ${body.active_from} is more than ${ACTIVE_FROM_PAST_DAYS_MAX} days in the past; use a later instant or leave it out.`,
    );
  }
  if (exactProduct(Decimal.of(body.amount), Decimal.of(body.per_unit_cost_basis)) === undefined) {
    throw ApiError.validation(
      `the invoice total ${body.amount} × ${body.per_unit_cost_basis} needs more than 12 decimal places; use an amount or per_unit_cost_basis with fewer.`,
    );
  }
  return customer.currency;
}

export function registerTopUpRoutes(app: FastifyInstance, deps: Deps): void {
  routeBothCustomerForms(
    app,
    'POST',
    '/credits/top_ups',
    {
      summary: 'Create a top-up',
      tags: TAGS,
      body: topUpRequest,
      response: { 201: topUpSchema, 202: ledgerRequestSchema },
    },
    async (path, request, reply) => {
      const customer = await deps.customers.resolve(path);
      const body = request.body as TopUpRequest;
      const invoiceCurrency = checkTopUp(body, customer, deps.clock.now());
      const answer = await submit(deps.intake, {
        kind: 'top_up_create',
        customer,
        payload: {
          top_up_id: newId(),
          currency: body.currency,
          amount: body.amount,
          threshold: body.threshold,
          per_unit_cost_basis: body.per_unit_cost_basis,
          invoice_currency: invoiceCurrency,
          auto_collection: body.invoice_settings.auto_collection,
          net_terms: body.invoice_settings.net_terms,
          memo: body.invoice_settings.memo,
          require_successful_payment: body.invoice_settings.require_successful_payment,
          expires_after: body.expires_after,
          expires_after_unit: body.expires_after_unit,
          active_from: body.active_from,
        },
        currency: null,
        // Keyed on the Orb id, so that both path forms of one request are the same request.
        idempotency: submittedKey(request, `/v1/customers/${customer.id}/credits/top_ups`),
        respondAsync: respondsAsync(request.headers.prefer),
        httpRequestId: request.id,
      });
      return sendAnswer(reply, answer, {
        accepted: acceptedTopUp,
        committed: (outcome) => ({ status: 201, body: toWireTopUp(outcome.topUp) }),
      });
    },
  );

  routeBothCustomerForms(
    app,
    'GET',
    '/credits/top_ups',
    {
      summary: 'List top-ups',
      tags: TAGS,
      querystring: topUpsQuery,
      response: { 200: topUpsSchema },
    },
    async (path, request) => {
      const customer = await deps.customers.resolve(path);
      const query = request.query as TopUpsQuery;
      const rows = await listTopUps(
        deps.orm.em.fork(),
        customer.id,
        query.limit,
        decodeKeyset(query.cursor),
      );
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      const next =
        rows.length > query.limit && last
          ? `${new Date(last.created_at).toISOString()}|${last.id}`
          : null;
      return {
        data: page.map(toWireTopUp),
        pagination_metadata: paginationMetadata(next),
      };
    },
  );

  routeBothCustomerForms(
    app,
    'DELETE',
    '/credits/top_ups/:top_up_id',
    {
      summary: 'Deactivate a top-up',
      tags: TAGS,
      response: {
        204: z.null().meta({ description: 'Deactivated; nothing is returned.' }),
        202: ledgerRequestSchema,
      },
    },
    async (path, request, reply) => {
      const customer = await deps.customers.resolve(path);
      const { top_up_id: topUpId } = request.params as { top_up_id: string };
      const answer = await submit(deps.intake, {
        kind: 'top_up_delete',
        customer,
        payload: { top_up_id: topUpId },
        currency: null,
        idempotency: submittedKey(
          request,
          `/v1/customers/${customer.id}/credits/top_ups/${topUpId}`,
        ),
        respondAsync: respondsAsync(request.headers.prefer),
        httpRequestId: request.id,
      });
      return sendAnswer(reply, answer, {
        accepted: acceptedTopUp,
        committed: () => ({ status: 204, body: undefined }),
      });
    },
  );
}
