/**
 * `GET /v1/customers/{id}/credits` (both id forms): the customer's credit blocks in one currency
 * (default `credits`); those still holding credit unless `include_all_blocks=true`. One SQL
 * statement resolves the customer and reads the page (worker/store/creditReads.ts); a customer
 * that does not exist is a 404 from that same statement.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../worker/runtime/clock.ts';
import { DEFAULT_CURRENCY } from '../../worker/jobs/ledgerRequestPayload.ts';
import { readCreditBlockPage, type CreditBlockReadRow } from '../../worker/store/creditReads.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { customerNotFound } from '../customerResolver.ts';
import {
  creditsQuery,
  decodeKeyset,
  paginationMetadata,
  timeRange,
  type CreditsQuery,
} from '../schemas/listQueries.ts';
import { creditBlockFromRow, customerCreditBalancesSchema } from '../wire/creditBlock.ts';
import { routeBothCustomerForms } from './customerPaths.ts';

export function registerCreditRoutes(app: FastifyInstance, deps: { orm: Orm; clock: Clock }): void {
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
      const page = await readCreditBlockPage(deps.orm.em, path, {
        limit: query.limit,
        after: decodeKeyset(query.cursor),
        currency: query.currency ?? DEFAULT_CURRENCY,
        includeAll: query.include_all_blocks,
        now: deps.clock.now(),
        effectiveDate: timeRange(query, 'effective_date'),
      });
      if (!page.customer) throw customerNotFound(path);
      const rows = page.rows.slice(0, query.limit);
      return {
        data: rows.map(creditBlockFromRow),
        pagination_metadata: paginationMetadata(
          page.rows.length > query.limit ? keysetOf(rows.at(-1)!) : null,
        ),
      };
    },
  );
}

/** The `created_at|id` cursor after a block. */
function keysetOf(row: CreditBlockReadRow): string {
  return `${new Date(row.created_at).toISOString()}|${row.id}`;
}
