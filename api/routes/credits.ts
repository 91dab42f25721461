/**
 * `GET /v1/customers/{id}/credits` (both id forms): the customer's credit blocks in one currency
 * (default `credits`); those still holding credit unless `include_all_blocks=true`.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../worker/clock.ts';
import { DEFAULT_CURRENCY } from '../../worker/ledgerRequestPayload.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { listCreditBlocks } from '../../worker/store/readQueries.ts';
import type { CustomerResolver } from '../customerResolver.ts';
import {
  creditsQuery,
  decodeKeyset,
  paginationMetadata,
  timeRange,
  type CreditsQuery,
} from '../schemas/listQueries.ts';
import { customerCreditBalancesSchema, toWireCreditBlock } from '../wire/creditBlock.ts';
import { routeBothCustomerForms } from './customerPaths.ts';

export function registerCreditRoutes(
  app: FastifyInstance,
  deps: { orm: Orm; customers: CustomerResolver; clock: Clock },
): void {
  routeBothCustomerForms(
    app,
    'GET',
    '/credits',
    {
      summary: 'List credit blocks (the balance)',
      tags: ['Credits'],
      querystring: creditsQuery,
      response: { 200: customerCreditBalancesSchema },
    },
    async (path, request) => {
      const query = request.query as CreditsQuery;
      const customer = await deps.customers.resolve(path);
      const page = await listCreditBlocks(deps.orm.em.fork(), customer.id, {
        limit: query.limit,
        after: decodeKeyset(query.cursor),
        currency: query.currency ?? DEFAULT_CURRENCY,
        includeAll: query.include_all_blocks,
        now: deps.clock.now(),
        effectiveDate: timeRange(query, 'effective_date'),
      });
      return {
        data: page.data.map(toWireCreditBlock),
        pagination_metadata: paginationMetadata(page.next),
      };
    },
  );
}
