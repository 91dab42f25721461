/**
 * The API's OpenAPI 3.1 document, generated from the routes' zod schemas by @fastify/swagger with
 * fastify-type-provider-zod's transforms (served at `/openapi.json` and rendered at `/docs`,
 * api/routes/docs.ts). It must be registered before any route: it collects routes as they are
 * added. Every operation needs the Bearer key unless its schema says `security: []`.
 *
 * Request bodies and answers come from the routes' schemas (the answers are the typed wire shapes
 * of api/wire/). What is the same for many routes is added here, from what a route is: the RFC
 * 7807 errors it can answer, the `Idempotency-Key` and `Prefer: respond-async` headers of the
 * writes (and the 202 with `Location` that the latter gives), the answers of the operational
 * routes (api/wire/operations.ts), and the typed events of `/v1/ingest` (which validates each
 * event on its own, so its route schema takes them as `unknown`).
 */
import { readFileSync } from 'node:fs';
import fastifySwagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EVENTS_PER_REQUEST_MAX, ingestEvent } from './schemas/ingestRequest.ts';
import { OPERATION_RESPONSES } from './wire/operations.ts';
import { PROBLEM_STATUSES, problemSchema, type ProblemStatus } from './wire/problem.ts';

const packageJson = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string; description: string };

/** The tags every route's schema picks from, in the order /docs shows them. */
export const OPENAPI_TAGS = [
  { name: 'Customers', description: "Orb's customers, by Orb id or external id." },
  {
    name: 'Credits',
    description: "Orb's credit ledger: entries, balances by block, credit blocks.",
  },
  {
    name: 'Ledger requests',
    description: 'The status of an accepted ledger write, for clients that enqueue and poll.',
  },
  { name: 'Events', description: 'Usage events: ingestion, search, deprecation.' },
  {
    name: 'Usage prices',
    description: 'How usage events become credits (the service’s own resource).',
  },
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
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key from API_KEYS, sent as `Authorization: Bearer <key>`.',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: transformRoute,
    transformObject: jsonSchemaTransformObject,
  });
}

type Transform = typeof jsonSchemaTransform;
type RouteDocument = Parameters<Transform>[0];
type Json = Record<string, unknown>;

/** The customer alert writes (api/routes/alerts.ts): requests on the customer's partition. */
const ALERT_WRITES =
  /^\/v1\/alerts\/(customer_id\/:customer_id|external_customer_id\/:external_customer_id|:alert_configuration_id(\/(enable|disable))?)$/;
/** Writes whose `Idempotency-Key` replays the first answer (409 for another body). */
const IDEMPOTENT_WRITES = [
  /^\/v1\/customers$/,
  /\/credits\/ledger_entry$/,
  /\/balance_transactions$/,
  /\/credits\/top_ups$/,
  /^\/v1\/usage_prices$/,
  /^\/v1\/webhook_endpoints$/,
  /\/(mark_paid|void)$/,
  /\/deprecate$/,
  /\/credits\/top_ups\/:top_up_id$/,
  ALERT_WRITES,
];
/** Writes that answer 202 and a request to poll under `Prefer: respond-async`. */
const ASYNC_WRITES: [RegExp, string][] = [
  [/\/credits\/ledger_entry$/, '/v1/ledger_requests/{id}'],
  [/\/balance_transactions$/, '/v1/balance_transaction_requests/{id}'],
  [/\/(mark_paid|void)$/, '/v1/ledger_requests/{id}'],
  [/\/deprecate$/, '/v1/ledger_requests/{id}'],
  [/\/credits\/top_ups(\/:top_up_id)?$/, '/v1/ledger_requests/{id}'],
  [ALERT_WRITES, '/v1/ledger_requests/{id}'],
];
/** Writes that pass the partition backlog gate (429 when it is full). */
const GATED_WRITES = [
  /\/credits\/ledger_entry$/,
  /\/balance_transactions$/,
  /\/(mark_paid|void)$/,
  /\/deprecate$/,
  /\/credits\/top_ups(\/:top_up_id)?$/,
  ALERT_WRITES,
  /^\/v1\/ingest$/,
];
/** POSTs that keep no Idempotency-Key, and why a retry is safe anyway. */
const KEYLESS_POSTS: [RegExp, string][] = [
  [
    /^\/v1\/ingest$/,
    'Not used here: each event carries its own `idempotency_key`, and an event already ingested is not applied again.',
  ],
  [/^\/v1\/events\/search$/, 'Not used here: a search changes nothing.'],
  [/\/archive$/, 'Not used here: archiving is idempotent and keeps the first `archived_at`.'],
  [
    /^\/v1\/test_clock\/advance$/,
    'Not used here: advancing to a time already passed changes nothing.',
  ],
];
const IDEMPOTENCY_KEY_REPLAYS =
  'Up to 255 characters. A retry with the same key and body gets the first answer again (with `Idempotent-Replayed: true`); the same key with another body gets 409.';
const SUCCESS_DESCRIPTIONS: Record<string, string> = {
  200: 'OK.',
  201: 'Created.',
  204: 'Done; no body.',
};

/** Problem is a component: problemSchema carries its id, and the wire shapes reference it. */
const problemContent = {
  'application/problem+json': {
    schema: { $ref: `#/components/schemas/${String(problemSchema.meta()?.id)}` },
  },
};

function matches(patterns: RegExp[], url: string): boolean {
  return patterns.some((pattern) => pattern.test(url));
}

function methodsOf(document: RouteDocument): string[] {
  const method = (document as { route?: { method?: string | string[] } }).route?.method ?? [];
  return (Array.isArray(method) ? method : [method]).map((name) => name.toUpperCase());
}

/** Which error statuses a route can answer, from what it is. */
function problemStatuses(url: string, method: string, schema: Json): ProblemStatus[] {
  const statuses: ProblemStatus[] = [];
  const takesInput =
    url.includes(':') || schema.querystring !== undefined || schema.body !== undefined;
  if (takesInput || method === 'POST') statuses.push(400);
  const isPublic = Array.isArray(schema.security) && schema.security.length === 0;
  if (!isPublic) statuses.push(401);
  if (url.includes(':')) statuses.push(404);
  if (method !== 'GET' && matches(IDEMPOTENT_WRITES, url)) statuses.push(409);
  if (method === 'POST' || method === 'PUT') statuses.push(413);
  if (method !== 'GET' && matches(GATED_WRITES, url)) statuses.push(429);
  if (url.startsWith('/v1/')) statuses.push(503);
  return statuses;
}

function requestHeaders(url: string): Json {
  const keyless = KEYLESS_POSTS.find(([pattern]) => pattern.test(url));
  const properties: Json = {
    'Idempotency-Key': {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description: keyless ? keyless[1] : IDEMPOTENCY_KEY_REPLAYS,
    },
  };
  const polled = ASYNC_WRITES.find(([pattern]) => pattern.test(url));
  if (polled) {
    properties.Prefer = {
      type: 'string',
      enum: ['respond-async'],
      description: `\`respond-async\`: answer 202 at once with a request to poll at ${polled[1]} (the \`Location\` header) instead of waiting for the entry.`,
    };
  }
  return { type: 'object', properties };
}

/** A success answer with a description (and for 202, the `Location` to poll). */
function successResponse(status: string, schema: Json, url: string): Json {
  if (schema.type === 'null' || isContent(schema))
    return { description: SUCCESS_DESCRIPTIONS[status] ?? 'OK.', ...schema };
  if (status === '202') {
    const polled =
      ASYNC_WRITES.find(([pattern]) => pattern.test(url))?.[1] ?? 'the Location header';
    return {
      description: `Accepted, not yet applied (\`Prefer: respond-async\`, or the worker took longer than SYNC_WAIT_MS): poll ${polled}.`,
      headers: { Location: { type: 'string', description: 'Where to poll the request.' } },
      content: { 'application/json': { schema } },
    };
  }
  return {
    description: SUCCESS_DESCRIPTIONS[status] ?? 'OK.',
    content: { 'application/json': { schema } },
  };
}

function isContent(value: Json): boolean {
  return typeof value.content === 'object' && value.content !== null;
}

/**
 * jsonSchemaTransform, with what is common to routes added (see the top of this file). The
 * ingest body is documented with its typed events; operational routes get their answers.
 */
export const transformRoute: Transform = (document) => {
  const routeSchema = (document.schema ?? {}) as Json;
  const [method = 'GET'] = methodsOf(document);
  const key = `${method} ${document.url}`;
  const extra: Json = {};
  if (routeSchema.response === undefined && OPERATION_RESPONSES[key])
    extra.response = OPERATION_RESPONSES[key];
  if (key === 'POST /v1/ingest')
    extra.body = z.strictObject({ events: z.array(ingestEvent).max(EVENTS_PER_REQUEST_MAX) });
  const transformed = jsonSchemaTransform({
    ...document,
    schema: { ...routeSchema, ...extra },
  } as RouteDocument);
  const schema = transformed.schema as Json | undefined;
  if (!schema || schema.hide) return transformed;
  const responses: Json = {};
  for (const [status, response] of Object.entries(
    (schema.response ?? {}) as Record<string, Json>,
  )) {
    responses[status] =
      Number(status) < 400 ? successResponse(status, response, document.url) : response;
  }
  for (const status of problemStatuses(document.url, method, routeSchema)) {
    responses[status] ??= { description: PROBLEM_STATUSES[status], content: problemContent };
  }
  schema.response = responses;
  if (method === 'POST' || (method !== 'GET' && matches(IDEMPOTENT_WRITES, document.url)))
    schema.headers = requestHeaders(document.url);
  return transformed;
};
