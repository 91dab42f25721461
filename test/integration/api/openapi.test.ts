/**
 * `GET /openapi.json` and `GET /docs` against the real service (test clock on, so that its routes
 * exist too): the document is a valid OpenAPI 3.1 document (@readme/openapi-parser, offline), it
 * names every route the Fastify app has, each with a summary and a tag, and it declares the Bearer
 * scheme that the public routes opt out of. Every operation documents its success answer's schema
 * (the wire shapes of api/wire/, whose exact numbers are JSON numbers) and its RFC 7807 errors;
 * every POST documents `Idempotency-Key`; the ledger writes document `Prefer: respond-async` and
 * their 202 with `Location`; ingest's events are typed. Both answer without an API key.
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
  parameters?: { name: string; in: string; schema?: Record<string, unknown> }[];
  responses?: Record<
    string,
    {
      description?: string;
      headers?: Record<string, unknown>;
      content?: Record<string, { schema?: Record<string, any> }>;
    }
  >;
  requestBody?: { content: Record<string, { schema: Record<string, any> }> };
}

type Document = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, any> };
};

async function openApi(): Promise<Document> {
  return (await t.request('GET', '/openapi.json', undefined, noKey)).body as Document;
}

function operations(document: Document): [string, Operation][] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(
      ([method, operation]) =>
        [`${method.toUpperCase()} ${path}`, operation] as [string, Operation],
    ),
  );
}

/** A schema with its `$ref`s to components followed. */
function resolve(
  document: Document,
  schema: Record<string, any> | undefined,
): Record<string, any> | undefined {
  if (schema && typeof schema.$ref === 'string')
    return resolve(document, document.components.schemas[schema.$ref.split('/').at(-1)!]);
  return schema;
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
      .flatMap(([path, item]) =>
        Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
      )
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
    expect(document.components.securitySchemes.bearer).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    expect(document.security).toEqual([{ bearer: [] }]);
    expect(document.paths['/health/live']?.get?.security).toEqual([]);
    expect(document.paths['/v1/customers']?.post?.security).toBeUndefined();
  });

  it('describes request bodies and query strings from the zod schemas', async () => {
    const { paths } = (await t.request('GET', '/openapi.json', undefined, noKey)).body;
    const createPrice =
      paths['/v1/usage_prices'].post.requestBody.content['application/json'].schema;
    expect(createPrice.required).toEqual(
      expect.arrayContaining(['name', 'event_name', 'item_id', 'unit_amount']),
    );
    expect(createPrice.additionalProperties).toBe(false);
    const listed = paths['/v1/failed_jobs'].get.parameters.map(
      (parameter: { name: string; in: string }) => `${parameter.in}:${parameter.name}`,
    );
    expect(listed).toEqual(
      expect.arrayContaining(['query:partition', 'query:limit', 'query:cursor']),
    );
    const pathParameters = paths['/v1/ledger_requests/{request_id}'].get.parameters;
    expect(pathParameters).toEqual([
      expect.objectContaining({ name: 'request_id', in: 'path', required: true }),
    ]);
  });
});

describe('the schemas /docs shows', () => {
  it('gives every operation a success answer with a schema', async () => {
    const document = await openApi();
    const missing = operations(document).filter(([, operation]) => {
      const success = Object.entries(operation.responses ?? {}).filter(([status]) =>
        /^2/.test(status),
      );
      if (success.length === 0) return true;
      return success.some(
        ([status, response]) =>
          status !== '204' && !Object.values(response.content ?? {}).some((media) => media.schema),
      );
    });
    expect(missing.map(([name]) => name)).toEqual([]);
    expect(
      operations(document).filter(
        ([, operation]) => operation.responses?.['200']?.description === 'Default Response',
      ),
    ).toEqual([]);
  });

  it('documents RFC 7807 errors: 401 on every keyed route, 404 on every route with an id, 409 and 429 on the ledger writes', async () => {
    const document = await openApi();
    for (const [name, operation] of operations(document)) {
      const statuses = Object.keys(operation.responses ?? {});
      if (operation.security === undefined) expect(statuses, name).toContain('401');
      if (name.includes('{')) expect(statuses, name).toContain('404');
      for (const status of statuses.filter(
        (code) => Number(code) >= 400 && !name.startsWith('GET /health'),
      )) {
        expect(
          Object.keys(operation.responses![status]!.content ?? {}),
          `${name} ${status}`,
        ).toEqual(['application/problem+json']);
      }
    }
    const write = document.paths['/v1/customers/{customer_id}/credits/ledger_entry']!.post!;
    expect(Object.keys(write.responses!)).toEqual(
      expect.arrayContaining(['201', '202', '400', '401', '404', '409', '413', '429', '503']),
    );
    const problem = resolve(
      document,
      write.responses!['409']!.content!['application/problem+json']!.schema,
    );
    expect(problem?.required).toEqual(
      expect.arrayContaining(['type', 'status', 'title', 'detail']),
    );
  });

  it('documents Idempotency-Key on every POST, and Prefer with a 202 and its Location on the ledger writes', async () => {
    const document = await openApi();
    for (const [name, operation] of operations(document).filter(([key]) =>
      key.startsWith('POST '),
    )) {
      const header = operation.parameters?.find(
        (parameter) => parameter.in === 'header' && parameter.name === 'Idempotency-Key',
      );
      expect(header, name).toBeDefined();
    }
    for (const path of [
      '/v1/customers/{customer_id}/credits/ledger_entry',
      '/v1/customers/external_customer_id/{external_customer_id}/balance_transactions',
    ]) {
      const operation = document.paths[path]!.post!;
      expect(
        operation.parameters?.find((parameter) => parameter.name === 'Prefer')?.schema?.enum,
      ).toEqual(['respond-async']);
      expect(operation.responses?.['202']?.headers).toHaveProperty('Location');
    }
  });

  it("types the ingest events and Orb's number fields, and keeps metadata an object of strings", async () => {
    const document = await openApi();
    const ingest =
      document.paths['/v1/ingest']!.post!.requestBody!.content['application/json']!.schema;
    const event = resolve(document, resolve(document, ingest)?.properties?.events?.items);
    expect(event?.required).toEqual(
      expect.arrayContaining(['idempotency_key', 'event_name', 'timestamp', 'properties']),
    );
    const entry = resolve(
      document,
      document.paths['/v1/customers/{customer_id}/credits/ledger_entry']!.post!.responses!['201']!
        .content!['application/json']!.schema,
    );
    const increment = resolve(
      document,
      (entry?.oneOf ?? entry?.anyOf)
        ?.map((branch: any) => resolve(document, branch))
        .find((branch: any) => branch.properties.entry_type.const === 'increment'),
    );
    expect(increment?.properties.amount.type).toBe('number');
    expect(increment?.properties.starting_balance.type).toBe('number');
    expect(increment?.properties.metadata.additionalProperties).toEqual({ type: 'string' });
    const customer = resolve(
      document,
      document.paths['/v1/customers/{customer_id}']!.get!.responses!['200']!.content![
        'application/json'
      ]!.schema,
    );
    expect(customer?.properties.balance.type).toBe('string');
    const block = resolve(
      document,
      document.paths['/v1/credit_blocks/{block_id}']!.get!.responses!['200']!.content![
        'application/json'
      ]!.schema,
    );
    expect(block?.properties.balance.type).toBe('number');
  });
});

describe('GET /docs', () => {
  it('answers a self-contained HTML page listing the routes, without an API key', async () => {
    const response = await t.request('GET', '/docs', undefined, noKey);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.text).toContain(
      '<code>/v1/customers/{customer_id}/credits/ledger_entry</code>',
    );
    expect(response.text).toContain('List failed jobs (dead letters)');
    // Nothing is fetched from elsewhere: the machine may have no internet.
    expect(response.text).not.toMatch(/<script|<link|https?:\/\/(?!docs\.withorb)/);
  });

  it('shows the answers with their schemas, the headers of the writes and the ingest events', async () => {
    const { text } = await t.request('GET', '/docs', undefined, noKey);
    expect(text).not.toContain('Default Response');
    expect(text).toContain('<code>CreditLedgerEntry</code>');
    expect(text).toContain('<code>Idempotency-Key</code>');
    expect(text).toContain('<code>Prefer</code>');
    expect(text).toContain('<code>Location</code>');
    expect(text).toContain('<code>Problem</code> <small>application/problem+json</small>');
    expect(text).toContain('Each of <code>events</code>');
  });

  it('still needs the API key elsewhere', async () => {
    const response = await t.request('GET', '/v1/ping', undefined, noKey);
    expect(response.status).toBe(401);
  });
});
