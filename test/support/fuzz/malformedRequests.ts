/**
 * The fuzzer's generator: a fast-check arbitrary of requests, each a valid seed (seedRequests.ts)
 * with one mutation that on its own makes the service refuse it. Body mutations are driven by the
 * route's schema in the service's own OpenAPI document (wrong JSON types, values outside an enum or
 * a length, missing required keys, unknown keys where `additionalProperties` is false) and by field
 * meaning (invalidValues.ts); others break the envelope (broken JSON, wrong content type, oversize
 * or deeply nested bodies, wrong root type), the path (ids naming nothing or another customer's
 * resource, bad percent-encoding, NUL, over-long ids, unknown paths and methods), the query, the
 * API key or the Idempotency-Key, or a ledger rule (`ruleBreaks`). Mutations that might leave the
 * request valid (dropping an optional key, an unknown query key) are never made.
 */
import fc from 'fast-check';
import type { RawRequest } from './rawRequest.ts';
import {
  allowedTypes,
  invalidValueArbitrary,
  nulString,
  type JsonSchema,
} from './invalidValues.ts';
import type { RuleBreak, SeedRequest } from './seedRequests.ts';

export interface OpenApiDocument {
  paths: Record<
    string,
    Record<string, { requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }>
  >;
}

export interface MalformedRequest extends RawRequest {
  /** The OpenAPI operation it was made from. */
  route: string;
  /** The mutation, e.g. `field:amount:decimal_places` or `unknown_id:customer_id`. */
  mutation: string;
  /** For ingest: how many events the body carries, each of which must be refused. */
  events?: number;
}

type PathPart = string | number;
interface Site {
  path: PathPart[];
  name: string;
  schema: JsonSchema;
}
interface ObjectSite {
  path: PathPart[];
  schema: JsonSchema;
  present: string[];
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** Path segments that name nothing: unknown, unicode, injection-shaped, badly encoded, NUL, over-long. */
const UNKNOWN_IDS = [
  'does_not_exist',
  encodeURIComponent('客户-ü'),
  encodeURIComponent('😀'),
  encodeURIComponent("'; drop table customers; --"),
  encodeURIComponent('../../etc/passwd'),
  encodeURIComponent('{"$ne":null}'),
  'a%2Fb',
  '%20',
  'null',
  '0',
  '-1',
  'a%00b',
  '%00',
  '%E0%A4%A',
  '%FF',
  '%',
  'x'.repeat(101),
  'x'.repeat(600),
];
const BAD_AUTHORIZATION = [
  '',
  'Bearer',
  'Bearer wrong_key',
  'Basic dGVzdDp0ZXN0',
  'Token KEY',
  'Bearer KEYx',
  'Bearer  xKEY',
  'KEY',
];
const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/xml',
  'multipart/form-data; boundary=fuzz',
  'application/octet-stream',
  'application/jsonx',
  'json',
];
const WRONG_ROOTS = ['[]', '"text"', '42', 'true', 'null', '{}', '[{}]', '""', '1e400'];
const BODY_BYTES_OVER = 1_048_576 + 1024;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** For `oneOf`/`anyOf`, the branch the value takes (ledger entries: the one its entry_type names). */
function branchFor(schema: JsonSchema, value: unknown): JsonSchema {
  const branches = schema.oneOf ?? schema.anyOf;
  if (!branches) return schema;
  if (isObject(value)) {
    const objects = branches.filter((branch) => branch.type === 'object');
    return (
      objects.find((branch) => branch.properties?.entry_type?.enum?.includes(value.entry_type)) ??
      objects[0] ??
      schema
    );
  }
  if (Array.isArray(value)) return branches.find((branch) => branch.type === 'array') ?? schema;
  return schema;
}

/** Every field of the seed body the schema describes (present or not), and every object in it. Arrays go as '*': every element. */
function collect(
  schema: JsonSchema,
  value: unknown,
  path: PathPart[],
  sites: Site[],
  objects: ObjectSite[],
): void {
  const node = branchFor(schema, value);
  if (isObject(value) && node.properties) {
    objects.push({ path, schema: node, present: Object.keys(value) });
    for (const [key, child] of Object.entries(node.properties)) {
      sites.push({ path: [...path, key], name: key, schema: child });
      if (value[key] !== undefined) collect(child, value[key], [...path, key], sites, objects);
    }
    if (isObject(node.additionalProperties))
      sites.push({
        path: [...path, 'fuzz_key'],
        name: 'fuzz_key',
        schema: node.additionalProperties,
      });
  } else if (Array.isArray(value) && value.length > 0 && node.items) {
    collect(node.items, value[0], [...path, '*'], sites, objects);
  }
}

/** The containers at `path` ('*' expands to every element). */
function containersAt(root: unknown, path: PathPart[]): unknown[] {
  let current: unknown[] = [root];
  for (const part of path) {
    current = current.flatMap((container) => {
      if (part === '*') return Array.isArray(container) ? container : [];
      const next =
        isObject(container) || Array.isArray(container)
          ? (container as Record<PathPart, unknown>)[part]
          : undefined;
      return next === undefined ? [] : [next];
    });
  }
  // Raw JSON numbers are frozen objects: an earlier mutation may have put one where an object was.
  return current.filter(
    (container) => (isObject(container) || Array.isArray(container)) && !Object.isFrozen(container),
  );
}

/** Generated values may be shared between samples (`constantFrom` objects): each body gets its own copy. */
function ownCopy(value: unknown): unknown {
  return typeof value === 'object' && value !== null && !Object.isFrozen(value)
    ? structuredClone(value)
    : value;
}

function setAt(root: unknown, path: PathPart[], value: unknown): void {
  const key = path.at(-1)!;
  for (const container of containersAt(root, path.slice(0, -1))) {
    if (key === '*' && Array.isArray(container))
      container.forEach((_, index) => (container[index] = ownCopy(value)));
    else if (key !== '*')
      Object.defineProperty(container, key, {
        value: ownCopy(value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
}

function deleteAt(root: unknown, path: PathPart[], key: string): void {
  for (const container of containersAt(root, path))
    delete (container as Record<string, unknown>)[key];
}

const pathText = (path: PathPart[]) => path.join('.');

class SeedMutator {
  readonly seed: SeedRequest;
  private readonly apiKey: string;
  private readonly methods: string[];
  private readonly sites: Site[] = [];
  private readonly objects: ObjectSite[] = [];
  /** Roots the body schema refuses ('{}' and null are valid for some: an update of optional keys). */
  private readonly wrongRoots: string[];

  constructor(seed: SeedRequest, document: OpenApiDocument, apiKey: string) {
    this.seed = seed;
    this.apiKey = apiKey;
    const [, template] = seed.route.split(' ');
    this.methods = Object.keys(document.paths[template!] ?? {}).map((method) =>
      method.toUpperCase(),
    );
    const schema =
      seed.bodySchema ??
      document.paths[template!]?.[seed.route.split(' ')[0]!.toLowerCase()]?.requestBody?.content?.[
        'application/json'
      ]?.schema;
    if (seed.body !== undefined && schema) collect(schema, seed.body, [], this.sites, this.objects);
    const requires = schema ? (branchFor(schema, seed.body).required ?? []).length > 0 : true;
    const admitsNull = schema ? (allowedTypes(schema)?.has('null') ?? false) : false;
    this.wrongRoots = WRONG_ROOTS.filter(
      (text) => !(text === '{}' && !requires) && !(text === 'null' && admitsNull),
    );
  }

  private request(
    mutation: string,
    parts: {
      method?: string;
      params?: Record<string, string>;
      query?: Record<string, string> | string;
      body?: unknown;
      rawBody?: string;
      headers?: Record<string, string>;
      suffix?: string;
    } = {},
  ): MalformedRequest {
    const [seedMethod, template] = this.seed.route.split(' ') as [string, string];
    const params = { ...this.seed.params, ...parts.params };
    const path =
      template.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? 'missing') +
      (parts.suffix ?? '');
    const query = parts.query ?? this.seed.query;
    const queryText =
      typeof query === 'string'
        ? query
        : query && Object.keys(query).length > 0
          ? Object.entries(query)
              .map(([key, value]) => `${key}=${value}`)
              .join('&')
          : '';
    const body = 'body' in parts ? parts.body : this.seed.body;
    const rawBody = parts.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.apiKey}`,
      ...(rawBody === undefined ? {} : { 'content-type': 'application/json' }),
      ...parts.headers,
    };
    const events =
      this.seed.ingest && isObject(body) && Array.isArray(body.events)
        ? body.events.length
        : undefined;
    return {
      route: this.seed.route,
      mutation,
      method: parts.method ?? seedMethod,
      path: queryText ? `${path}?${queryText}` : path,
      headers,
      body: rawBody,
      events,
    };
  }

  private fieldMutation():
    fc.Arbitrary<{ label: string; apply: (body: unknown) => void }> | undefined {
    const options = this.sites.flatMap((site) => {
      const values = invalidValueArbitrary(site.name, site.schema);
      return values
        ? [
            values.map((invalid) => ({
              label: `${pathText(site.path)}:${invalid.kind}`,
              apply: (body: unknown) => setAt(body, site.path, invalid.value),
            })),
          ]
        : [];
    });
    return options.length > 0 ? fc.oneof(...options) : undefined;
  }

  private mutatedBody(
    label: string,
    changes: fc.Arbitrary<{ label: string; apply: (body: unknown) => void }[]>,
  ): fc.Arbitrary<MalformedRequest> {
    return changes.map((list) => {
      const body = structuredClone(this.seed.body);
      for (const change of list) change.apply(body);
      return this.request(`${label}:${list.map((change) => change.label).join('+')}`, { body });
    });
  }

  private bodyMutations(): fc.WeightedArbitrary<MalformedRequest>[] {
    if (this.seed.body === undefined) return [];
    const mutations: fc.WeightedArbitrary<MalformedRequest>[] = [];
    const field = this.fieldMutation();
    if (field) {
      mutations.push({
        weight: 40,
        arbitrary: this.mutatedBody(
          'field',
          field.map((change) => [change]),
        ),
      });
      mutations.push({
        weight: 8,
        arbitrary: this.mutatedBody('fields', fc.array(field, { minLength: 2, maxLength: 4 })),
      });
    }
    const required = this.objects.flatMap((object) =>
      (object.schema.required ?? [])
        .filter((key) => object.present.includes(key))
        .map((key) => ({ path: object.path, key })),
    );
    if (required.length > 0) {
      mutations.push({
        weight: 8,
        arbitrary: fc.constantFrom(...required).map(({ path, key }) => {
          const body = structuredClone(this.seed.body);
          deleteAt(body, path, key);
          return this.request(`missing_required:${pathText([...path, key])}`, { body });
        }),
      });
    }
    const strict = this.objects.filter((object) => object.schema.additionalProperties === false);
    if (strict.length > 0) {
      const keyNames = fc.oneof(
        fc.constantFrom(
          '__proto__',
          'constructor',
          'AMOUNT',
          'entry_type ',
          'amount\u200b',
          '',
          '💥',
          'toString',
        ),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }),
      );
      mutations.push({
        weight: 8,
        arbitrary: fc
          .tuple(
            fc.constantFrom(...strict),
            keyNames,
            fc.constantFrom<unknown>(1, 'x', null, {}, [], true),
          )
          .filter(([object, key]) => !(key in (object.schema.properties ?? {})))
          .map(([object, key, value]) => {
            const body = structuredClone(this.seed.body);
            setAt(body, [...object.path, key], value);
            return this.request(`extra_key:${pathText(object.path) || '(root)'}`, { body });
          }),
      });
    }
    const strings = this.sites.filter((site) => JSON.stringify(site.schema).includes('"string"'));
    if (strings.length > 0) {
      mutations.push({
        weight: 3,
        arbitrary: fc.tuple(fc.constantFrom(...strings), nulString).map(([site, text]) => {
          const body = structuredClone(this.seed.body);
          setAt(body, site.path, text);
          return this.request(`nul_char:${pathText(site.path)}`, { body });
        }),
      });
    }
    mutations.push({
      weight: 4,
      arbitrary: fc
        .constantFrom(...this.wrongRoots)
        .map((root) => this.request('wrong_root', { rawBody: root })),
    });
    mutations.push({
      weight: 3,
      arbitrary: fc
        .constantFrom(...CONTENT_TYPES)
        .map((type) => this.request(`content_type:${type}`, { headers: { 'content-type': type } })),
    });
    mutations.push({
      weight: 1,
      arbitrary: fc.constant(
        this.request('content_type:none', { headers: { 'content-type': '' } }),
      ),
    });
    return mutations;
  }

  /** Envelope breaks any POST or PUT body can have, with or without a body schema. */
  private envelopeMutations(): fc.WeightedArbitrary<MalformedRequest>[] {
    const method = this.seed.route.split(' ')[0];
    if (method !== 'POST' && method !== 'PUT') return [];
    const text = JSON.stringify(this.seed.body ?? { fuzz: 'body' });
    const broken = fc
      .oneof(
        fc.integer({ min: 1, max: Math.max(1, text.length - 1) }).map((cut) => text.slice(0, cut)),
        fc
          .tuple(
            fc.integer({ min: 0, max: text.length }),
            fc.constantFrom(
              '{',
              '}',
              ',',
              ':',
              '"',
              "'",
              '\\',
              'NaN',
              'undefined',
              '\u0000',
              '\ud800',
            ),
          )
          .map(([at, junk]) => text.slice(0, at) + junk + text.slice(at)),
        fc.constantFrom(
          `${text},`,
          `\ufeff${text}`,
          text.replace('{', "{'a':1,"),
          text.replace(/}$/, ',}'),
          `${text}${text}`,
          `/* c */${text}`,
          text.replaceAll('"', "'"),
          '{"a":NaN}',
          '{"a":Infinity}',
          '{"a":01}',
          '{"a":.5}',
          '{"a":"\\x41"}',
          '{"a":"\t"}',
        ),
      )
      .filter((candidate) => {
        try {
          JSON.parse(candidate);
          return false;
        } catch {
          return candidate.trim() !== '';
        }
      });
    return [
      {
        weight: 6,
        arbitrary: broken.map((rawBody) =>
          this.request('broken_json', { rawBody, headers: { 'content-type': 'application/json' } }),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.constantFrom('[', '{"a":').map((open) =>
          this.request('deep_nesting', {
            rawBody: `${open.repeat(20_000)}1${(open === '[' ? ']' : '}').repeat(20_000)}`,
            headers: { 'content-type': 'application/json' },
          }),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.constant(null).map(() =>
          this.request('oversize', {
            rawBody: JSON.stringify({ description: 'x'.repeat(BODY_BYTES_OVER) }),
            headers: { 'content-type': 'application/json' },
          }),
        ),
      },
    ];
  }

  private pathMutations(): fc.WeightedArbitrary<MalformedRequest>[] {
    const mutations: fc.WeightedArbitrary<MalformedRequest>[] = [];
    if (this.seed.idParams.length > 0) {
      const ids = fc.constantFrom(...this.seed.idParams).chain((name) =>
        fc
          .oneof(
            fc.constantFrom(...UNKNOWN_IDS, ...(this.seed.foreignIds?.[name] ?? [])),
            fc
              .string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 6, maxLength: 24 })
              .map((hex) => `fuzz_${hex}`),
          )
          .map((id) => ({ name, id })),
      );
      mutations.push({
        weight: 15,
        arbitrary: ids.map(({ name, id }) =>
          this.request(`unknown_id:${name}`, { params: { [name]: id } }),
        ),
      });
    }
    const wrongMethods = METHODS.filter((method) => !this.methods.includes(method));
    if (wrongMethods.length > 0)
      mutations.push({
        weight: 2,
        arbitrary: fc
          .constantFrom(...wrongMethods)
          .map((method) => this.request(`wrong_method:${method}`, { method, body: undefined })),
      });
    mutations.push({
      weight: 2,
      arbitrary: fc
        .constantFrom('/zz_fuzz', '/..%2F..', '/%00', '.json')
        .map((suffix) => this.request('unknown_path', { suffix })),
    });
    return mutations;
  }

  private requestMutations(): fc.WeightedArbitrary<MalformedRequest>[] {
    const mutations: fc.WeightedArbitrary<MalformedRequest>[] = [];
    const badQuery = this.seed.badQuery;
    if (badQuery && Object.keys(badQuery).length > 0) {
      const oneBad = fc
        .constantFrom(...Object.keys(badQuery))
        .chain((key) => fc.constantFrom(...badQuery[key]!).map((value) => ({ key, value })));
      mutations.push({
        weight: 15,
        arbitrary: fc.array(oneBad, { minLength: 1, maxLength: 3 }).map((bad) =>
          this.request(`bad_query:${bad.map(({ key }) => decodeURIComponent(key)).join('+')}`, {
            query: {
              ...this.seed.query,
              ...Object.fromEntries(bad.map(({ key, value }) => [key, value])),
            },
          }),
        ),
      });
      if ('limit' in badQuery)
        mutations.push({
          weight: 1,
          arbitrary: fc.constant(
            this.request('duplicate_query:limit', { query: 'limit=1&limit=2' }),
          ),
        });
    }
    if (!this.seed.public) {
      mutations.push({
        weight: 4,
        arbitrary: fc.constantFrom(...BAD_AUTHORIZATION).map((value) =>
          this.request('bad_auth', {
            headers: { authorization: value.replace('KEY', this.apiKey) },
          }),
        ),
      });
    }
    if (this.seed.readsIdempotencyKey) {
      mutations.push({
        weight: 3,
        arbitrary: fc
          .oneof(
            fc.constant(''),
            fc.integer({ min: 256, max: 400 }).map((length) => 'k'.repeat(length)),
          )
          .map((key) => this.request('idempotency_key', { headers: { 'idempotency-key': key } })),
      });
    }
    const breaks = this.seed.ruleBreaks ?? [];
    if (breaks.length > 0) {
      mutations.push({
        weight: 10,
        arbitrary: fc.constantFrom(...breaks).map((rule: RuleBreak) =>
          this.request(`rule:${rule.name}`, {
            params: rule.params,
            query: rule.query,
            body: rule.body ?? this.seed.body,
          }),
        ),
      });
    }
    return mutations;
  }

  arbitrary(): fc.Arbitrary<MalformedRequest> {
    return fc.oneof(
      ...this.bodyMutations(),
      ...this.envelopeMutations(),
      ...this.pathMutations(),
      ...this.requestMutations(),
    );
  }
}

/** Every seed equally likely; within a seed, mutations by weight. */
export function malformedRequests(
  seeds: readonly SeedRequest[],
  document: OpenApiDocument,
  apiKey: string,
): fc.Arbitrary<MalformedRequest> {
  return fc.oneof(...seeds.map((seed) => new SeedMutator(seed, document, apiKey).arbitrary()));
}
