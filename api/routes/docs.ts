/**
 * `GET /openapi.json` (the OpenAPI document, api/openApi.ts) and `GET /docs` (a page rendered from
 * it, api/docsPage.ts). Both are public, like `/metrics`: they describe the API, not its data.
 */
import type { FastifyInstance } from 'fastify';
import { renderDocsPage, type OpenApiDocument } from '../docsPage.ts';
import { PUBLIC_ROUTE } from '../openApi.ts';

export function registerDocsRoutes(app: FastifyInstance): void {
  let page: string | undefined;
  app.get(
    '/openapi.json',
    { schema: { summary: 'This OpenAPI document', tags: ['Operations'], ...PUBLIC_ROUTE } },
    async () => app.swagger(),
  );
  app.get(
    '/docs',
    {
      schema: {
        summary: 'This API documentation as a page',
        tags: ['Operations'],
        ...PUBLIC_ROUTE,
      },
    },
    async (_request, reply) => {
      // The routes are fixed once the server is ready, so the page is rendered once.
      page ??= renderDocsPage(app.swagger() as unknown as OpenApiDocument);
      return reply.type('text/html; charset=utf-8').send(page);
    },
  );
}
