/**
 * Top-ups (Orb `credits/top_ups`, by Orb id and by external id): create, list, delete. A top-up is
 * configuration, not a ledger change: creating one (which replaces the (customer, currency) one
 * before it) and deleting one are plain Postgres writes, like customers, and nothing is queued.
 * The worker reads the configuration with the ledger when it decides a decrement or a usage batch
 * (domain/decideTopUp.ts). An `Idempotency-Key` on create replays the first answer.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Decimal } from '../../domain/decimal.ts';
import { exactProduct } from '../../domain/invoiceFor.ts';
import type { Clock } from '../../worker/runtime/clock.ts';
import { newId } from '../../worker/runtime/ids.ts';
import type { Orm } from '../../worker/store/orm.ts';
import {
  deleteTopUp,
  listTopUps,
  replaceTopUp,
  topUpView,
  type TopUpRow,
} from '../../worker/store/topUps.ts';
import type { CustomerKey, CustomerResolver } from '../customerResolver.ts';
import { ApiError } from '../errors.ts';
import { recordCreate, replayCreate, sendCreated } from '../intake/idempotency.ts';
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
}

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
    { summary: 'Create a top-up', tags: TAGS, body: topUpRequest, response: { 201: topUpSchema } },
    async (path, request, reply) => {
      const customer = await deps.customers.resolve(path);
      const body = request.body as TopUpRequest;
      const em = deps.orm.em.fork();
      const idempotency = await replayCreate(em, request, reply, request.url);
      if ('replayed' in idempotency) return idempotency.replayed;
      const now = deps.clock.now();
      const invoiceCurrency = checkTopUp(body, customer, now);
      const row: TopUpRow = {
        id: newId(),
        customer_id: customer.id,
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
        created_at: now,
      };
      const created = JSON.stringify(toWireTopUp(topUpView(row)));
      await recordCreate(
        em,
        idempotency.fresh,
        created,
        now,
        (tx) => replaceTopUp(tx, row).then(() => undefined),
        (violation) =>
          /top_ups_ledger_uq/.test(`${violation.constraint} ${violation.message}`)
            ? new ApiError(
                'resource_conflict',
                `Another top-up for ${body.currency} is being created for this customer; retry shortly.`,
              )
            : undefined,
      );
      return sendCreated(reply, created);
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
        data: page.map((topUp) => toWireTopUp(topUpView(topUp))),
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
      response: { 204: z.null().meta({ description: 'Deactivated; nothing is returned.' }) },
    },
    async (path, request, reply) => {
      const customer = await deps.customers.resolve(path);
      const { top_up_id: topUpId } = request.params as { top_up_id: string };
      if (!(await deleteTopUp(deps.orm.em.fork(), customer.id, topUpId))) {
        throw ApiError.notFound(
          `Top-up with id ${topUpId} does not exist for customer ${customer.id}.`,
        );
      }
      return reply.code(204).send();
    },
  );
}
