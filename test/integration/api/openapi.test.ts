/**
 * `GET /openapi.json` and `GET /docs` against the real service (test clock on, so that its routes
 * exist too): the document is a valid OpenAPI 3.1 document (@readme/openapi-parser, offline), it
 * names every route the Fastify app has, each with a summary and a tag, and it declares the Bearer
 * scheme that the public routes opt out of. Both answer without an API key.
 */
import { validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../support/testService.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService({ CLOCK: 'manual' });
});
afterAll(async () => {
  await t?.stop();
});

const noKey = { authorization: '' };

/**
 * Every `METHOD path` the app routes, read from `printRoutes({ commonPrefix: false })`: a tree
 * whose lines are `<indent><branch><segment> (<METHODS>)`, each segment continuing its parent's.
 */
function appRoutes(): string[] {
  const tree = t.service.app!.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? '').length / 4;
    stack.length = depth;
    const path = `${stack.at(-1) ?? ''}${match[2]}`;
    stack.push(path);
    for (const method of (match[3] ?? '').split(', ').filter(Boolean)) {
      if (method !== 'HEAD') routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}

interface Operation {
  summary?: string;
  tags?: string[];
  security?: unknown[];
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, served without an API key', async () => {
    const response = await t.request('GET', '/openapi.json', undefined, noKey);
    expect(response.status, response.text).toBe(200);
    expect(response.body.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(response.body));
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('names every route of the app, each with a summary and a tag, and declares the Bearer scheme', async () => {
    const document = (await t.request('GET', '/openapi.json', undefined, noKey)).body as {
      paths: Record<string, Record<string, Operation>>;
      components: { securitySchemes: Record<string, unknown> };
      security: unknown[];
    };
    const documented = Object.entries(document.paths)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    const routes = appRoutes();
    expect(routes.length).toBeGreaterThan(25);
    expect(routes).toContain('POST /v1/test_clock/advance');
    expect(routes).toContain('GET /v1/failed_jobs');
    expect(documented).toEqual(routes);
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        expect(operation.summary, `${method} ${path}`).toBeTruthy();
        expect(operation.tags?.length, `${method} ${path}`).toBe(1);
      }
    }
    expect(document.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(document.security).toEqual([{ bearer: [] }]);
    expect(document.paths['/health/live']?.get?.security).toEqual([]);
    expect(document.paths['/v1/customers']?.post?.security).toBeUndefined();
  });

  it('describes request bodies and query strings from the zod schemas', async () => {
    const { paths } = (await t.request('GET', '/openapi.json', undefined, noKey)).body;
    const createPrice = paths['/v1/usage_prices'].post.requestBody.content['application/json'].schema;
    expect(createPrice.required).toEqual(expect.arrayContaining(['name', 'event_name', 'item_id', 'unit_amount']));
    expect(createPrice.additionalProperties).toBe(false);
    const listed = paths['/v1/failed_jobs'].get.parameters.map((parameter: { name: string; in: string }) => `${parameter.in}:${parameter.name}`);
    expect(listed).toEqual(expect.arrayContaining(['query:partition', 'query:limit', 'query:cursor']));
    const pathParameters = paths['/v1/ledger_requests/{request_id}'].get.parameters;
    expect(pathParameters).toEqual([expect.objectContaining({ name: 'request_id', in: 'path', required: true })]);
  });
});

describe('GET /docs', () => {
  it('answers a self-contained HTML page listing the routes, without an API key', async () => {
    const response = await t.request('GET', '/docs', undefined, noKey);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.text).toContain('<code>/v1/customers/{customer_id}/credits/ledger_entry</code>');
    expect(response.text).toContain('List failed jobs (dead letters)');
    // Nothing is fetched from elsewhere: the machine may have no internet.
    expect(response.text).not.toMatch(/<script|<link|https?:\/\/(?!docs\.withorb)/);
  });

  it('still needs the API key elsewhere', async () => {
    const response = await t.request('GET', '/v1/ping', undefined, noKey);
    expect(response.status).toBe(401);
  });
});
