/**
 * The API's OpenAPI 3.1 document, generated from the routes' zod schemas by @fastify/swagger with
 * fastify-type-provider-zod's transforms (served at `/openapi.json` and rendered at `/docs`,
 * api/routes/docs.ts). It must be registered before any route: it collects routes as they are
 * added. Every operation needs the Bearer key unless its schema says `security: []`.
 */
import { readFileSync } from 'node:fs';
import fastifySwagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; description: string };

/** The tags every route's schema picks from, in the order /docs shows them. */
export const OPENAPI_TAGS = [
  { name: 'Customers', description: "Orb's customers, by Orb id or external id." },
  { name: 'Credits', description: "Orb's credit ledger: entries, balances by block, credit blocks." },
  { name: 'Ledger requests', description: 'The status of an accepted ledger write, for clients that enqueue and poll.' },
  { name: 'Events', description: 'Usage events: ingestion, search, deprecation.' },
  { name: 'Usage prices', description: 'How usage events become credits (the service’s own resource).' },
  { name: 'Test clock', description: 'Only with CLOCK=manual: read and move the service’s time.' },
  { name: 'Operations', description: 'Health, metrics, dead letters and these docs.' },
] as const;

/** For the schemas of routes that answer without an API key (api/server.ts PUBLIC_PATHS). */
export const PUBLIC_ROUTE = { security: [] } as const;

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Credits ledger',
        version: packageJson.version,
        description: `${packageJson.description}. Errors are RFC 7807 problem documents; lists use cursor pagination.`,
      },
      tags: [...OPENAPI_TAGS],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API key from API_KEYS, sent as `Authorization: Bearer <key>`.' },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
}
