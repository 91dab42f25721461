/**
 * The webhook events feed, `GET /v1/webhook_events`: every event in commit order, so a receiver
 * can catch up on what it missed, filtered by customer (either id form) and type. The bodies are
 * the stored bytes, the same every delivery sent. A page reads only events whose transaction is
 * older than every one still running (worker/store/webhookEvents.ts), so following `next_cursor`
 * never skips an event that commits late.
 */
import type { FastifyInstance } from 'fastify';
import type { Orm } from '../../worker/store/orm.ts';
import { findCustomer } from '../../worker/store/readQueries.ts';
import { readWebhookEventPage } from '../../worker/store/webhookEvents.ts';
import { ApiError } from '../errors.ts';
import { decodeCursor, paginationMetadata } from '../schemas/listQueries.ts';
import { webhookEventsQuery } from '../schemas/webhookEndpointRequest.ts';
import { webhookEventsSchema } from '../wire/webhookEvent.ts';

const CURSOR = /^(\d{1,20}):(\d{1,19})$/;
const XID8_MAX = 2n ** 64n - 1n;
const BIGINT_MAX = 2n ** 63n - 1n;

export function registerWebhookEventRoutes(app: FastifyInstance, deps: { orm: Orm }): void {
  app.get(
    '/v1/webhook_events',
    {
      schema: {
        summary: 'List webhook events in commit order',
        tags: ['Webhooks'],
        querystring: webhookEventsQuery,
        response: { 200: webhookEventsSchema },
      },
    },
    async (request, reply) => {
      const query = request.query as {
        limit: number;
        cursor?: string;
        customer_id?: string;
        external_customer_id?: string;
        type?: string;
      };
      const em = deps.orm.em.fork();
      let customerId = query.customer_id;
      if (query.external_customer_id !== undefined) {
        const customer = await findCustomer(em, { externalCustomerId: query.external_customer_id });
        if (!customer)
          throw ApiError.notFound(
            `Customer with external_customer_id ${query.external_customer_id} does not exist.`,
          );
        if (customerId !== undefined && customerId !== customer.id)
          throw ApiError.validation(
            'customer_id and external_customer_id name different customers',
          );
        customerId = customer.id;
      }
      let after: { txid: string; seq: string } | undefined;
      if (query.cursor !== undefined) {
        const match = CURSOR.exec(decodeCursor(query.cursor));
        // No page gave out a seq past bigint (Postgres refuses the cast: it was a 500) or a txid
        // past xid8 (Postgres reads it as the largest one).
        if (!match || BigInt(match[1]!) > XID8_MAX || BigInt(match[2]!) > BIGINT_MAX)
          throw ApiError.validation('cursor is not one this service gave out.');
        after = { txid: match[1]!, seq: match[2]! };
      }
      const rows = await readWebhookEventPage(em, {
        limit: query.limit,
        after,
        customerId,
        type: query.type,
      });
      const data = rows.slice(0, query.limit);
      const last = data.at(-1);
      const next = rows.length > query.limit && last ? `${last.txid}:${last.seq}` : null;
      // The stored bodies are JSON already: the page is assembled around them, byte for byte.
      const page = `{"data":[${data.map((row) => row.body).join(',')}],"pagination_metadata":${JSON.stringify(paginationMetadata(next))}}`;
      return reply.type('application/json; charset=utf-8').send(page);
    },
  );
}
