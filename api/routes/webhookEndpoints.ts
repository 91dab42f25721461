/**
 * Webhook endpoints, the service's own resource (ARCHITECTURE.md `/v1/webhook_endpoints…`):
 * create (the signing secret is generated and shown once, in the answer), list, fetch, update,
 * delete, rotate the secret (the previous one keeps signing for an overlap, 24 h unless the
 * request says otherwise, so receivers can switch without losing a delivery), send a test event
 * (`resource_event.test`, through the outbox, to this endpoint only), the delivery log, and
 * redelivering one delivery or every failed one.
 *
 * An endpoint whose URL resolves to a private or loopback address is refused unless
 * WEBHOOK_ALLOW_PRIVATE_NETWORKS=true; the delivery loop checks again on every attempt, on the
 * address it connects to (worker/delivery/postWebhook.ts), so a later DNS change cannot slip by.
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { OutboxWriter } from '../../worker/jobs/webhookEvents.ts';
import type { Clock } from '../../worker/runtime/clock.ts';
import { newId } from '../../worker/runtime/ids.ts';
import { isPrivateAddress } from '../../worker/runtime/privateAddress.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { findDelivery, listDeliveries, redeliver } from '../../worker/store/webhookDeliveries.ts';
import {
  deleteWebhookEndpoint,
  findWebhookEndpoint,
  insertWebhookEndpoint,
  listWebhookEndpoints,
  SigningSecret,
  updateWebhookEndpoint,
  type EndpointSecret,
  type WebhookEndpointRecord,
} from '../../worker/store/webhookEndpoints.ts';
import { ApiError } from '../errors.ts';
import { recordCreate, replayCreate, sendCreated } from '../intake/idempotency.ts';
import { decodeCursor, decodeKeyset, paginationMetadata } from '../schemas/listQueries.ts';
import {
  OVERLAP_SECONDS_DEFAULT,
  rotateSecretRequest,
  webhookDeliveriesQuery,
  webhookEndpointCreate,
  webhookEndpointsQuery,
  webhookEndpointUpdate,
  type WebhookEndpointCreate,
  type WebhookEndpointUpdate,
} from '../schemas/webhookEndpointRequest.ts';
import {
  redeliveredSchema,
  toWireWebhookDelivery,
  toWireWebhookEndpoint,
  webhookDeliveriesSchema,
  webhookDeliverySchema,
  webhookEndpointSchema,
  webhookEndpointsSchema,
  webhookEndpointWithSecretSchema,
} from '../wire/webhookEndpoint.ts';
import { webhookEventSchema } from '../wire/webhookEvent.ts';

const PATH = '/v1/webhook_endpoints';
const TAGS = ['Webhooks'];
const TEST_MESSAGE = 'A test webhook. Happy testing!';
const BIGINT_MAX = 2n ** 63n - 1n;

export interface WebhookEndpointDeps {
  orm: Orm;
  clock: Clock;
  outbox: OutboxWriter;
  allowPrivateNetworks: boolean;
}

function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** Refuses a URL that resolves to a private or loopback address (unless allowed). */
async function checkReachable(url: string, deps: WebhookEndpointDeps): Promise<void> {
  if (deps.allowPrivateNetworks) return;
  const hostname = new URL(url).hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(hostname)
      ? [hostname]
      : (await lookup(hostname, { all: true })).map((one) => one.address);
  } catch {
    throw ApiError.validation(`url: ${hostname} does not resolve`);
  }
  const blocked = addresses.find(isPrivateAddress);
  if (blocked !== undefined)
    throw ApiError.validation(
      `url: ${hostname} resolves to ${blocked}, a private or loopback address; set WEBHOOK_ALLOW_PRIVATE_NETWORKS=true to allow it`,
    );
}

async function endpointOr404(deps: WebhookEndpointDeps, id: string) {
  const endpoint = await findWebhookEndpoint(deps.orm.em.fork(), id);
  if (!endpoint) throw ApiError.notFound(`Webhook endpoint with id ${id} does not exist.`);
  return endpoint;
}

function withSecret(endpoint: WebhookEndpointRecord, secret: string) {
  return { ...toWireWebhookEndpoint(endpoint), secret };
}

function registerCrud(app: FastifyInstance, deps: WebhookEndpointDeps): void {
  app.post(
    PATH,
    {
      schema: {
        summary: 'Create a webhook endpoint',
        tags: TAGS,
        body: webhookEndpointCreate,
        response: { 201: webhookEndpointWithSecretSchema },
      },
    },
    async (request, reply) => {
      const body = request.body as WebhookEndpointCreate;
      const em = deps.orm.em.fork();
      // A keyed retry answers the first answer, secret included (the caller made it and lost it).
      const idempotency = await replayCreate(em, request, reply, PATH);
      if ('replayed' in idempotency) return idempotency.replayed;
      await checkReachable(body.url, deps);
      const now = deps.clock.now();
      const secret = newSecret();
      const endpoint: WebhookEndpointRecord = {
        id: newId(),
        url: body.url,
        description: body.description ?? null,
        eventTypes: body.event_types ?? null,
        enabled: body.enabled ?? true,
        trusted: false,
        secrets: [{ secret: new SigningSecret(secret), createdAt: now, expiresAt: null }],
        createdAt: now,
        updatedAt: now,
      };
      const created = JSON.stringify(withSecret(endpoint, secret));
      await recordCreate(
        em,
        idempotency.fresh,
        {
          id: newId(),
          kind: 'webhook_endpoint_create',
          customerId: null,
          // The request as given: the secret is the endpoint's, never a request's.
          payload: body,
          result: { webhook_endpoint_id: endpoint.id },
        },
        created,
        now,
        (tx) => insertWebhookEndpoint(tx, endpoint),
        () => undefined,
      );
      return sendCreated(reply, created);
    },
  );

  app.get(
    PATH,
    {
      schema: {
        summary: 'List webhook endpoints',
        tags: TAGS,
        querystring: webhookEndpointsQuery,
        response: { 200: webhookEndpointsSchema },
      },
    },
    async (request) => {
      const query = request.query as { limit: number; cursor?: string };
      const rows = await listWebhookEndpoints(
        deps.orm.em.fork(),
        query.limit,
        decodeKeyset(query.cursor),
      );
      const data = rows.slice(0, query.limit);
      const last = data.at(-1);
      const next =
        rows.length > query.limit && last ? `${last.createdAt.toISOString()}|${last.id}` : null;
      return {
        data: data.map(toWireWebhookEndpoint),
        pagination_metadata: paginationMetadata(next),
      };
    },
  );

  app.get(
    `${PATH}/:endpoint_id`,
    {
      schema: {
        summary: 'Fetch a webhook endpoint',
        tags: TAGS,
        response: { 200: webhookEndpointSchema },
      },
    },
    async (request) => {
      const { endpoint_id: id } = request.params as { endpoint_id: string };
      return toWireWebhookEndpoint(await endpointOr404(deps, id));
    },
  );

  app.put(
    `${PATH}/:endpoint_id`,
    {
      schema: {
        summary: 'Update a webhook endpoint',
        tags: TAGS,
        body: webhookEndpointUpdate,
        response: { 200: webhookEndpointSchema },
      },
    },
    async (request) => {
      const { endpoint_id: id } = request.params as { endpoint_id: string };
      const body = request.body as WebhookEndpointUpdate;
      const current = await endpointOr404(deps, id);
      if (body.url !== undefined && !current.trusted) await checkReachable(body.url, deps);
      const updated = await updateWebhookEndpoint(
        deps.orm.em.fork(),
        id,
        {
          url: body.url,
          description: body.description,
          eventTypes: body.event_types,
          enabled: body.enabled,
        },
        deps.clock.now(),
      );
      if (!updated) throw ApiError.notFound(`Webhook endpoint with id ${id} does not exist.`);
      return toWireWebhookEndpoint(updated);
    },
  );

  app.delete(
    `${PATH}/:endpoint_id`,
    {
      schema: {
        summary: 'Delete a webhook endpoint and its delivery log',
        tags: TAGS,
        response: { 204: z.null().meta({ description: 'Deleted; nothing is returned.' }) },
      },
    },
    async (request, reply) => {
      const { endpoint_id: id } = request.params as { endpoint_id: string };
      if (!(await deleteWebhookEndpoint(deps.orm.em.fork(), id)))
        throw ApiError.notFound(`Webhook endpoint with id ${id} does not exist.`);
      return reply.code(204).send();
    },
  );
}

function registerActions(app: FastifyInstance, deps: WebhookEndpointDeps): void {
  app.post(
    `${PATH}/:endpoint_id/rotate_secret`,
    {
      schema: {
        summary: 'Rotate the signing secret (the previous one keeps signing for an overlap)',
        tags: TAGS,
        body: rotateSecretRequest,
        response: { 200: webhookEndpointWithSecretSchema },
      },
    },
    async (request) => {
      const { endpoint_id: id } = request.params as { endpoint_id: string };
      const body = (request.body ?? {}) as { previous_secret_overlap_seconds?: number };
      const current = await endpointOr404(deps, id);
      const now = deps.clock.now();
      const overlapEnds = new Date(
        now.getTime() + (body.previous_secret_overlap_seconds ?? OVERLAP_SECONDS_DEFAULT) * 1000,
      );
      const secret = newSecret();
      // Secrets already past their overlap are dropped; the current one now ends with the overlap.
      const kept: EndpointSecret[] = current.secrets
        .filter((one) => one.expiresAt === null || one.expiresAt.getTime() > now.getTime())
        .map((one) => ({
          ...one,
          expiresAt:
            one.expiresAt === null || one.expiresAt.getTime() > overlapEnds.getTime()
              ? overlapEnds
              : one.expiresAt,
        }));
      const updated = await updateWebhookEndpoint(
        deps.orm.em.fork(),
        id,
        {
          secrets: [
            { secret: new SigningSecret(secret), createdAt: now, expiresAt: null },
            ...kept,
          ],
        },
        now,
      );
      if (!updated) throw ApiError.notFound(`Webhook endpoint with id ${id} does not exist.`);
      return withSecret(updated, secret);
    },
  );

  app.post(
    `${PATH}/:endpoint_id/test`,
    {
      schema: {
        summary: 'Send a test event (resource_event.test) to this endpoint',
        tags: TAGS,
        response: { 202: webhookEventSchema },
      },
    },
    async (request, reply) => {
      const { endpoint_id: id } = request.params as { endpoint_id: string };
      await endpointOr404(deps, id);
      const draft = {
        id: newId(),
        createdAt: deps.clock.now(),
        customerId: null,
        ledgerSequenceNumber: null,
        facts: { type: 'resource_event.test' as const, message: TEST_MESSAGE },
        targetEndpointId: id,
      };
      await deps.orm.em.fork().transactional((em) => deps.outbox.append(em, [draft]));
      return reply.code(202).send({
        id: draft.id,
        created_at: draft.createdAt.toISOString(),
        type: draft.facts.type,
        properties: { message: draft.facts.message },
      });
    },
  );
}

function registerDeliveries(app: FastifyInstance, deps: WebhookEndpointDeps): void {
  app.get(
    `${PATH}/:endpoint_id/deliveries`,
    {
      schema: {
        summary: "An endpoint's delivery log, newest first",
        tags: TAGS,
        querystring: webhookDeliveriesQuery,
        response: { 200: webhookDeliveriesSchema },
      },
    },
    async (request) => {
      const { endpoint_id: id } = request.params as { endpoint_id: string };
      const query = request.query as {
        limit: number;
        cursor?: string;
        status?: 'pending' | 'delivered' | 'failed';
      };
      await endpointOr404(deps, id);
      const beforeSeq = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      // Past bigint, Postgres would refuse the cast (a 500): no page gave such a cursor out.
      if (
        beforeSeq !== undefined &&
        !(/^\d{1,19}$/.test(beforeSeq) && BigInt(beforeSeq) <= BIGINT_MAX)
      )
        throw ApiError.validation('cursor is not one this service gave out.');
      const rows = await listDeliveries(deps.orm.em.fork(), id, {
        limit: query.limit,
        beforeSeq,
        status: query.status,
      });
      const data = rows.slice(0, query.limit);
      const next = rows.length > query.limit ? (data.at(-1)?.seq ?? null) : null;
      return {
        data: data.map(toWireWebhookDelivery),
        pagination_metadata: paginationMetadata(next),
      };
    },
  );

  app.post(
    `${PATH}/:endpoint_id/deliveries/:delivery_id/redeliver`,
    {
      schema: {
        summary: 'Send a delivery again (same event id and body)',
        tags: TAGS,
        response: { 200: webhookDeliverySchema },
      },
    },
    async (request) => {
      const { endpoint_id: id, delivery_id: deliveryId } = request.params as {
        endpoint_id: string;
        delivery_id: string;
      };
      const em = deps.orm.em.fork();
      await redeliver(em, id, { deliveryId });
      const delivery = await findDelivery(em, id, deliveryId);
      if (!delivery) throw ApiError.notFound(`Delivery with id ${deliveryId} does not exist.`);
      return toWireWebhookDelivery(delivery);
    },
  );

  app.post(
    `${PATH}/:endpoint_id/redeliver_failed`,
    {
      schema: {
        summary: 'Send every failed delivery of this endpoint again, in their order',
        tags: TAGS,
        response: { 200: redeliveredSchema },
      },
    },
    async (request) => {
      const { endpoint_id: id } = request.params as { endpoint_id: string };
      await endpointOr404(deps, id);
      return { redelivered: await redeliver(deps.orm.em.fork(), id, { status: 'failed' }) };
    },
  );
}

export function registerWebhookEndpointRoutes(
  app: FastifyInstance,
  deps: WebhookEndpointDeps,
): void {
  registerCrud(app, deps);
  registerActions(app, deps);
  registerDeliveries(app, deps);
}
