/** `GET /v1/ping` (Orb's PingResponse): answers when the api is up and the key is valid. */
import type { FastifyInstance } from 'fastify';

export function registerPingRoute(app: FastifyInstance): void {
  app.get(
    '/v1/ping',
    { schema: { summary: 'Check that the API is up and the key is valid', tags: ['Operations'] } },
    async () => ({ response: 'pong' }),
  );
}
