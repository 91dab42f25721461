/**
 * `GET /v1/customers/{id}/credits/ledger` (both id forms): entries newest first, cursor
 * pagination, and Orb's filters (LEDGER_RULES.md §6). One SQL statement resolves the customer and
 * reads the page with each entry's block and invoice (worker/store/ledgerReads.ts); a customer
 * that does not exist is a 404 from that same statement. Reads never enqueue.
 */
import type { FastifyInstance } from 'fastify';
import { readLedgerPage } from '../../worker/store/ledgerReads.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { customerNotFound } from '../customerResolver.ts';
import {
  decodeSeq,
  ledgerQuery,
  paginationMetadata,
  timeRange,
  type LedgerQuery,
} from '../schemas/listQueries.ts';
import { ledgerEntriesSchema, ledgerEntryFromRow } from '../wire/ledgerEntry.ts';
import { routeBothCustomerForms } from './customerPaths.ts';

export function registerLedgerRoutes(app: FastifyInstance, deps: { orm: Orm }): void {
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
      const page = await readLedgerPage(deps.orm.em, path, {
        limit: query.limit,
        afterSeq: decodeSeq(query.cursor),
        currency: query.currency,
        entryType: query.entry_type,
        entryStatus: query.entry_status,
        minimumAmount: query.minimum_amount,
        createdAt: timeRange(query, 'created_at'),
      });
      const customer = page.customer;
      if (!customer) throw customerNotFound(path);
      const rows = page.rows.slice(0, query.limit);
      return {
        data: rows.map((row) => ledgerEntryFromRow(row, customer)),
        pagination_metadata: paginationMetadata(
          page.rows.length > query.limit ? rows.at(-1)!.seq : null,
        ),
      };
    },
  );
}
