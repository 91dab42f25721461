/**
 * Usage prices, the service's own resource (ARCHITECTURE.md; LEDGER_RULES.md §5): create, list
 * newest first, get, archive. An event name maps to at most one live price; a second live price
 * for it is refused with 400 duplicate_resource_creation naming the live one (the partial unique
 * index `usage_prices_event_name_live_uq` decides races). Archiving is idempotent and keeps the
 * first `archived_at`. An `Idempotency-Key` on create replays the first answer.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../worker/runtime/clock.ts';
import { newId } from '../../worker/runtime/ids.ts';
import { UsagePrice, type UsagePriceRow } from '../../worker/store/entities.ts';
import type { Orm } from '../../worker/store/orm.ts';
import {
  archiveUsagePrice,
  findLiveUsagePrice,
  findUsagePrice,
  listUsagePrices,
} from '../../worker/store/usagePriceQueries.ts';
import { toWireUsagePrice, usagePriceSchema, usagePricesSchema } from '../wire/usagePrice.ts';
import { ApiError } from '../errors.ts';
import { recordCreate, replayCreate, sendCreated } from '../intake/idempotency.ts';
import { decodeKeyset, paginationMetadata } from '../schemas/listQueries.ts';
import {
  usagePriceRequest,
  usagePricesQuery,
  type UsagePriceRequest,
  type UsagePricesQuery,
} from '../schemas/usagePriceRequest.ts';

const PATH = '/v1/usage_prices';
const LIVE_PRICE_INDEX = 'usage_prices_event_name_live_uq';

interface Deps {
  orm: Orm;
  clock: Clock;
}

function newUsagePrice(body: UsagePriceRequest, now: Date): UsagePriceRow {
  return {
    id: newId(),
    name: body.name,
    eventName: body.event_name,
    itemId: body.item_id,
    unitAmount: body.unit_amount,
    quantityProperty: body.quantity_property,
    currency: body.currency,
    archivedAt: null,
    createdAt: now,
  };
}

async function duplicateError(deps: Deps, eventName: string): Promise<ApiError> {
  const live = await findLiveUsagePrice(deps.orm.em.fork(), eventName);
  const which = live ? ` (${live.id})` : '';
  return new ApiError(
    'duplicate_resource_creation',
    `A live usage price${which} already exists for event_name ${eventName}; archive it before creating another.`,
  );
}

function registerCreate(app: FastifyInstance, deps: Deps): void {
  app.post(
    PATH,
    {
      schema: {
        summary: 'Create a usage price',
        tags: ['Usage prices'],
        body: usagePriceRequest,
        response: { 201: usagePriceSchema },
      },
    },
    async (request, reply) => {
      const body = request.body as UsagePriceRequest;
      const em = deps.orm.em.fork();
      const idempotency = await replayCreate(em, request, reply, PATH);
      if ('replayed' in idempotency) return idempotency.replayed;
      if (await findLiveUsagePrice(em, body.event_name)) {
        // A concurrent request with the same key may have just made it: that is a replay, not a duplicate.
        const again = await replayCreate(em, request, reply, PATH);
        if ('replayed' in again) return again.replayed;
        throw await duplicateError(deps, body.event_name);
      }
      const now = deps.clock.now();
      const price = newUsagePrice(body, now);
      const created = JSON.stringify(toWireUsagePrice(price));
      // A concurrent create for the same event name loses on the live-price index.
      await recordCreate(
        em,
        idempotency.fresh,
        {
          id: newId(),
          kind: 'usage_price_create',
          customerId: null,
          payload: body,
          result: { usage_price_id: price.id },
        },
        created,
        now,
        (tx) => tx.insert(UsagePrice, price).then(() => undefined),
        (violation) =>
          `${violation.constraint} ${violation.message}`.includes(LIVE_PRICE_INDEX)
            ? duplicateError(deps, body.event_name)
            : undefined,
      );
      return sendCreated(reply, created);
    },
  );
}

export function registerUsagePriceRoutes(app: FastifyInstance, deps: Deps): void {
  registerCreate(app, deps);

  app.get(
    PATH,
    {
      schema: {
        summary: 'List usage prices',
        tags: ['Usage prices'],
        querystring: usagePricesQuery,
        response: { 200: usagePricesSchema },
      },
    },
    async (request) => {
      const query = request.query as UsagePricesQuery;
      const page = await listUsagePrices(deps.orm.em.fork(), {
        limit: query.limit,
        after: decodeKeyset(query.cursor),
        includeArchived: query.include_archived,
        eventName: query.event_name,
      });
      return {
        data: page.data.map((row) => toWireUsagePrice(row)),
        pagination_metadata: paginationMetadata(page.next),
      };
    },
  );

  app.get(
    `${PATH}/:price_id`,
    {
      schema: {
        summary: 'Fetch a usage price',
        tags: ['Usage prices'],
        response: { 200: usagePriceSchema },
      },
    },
    async (request) => {
      const { price_id: priceId } = request.params as { price_id: string };
      const row = await findUsagePrice(deps.orm.em.fork(), priceId);
      if (!row) throw ApiError.notFound(`Usage price with id ${priceId} does not exist.`);
      return toWireUsagePrice(row);
    },
  );

  app.post(
    `${PATH}/:price_id/archive`,
    {
      schema: {
        summary: 'Archive a usage price',
        tags: ['Usage prices'],
        response: { 200: usagePriceSchema },
      },
    },
    async (request) => {
      const { price_id: priceId } = request.params as { price_id: string };
      const row = await archiveUsagePrice(deps.orm.em.fork(), priceId, deps.clock.now());
      if (!row) throw ApiError.notFound(`Usage price with id ${priceId} does not exist.`);
      return toWireUsagePrice(row);
    },
  );
}
