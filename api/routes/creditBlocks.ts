/** `GET /v1/credit_blocks/{id}` (Orb's CreditBlock): one block, whatever its balance. */
import type { FastifyInstance } from 'fastify';
import { CreditBlock } from '../../worker/store/entities.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { creditBlockView } from '../../worker/store/views.ts';
import { ApiError } from '../errors.ts';
import { creditBlockSchema, toWireCreditBlock } from '../wire/creditBlock.ts';

export function registerCreditBlockRoutes(app: FastifyInstance, deps: { orm: Orm }): void {
  app.get(
    '/v1/credit_blocks/:block_id',
    {
      schema: {
        summary: 'Fetch a credit block',
        tags: ['Credits'],
        response: { 200: creditBlockSchema },
      },
    },
    async (request) => {
      const { block_id: blockId } = request.params as { block_id: string };
      const block = await deps.orm.em.fork().findOne(CreditBlock, { id: blockId });
      if (!block) throw ApiError.notFound(`Credit block ${blockId} does not exist.`);
      return toWireCreditBlock(creditBlockView(block));
    },
  );
}
