/**
 * Orb serves every customer resource under two paths: by Orb id and by external id. This registers
 * a handler under both, giving it the parsed `CustomerPath`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { CustomerPath } from '../customerResolver.ts';

type Handler = (
  customer: CustomerPath,
  request: FastifyRequest,
  reply: FastifyReply,
) => Promise<unknown>;

export function routeBothCustomerForms(
  app: FastifyInstance,
  method: HTTPMethods,
  suffix: string,
  schema: Record<string, unknown>,
  handler: Handler,
): void {
  app.route({
    method,
    url: `/v1/customers/:customer_id${suffix}`,
    schema,
    handler: (request, reply) =>
      handler(
        { customerId: (request.params as { customer_id: string }).customer_id },
        request,
        reply,
      ),
  });
  app.route({
    method,
    url: `/v1/customers/external_customer_id/:external_customer_id${suffix}`,
    schema,
    handler: (request, reply) =>
      handler(
        {
          externalCustomerId: (request.params as { external_customer_id: string })
            .external_customer_id,
        },
        request,
        reply,
      ),
  });
}
