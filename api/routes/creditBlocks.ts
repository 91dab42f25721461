/**
 * `GET /v1/credit_blocks/{id}` (Orb's CreditBlock): one block, whatever its balance, in one SQL
 * statement without ORM hydration (worker/store/creditReads.ts).
 */
import type { FastifyInstance } from 'fastify';
import { readCreditBlock } from '../../worker/store/creditReads.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { ApiError } from '../errors.ts';
import { creditBlockFromRow, creditBlockSchema } from '../wire/creditBlock.ts';

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
      const block = await readCreditBlock(deps.orm.em, blockId);
      if (!block) throw ApiError.notFound(`Credit block ${blockId} does not exist.`);
      return creditBlockFromRow(block);
    },
  );
}
