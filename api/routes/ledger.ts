/**
 * `GET /v1/customers/{id}/credits/ledger` (both id forms): entries newest first, cursor
 * pagination, and Orb's filters (LEDGER_RULES.md §6). Reads never enqueue.
 */
import type { FastifyInstance } from 'fastify';
import type { Orm } from '../../worker/store/orm.ts';
import { listLedgerEntries } from '../../worker/store/readQueries.ts';
import type { CustomerResolver } from '../customerResolver.ts';
import {
  decodeSeq,
  ledgerQuery,
  paginationMetadata,
  timeRange,
  type LedgerQuery,
} from '../schemas/listQueries.ts';
import { ledgerEntriesSchema, toWireLedgerEntry } from '../wire/ledgerEntry.ts';
import { routeBothCustomerForms } from './customerPaths.ts';

export function registerLedgerRoutes(
  app: FastifyInstance,
  deps: { orm: Orm; customers: CustomerResolver },
): void {
  routeBothCustomerForms(
    app,
    'GET',
    '/credits/ledger',
    {
      summary: 'List ledger entries',
      tags: ['Credits'],
      querystring: ledgerQuery,
      response: { 200: ledgerEntriesSchema },
    },
    async (path, request) => {
      const query = request.query as LedgerQuery;
      const customer = await deps.customers.resolve(path);
      const page = await listLedgerEntries(deps.orm.em.fork(), customer, {
        limit: query.limit,
        afterSeq: decodeSeq(query.cursor),
        currency: query.currency,
        entryType: query.entry_type,
        entryStatus: query.entry_status,
        minimumAmount: query.minimum_amount,
        createdAt: timeRange(query, 'created_at'),
      });
      return {
        data: page.data.map(toWireLedgerEntry),
        pagination_metadata: paginationMetadata(page.next),
      };
    },
  );
}
