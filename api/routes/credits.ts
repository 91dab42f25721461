/**
 * `GET /v1/customers/{id}/credits` (both id forms): the customer's credit blocks in one currency
 * (default `credits`); those still holding credit unless `include_all_blocks=true`. One SQL
 * statement resolves the customer and reads the page (worker/store/creditReads.ts); a customer
 * that does not exist is a 404 from that same statement.
 *
 * First pages (no cursor, no date filter) asked for in the same turn of the event loop with the
 * same currency, limit and `include_all_blocks` share that statement (api/sameTurnBatches.ts):
 * under load, most of a read's cost is per statement. Each answer is the one it would get alone.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../worker/runtime/clock.ts';
import { DEFAULT_CURRENCY } from '../../worker/jobs/ledgerRequestPayload.ts';
import {
  readCreditBlockPage,
  readCreditBlockPages,
  type CreditBlockPage,
  type CreditBlockReadRow,
  type CustomerForm,
} from '../../worker/store/creditReads.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { customerNotFound, type CustomerPath } from '../customerResolver.ts';
import { SameTurnBatches } from '../sameTurnBatches.ts';
import {
  creditsQuery,
  decodeKeyset,
  paginationMetadata,
  timeRange,
  type CreditsQuery,
} from '../schemas/listQueries.ts';
import { creditBlockFromRow, customerCreditBalancesSchema } from '../wire/creditBlock.ts';
import { routeBothCustomerForms } from './customerPaths.ts';

/** Customers per shared statement: a page is at most 101 rows, so a batch stays a few MB. */
const BATCH_CUSTOMERS_MAX = 64;

interface FirstPage {
  form: CustomerForm;
  currency: string;
  limit: number;
  includeAll: boolean;
}

export function registerCreditRoutes(app: FastifyInstance, deps: { orm: Orm; clock: Clock }): void {
  const firstPages = new SameTurnBatches<{ page: FirstPage; key: string }, CreditBlockPage>(
    (_, items) => {
      const { page } = items[0]!;
      return readCreditBlockPages(
        deps.orm.em,
        page.form,
        items.map((item) => item.key),
        {
          limit: page.limit,
          currency: page.currency,
          includeAll: page.includeAll,
          now: deps.clock.now(),
          effectiveDate: {},
        },
      );
    },
    BATCH_CUSTOMERS_MAX,
  );

  function readPage(path: CustomerPath, query: CreditsQuery): Promise<CreditBlockPage> {
    const currency = query.currency ?? DEFAULT_CURRENCY;
    const effectiveDate = timeRange(query, 'effective_date');
    if (
      query.cursor === undefined &&
      Object.values(effectiveDate).every((bound) => bound === undefined)
    ) {
      const page: FirstPage = {
        form: 'customerId' in path ? 'customerId' : 'externalCustomerId',
        currency,
        limit: query.limit,
        includeAll: query.include_all_blocks,
      };
      return firstPages.submit(`${page.form}|${page.limit}|${page.includeAll}|${currency}`, {
        page,
        key: 'customerId' in path ? path.customerId : path.externalCustomerId,
      });
    }
    return readCreditBlockPage(deps.orm.em, path, {
      limit: query.limit,
      after: decodeKeyset(query.cursor),
      currency,
      includeAll: query.include_all_blocks,
      now: deps.clock.now(),
      effectiveDate,
    });
  }

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
      const page = await readPage(path, query);
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
