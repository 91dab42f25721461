/**
 * Orb's customer credit-balance alerts (`/v1/alerts`, orb-billing `resources/alerts.d.ts`): create
 * by Orb id or external id, list, fetch, change thresholds, enable, disable, delete. Every write is
 * an `alert_change` request on the customer's partition (`submit()`, api/intake/submit.ts), so that
 * an alert's state is set in order with the ledger writes around it; the answer is the alert as
 * stored once the worker committed (a replay reads it again), a refusal as its RFC 7807 problem
 * with its `code`, or with `Prefer: respond-async` a 202 and the request to poll. Only customer
 * alerts exist here: the subscription forms answer a 400 that says so.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { alertChangePayload, type AlertChangePayload } from '../../worker/jobs/requestKinds.ts';
import { newId } from '../../worker/runtime/ids.ts';
import { findAlert, listAlerts, type AlertRecord } from '../../worker/store/alerts.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { findRequestByKey } from '../../worker/store/requests.ts';
import type { CustomerKey, CustomerPath, CustomerResolver } from '../customerResolver.ts';
import { ApiError } from '../errors.ts';
import { submittedKey } from '../intake/idempotency.ts';
import { sendAnswer } from '../intake/sendAnswer.ts';
import { respondsAsync, submit, type IntakeDeps } from '../intake/submit.ts';
import {
  alertCreateRequest,
  alertsQuery,
  alertToggleQuery,
  alertUpdateRequest,
  type AlertCreateRequest,
  type AlertsQuery,
  type AlertToggleQuery,
  type AlertUpdateRequest,
} from '../schemas/alertRequest.ts';
import { decodeKeyset, paginationMetadata, timeRange } from '../schemas/listQueries.ts';
import { alertSchema, alertsSchema, toWireAlert } from '../wire/alert.ts';
import { ledgerRequestSchema, toWireLedgerRequest } from '../wire/ledgerRequest.ts';

// Credit-balance alerts watch the credit ledger: listed with it in /docs.
const TAGS = ['Credits'];

const CUSTOMER_ALERTS_ONLY =
  'Only customer credit-balance alerts (credit_balance_depleted, credit_balance_dropped, credit_balance_recovered) are served here; this service has no subscriptions, so subscription alerts (usage_exceeded, cost_exceeded, spend_exceeded) cannot be created or listed.';

interface Deps {
  orm: Orm;
  customers: CustomerResolver;
  intake: IntakeDeps;
}

const alertNotFound = (alertId: string) =>
  ApiError.notFound(`Alert with id ${alertId} does not exist.`);

async function alertOr404(deps: Deps, alertId: string): Promise<AlertRecord> {
  const alert = await findAlert(deps.orm.em.fork(), alertId);
  if (!alert) throw alertNotFound(alertId);
  return alert;
}

/** Submits one alert change for the customer and answers it (`committedStatus` on success). */
async function change(
  deps: Deps,
  request: FastifyRequest,
  reply: FastifyReply,
  customer: CustomerKey,
  payload: AlertChangePayload,
  canonicalPath: string,
  committedStatus: 200 | 201 | 204,
): Promise<FastifyReply> {
  const answer = await submit(deps.intake, {
    kind: 'alert_change',
    customer,
    payload,
    currency: null,
    idempotency: submittedKey(request, canonicalPath),
    respondAsync: respondsAsync(request.headers.prefer),
    httpRequestId: request.id,
  });
  return sendAnswer(reply, answer, {
    accepted: (accepted) => ({
      location: `/v1/ledger_requests/${accepted.id}`,
      body: toWireLedgerRequest({ ...accepted, status: 'queued' }, [], null),
    }),
    committed: async (outcome) =>
      committedStatus === 204
        ? { status: 204, body: undefined }
        : { status: committedStatus, body: toWireAlert(await alertOr404(deps, outcome.alertId)) },
  });
}

/**
 * The customer an alert belongs to, for a change routed by the alert's id. A retry of a keyed
 * change finds it through its key when the alert is gone (a delete that was applied), so that the
 * retry replays the first answer instead of a 404.
 */
async function ownerOf(deps: Deps, request: FastifyRequest, alertId: string): Promise<CustomerKey> {
  const em = deps.orm.em.fork();
  const alert = await findAlert(em, alertId);
  if (alert) return deps.customers.resolve({ customerId: alert.customerId });
  const key = request.headers['idempotency-key'];
  const stored = typeof key === 'string' ? (await findRequestByKey(em, key))?.request : undefined;
  const payload =
    stored?.kind === 'alert_change' ? alertChangePayload.safeParse(stored.payload) : undefined;
  if (stored && payload?.success && payload.data.alert_id === alertId)
    return deps.customers.resolve({ customerId: stored.customerId });
  throw alertNotFound(alertId);
}

function refuseSubscription(subscriptionId: string | undefined): void {
  if (subscriptionId !== undefined) throw ApiError.validation(CUSTOMER_ALERTS_ONLY);
}

/**
 * Orb names the id `alert_id` on fetch and `alert_configuration_id` elsewhere; one router node
 * takes one name, so every route here uses the second.
 */
const alertConfigurationIdParams = z.object({ alert_configuration_id: z.string() });
const writeResponses = (status: 200 | 201) => ({ [status]: alertSchema, 202: ledgerRequestSchema });

export function registerAlertRoutes(app: FastifyInstance, deps: Deps): void {
  const create = async (path: CustomerPath, request: FastifyRequest, reply: FastifyReply) => {
    const customer = await deps.customers.resolve(path);
    const body = request.body as AlertCreateRequest;
    return change(
      deps,
      request,
      reply,
      customer,
      {
        action: 'create',
        alert_id: newId(),
        currency: body.currency,
        type: body.type,
        thresholds: body.thresholds,
      },
      // Keyed on the Orb id, so that both path forms of one request are the same request.
      `/v1/alerts/customer_id/${customer.id}`,
      201,
    );
  };
  const createSchema = {
    tags: TAGS,
    body: alertCreateRequest,
    response: writeResponses(201),
  };
  app.post(
    '/v1/alerts/customer_id/:customer_id',
    {
      schema: {
        ...createSchema,
        summary: 'Create a customer credit-balance alert',
        params: z.object({ customer_id: z.string() }),
      },
    },
    async (request, reply) =>
      create(
        { customerId: (request.params as { customer_id: string }).customer_id },
        request,
        reply,
      ),
  );
  app.post(
    '/v1/alerts/external_customer_id/:external_customer_id',
    {
      schema: {
        ...createSchema,
        summary: 'Create a credit-balance alert by external customer id',
        params: z.object({ external_customer_id: z.string() }),
      },
    },
    async (request, reply) =>
      create(
        {
          externalCustomerId: (request.params as { external_customer_id: string })
            .external_customer_id,
        },
        request,
        reply,
      ),
  );
  app.post(
    '/v1/alerts/subscription_id/:subscription_id',
    {
      schema: {
        summary: 'Create a subscription alert (not served: always 400)',
        description: `${CUSTOMER_ALERTS_ONLY} Orb's answer would be the Alert created; this service always answers 400.`,
        tags: TAGS,
        params: z.object({ subscription_id: z.string() }),
        response: { 201: alertSchema },
      },
    },
    async () => {
      throw ApiError.validation(CUSTOMER_ALERTS_ONLY);
    },
  );

  app.get(
    '/v1/alerts',
    {
      schema: {
        summary: 'List alerts',
        description:
          'Newest first. Filter by customer_id or external_customer_id (without either, every customer’s alerts) and created_at.',
        tags: TAGS,
        querystring: alertsQuery,
        response: { 200: alertsSchema },
      },
    },
    async (request) => {
      const query = request.query as AlertsQuery;
      refuseSubscription(query.subscription_id);
      const customerId = await filterCustomer(deps, query);
      const rows = await listAlerts(
        deps.orm.em.fork(),
        { customerId, createdAt: timeRange(query, 'created_at') },
        query.limit,
        decodeKeyset(query.cursor),
      );
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      const next =
        rows.length > query.limit && last ? `${last.createdAt.toISOString()}|${last.id}` : null;
      return { data: page.map(toWireAlert), pagination_metadata: paginationMetadata(next) };
    },
  );

  app.get(
    '/v1/alerts/:alert_configuration_id',
    {
      schema: {
        summary: 'Fetch an alert',
        tags: TAGS,
        params: alertConfigurationIdParams,
        response: { 200: alertSchema },
      },
    },
    async (request) => {
      const { alert_configuration_id: alertId } = request.params as {
        alert_configuration_id: string;
      };
      return toWireAlert(await alertOr404(deps, alertId));
    },
  );

  app.put(
    '/v1/alerts/:alert_configuration_id',
    {
      schema: {
        summary: 'Update an alert’s thresholds',
        description:
          'Each threshold’s state is set from the balance now: one already reached is in alert, and nothing fires for it.',
        tags: TAGS,
        params: alertConfigurationIdParams,
        body: alertUpdateRequest,
        response: writeResponses(200),
      },
    },
    async (request, reply) => {
      const { alert_configuration_id: alertId } = request.params as {
        alert_configuration_id: string;
      };
      const body = request.body as AlertUpdateRequest;
      return change(
        deps,
        request,
        reply,
        await ownerOf(deps, request, alertId),
        { action: 'update_thresholds', alert_id: alertId, thresholds: body.thresholds },
        `/v1/alerts/${alertId}`,
        200,
      );
    },
  );

  for (const action of ['enable', 'disable'] as const) {
    app.post(
      `/v1/alerts/:alert_configuration_id/${action}`,
      {
        schema: {
          summary: action === 'enable' ? 'Enable an alert' : 'Disable an alert',
          description:
            action === 'enable'
              ? 'It fires again on the next crossing; its state was kept up to date while disabled.'
              : 'It keeps its state but fires nothing.',
          tags: TAGS,
          params: alertConfigurationIdParams,
          querystring: alertToggleQuery,
          response: writeResponses(200),
        },
      },
      async (request, reply) => {
        const { alert_configuration_id: alertId } = request.params as {
          alert_configuration_id: string;
        };
        refuseSubscription((request.query as AlertToggleQuery).subscription_id);
        return change(
          deps,
          request,
          reply,
          await ownerOf(deps, request, alertId),
          { action, alert_id: alertId },
          `/v1/alerts/${alertId}/${action}`,
          200,
        );
      },
    );
  }

  app.delete(
    '/v1/alerts/:alert_configuration_id',
    {
      schema: {
        summary: 'Delete an alert',
        tags: TAGS,
        params: alertConfigurationIdParams,
        response: {
          204: z.null().meta({ description: 'Deleted; nothing is returned.' }),
          202: ledgerRequestSchema,
        },
      },
    },
    async (request, reply) => {
      const { alert_configuration_id: alertId } = request.params as {
        alert_configuration_id: string;
      };
      return change(
        deps,
        request,
        reply,
        await ownerOf(deps, request, alertId),
        { action: 'delete', alert_id: alertId },
        `/v1/alerts/${alertId}`,
        204,
      );
    },
  );
}

/** The customer the list is filtered to: by Orb id, by external id (both must agree), or none. */
async function filterCustomer(deps: Deps, query: AlertsQuery): Promise<string | undefined> {
  const byId =
    query.customer_id === undefined
      ? undefined
      : await deps.customers.resolve({ customerId: query.customer_id });
  const byExternal =
    query.external_customer_id === undefined
      ? undefined
      : await deps.customers.resolve({ externalCustomerId: query.external_customer_id });
  if (byId && byExternal && byId.id !== byExternal.id)
    throw ApiError.validation(
      `customer_id ${byId.id} and external_customer_id ${query.external_customer_id} name different customers; give one of them.`,
    );
  return (byId ?? byExternal)?.id;
}
