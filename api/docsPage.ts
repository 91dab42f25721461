/**
 * `/docs` as one self-contained HTML page rendered from the OpenAPI document: every operation by
 * tag, with its parameters (the Idempotency-Key and Prefer headers among them), body fields and
 * answers: each answer's schema by name with its fields, errors as RFC 7807 problems. It loads
 * nothing (no script, no CDN), so it works on a machine without internet; the full schemas are in
 * `/openapi.json`.
 */

type Json = Record<string, unknown>;

interface Operation extends Json {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: {
    name: string;
    in: string;
    required?: boolean;
    description?: string;
    schema?: unknown;
  }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<
    string,
    {
      description?: string;
      headers?: Record<string, unknown>;
      content?: Record<string, { schema?: unknown }>;
    }
  >;
}

export interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const UNTAGGED = 'Other';

function escape(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A one-line type: `string (date-time)`, `"increment" | "decrement"`, `Item[]`. */
function typeOf(schema: unknown): string {
  if (!isObject(schema)) return 'any';
  if (typeof schema.$ref === 'string') return schema.$ref.split('/').at(-1) ?? 'any';
  if (Array.isArray(schema.enum))
    return schema.enum.map((value) => JSON.stringify(value)).join(' | ');
  if ('const' in schema) return JSON.stringify(schema.const);
  for (const key of ['anyOf', 'oneOf'] as const) {
    const variants = schema[key];
    if (Array.isArray(variants)) return variants.map(typeOf).join(' | ');
  }
  const type = Array.isArray(schema.type)
    ? schema.type.join(' | ')
    : typeof schema.type === 'string'
      ? schema.type
      : 'any';
  if (type === 'array') return `${typeOf(schema.items)}[]`;
  return typeof schema.format === 'string' ? `${type} (${schema.format})` : type;
}

function table(headings: string[], rows: string[][]): string {
  const head = headings.map((heading) => `<th>${escape(heading)}</th>`).join('');
  const body = rows
    .map((row) => `<tr>${row.map((cell) => `<td>${cell}</td>`).join('')}</tr>`)
    .join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function parametersHtml(operation: Operation): string {
  const parameters = operation.parameters ?? [];
  if (parameters.length === 0) return '';
  const rows = parameters.map((parameter) => [
    `<code>${escape(parameter.name)}</code>`,
    escape(parameter.in),
    parameter.required ? 'yes' : 'no',
    `<code>${escape(typeOf(parameter.schema))}</code>`,
    escape(parameter.description ?? ''),
  ]);
  return `<h4>Parameters</h4>${table(['name', 'in', 'required', 'type', 'description'], rows)}`;
}

/** An object's fields; the items of an array of inline objects (ingest's events) follow it. */
function fieldsHtml(schema: Json): string {
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const rows = Object.entries(properties).map(([name, field]) => [
    `<code>${escape(name)}</code>`,
    required.has(name) ? 'yes' : 'no',
    `<code>${escape(typeOf(field))}</code>`,
  ]);
  const items = Object.entries(properties)
    .filter(
      ([, field]) => isObject(field) && isObject(field.items) && isObject(field.items.properties),
    )
    .map(
      ([name, field]) =>
        `<h5>Each of <code>${escape(name)}</code></h5>${fieldsHtml((field as Json).items as Json)}`,
    );
  return rows.length === 0
    ? '<p>Any JSON value.</p>'
    : table(['field', 'required', 'type'], rows) + items.join('');
}

/** Body fields; a union (Orb's five ledger entry types) is shown one variant after another. */
function bodyHtml(document: OpenApiDocument, operation: Operation): string {
  const content = operation.requestBody?.content ?? {};
  return Object.entries(content)
    .map(([mediaType, { schema: declared }]) => {
      const schema = resolved(document, declared);
      const variants = schema.oneOf ?? schema.anyOf;
      const parts = Array.isArray(variants)
        ? variants.filter(isObject).map((variant, index) => {
            const discriminator = Object.values(
              isObject(variant.properties) ? variant.properties : {},
            ).find((field) => isObject(field) && 'const' in field);
            const title = isObject(discriminator)
              ? JSON.stringify(discriminator.const)
              : `variant ${index + 1}`;
            return `<h5>${escape(title)}</h5>${fieldsHtml(variant)}`;
          })
        : [fieldsHtml(schema)];
      return `<h4>Body <small>${escape(mediaType)}</small></h4>${parts.join('')}`;
    })
    .join('');
}

/** A component schema for `$ref`, so that an answer's fields can be listed. */
function resolved(document: OpenApiDocument, schema: unknown): Json {
  if (isObject(schema) && typeof schema.$ref === 'string')
    return resolved(document, document.components?.schemas?.[schema.$ref.split('/').at(-1) ?? '']);
  return isObject(schema) ? schema : {};
}

/** A success answer's fields; a union (the ledger entry types) one variant after another. */
function answerFieldsHtml(document: OpenApiDocument, schema: unknown): string {
  const target = resolved(document, schema);
  const variants = target.oneOf ?? target.anyOf;
  if (!Array.isArray(variants)) return isObject(target.properties) ? fieldsHtml(target) : '';
  return variants
    .map((variant) => {
      const branch = resolved(document, variant);
      const entryType = isObject(branch.properties)
        ? Object.values(branch.properties).find((field) => isObject(field) && 'const' in field)
        : undefined;
      return `<h5>${escape(isObject(entryType) ? JSON.stringify(entryType.const) : typeOf(variant))}</h5>${fieldsHtml(branch)}`;
    })
    .join('');
}

function responsesHtml(document: OpenApiDocument, operation: Operation): string {
  const entries = Object.entries(operation.responses ?? {});
  const items = entries.map(([status, response]) => {
    const media = Object.entries(response.content ?? {});
    const types = media
      .map(
        ([mediaType, { schema }]) =>
          `<code>${escape(typeOf(schema))}</code> <small>${escape(mediaType)}</small>`,
      )
      .join(', ');
    const headers = Object.keys(response.headers ?? {})
      .map((name) => `<code>${escape(name)}</code>`)
      .join(', ');
    return `<li><code>${escape(status)}</code> ${types}${headers ? ` with header ${headers}` : ''} ${escape(response.description ?? '')}</li>`;
  });
  const success = entries.find(
    ([status, response]) => /^2/.test(status) && response.content?.['application/json'],
  );
  const fields = success
    ? answerFieldsHtml(document, success[1].content?.['application/json']?.schema)
    : '';
  return items.length === 0 ? '' : `<h4>Answers</h4><ul>${items.join('')}</ul>${fields}`;
}

function operationHtml(
  document: OpenApiDocument,
  method: string,
  path: string,
  operation: Operation,
): string {
  const anchor = `${method}-${path}`.replace(/[^a-zA-Z0-9]+/g, '-');
  const auth =
    Array.isArray(operation.security) && operation.security.length === 0
      ? '<p class="public">No API key needed.</p>'
      : '';
  return `<section class="operation" id="${escape(anchor)}">
<h3><span class="method ${escape(method)}">${escape(method.toUpperCase())}</span> <code>${escape(path)}</code></h3>
<p>${escape(operation.summary ?? '')}</p>${operation.description ? `<p class="description">${escape(operation.description)}</p>` : ''}${auth}
${parametersHtml(operation)}${bodyHtml(document, operation)}${responsesHtml(document, operation)}
</section>`;
}

export function renderDocsPage(document: OpenApiDocument): string {
  const byTag = new Map<string, string[]>((document.tags ?? []).map((tag) => [tag.name, []]));
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const tag = operation.tags?.[0] ?? UNTAGGED;
      byTag.set(tag, [...(byTag.get(tag) ?? []), operationHtml(document, method, path, operation)]);
    }
  }
  const descriptions = new Map(
    (document.tags ?? []).map((tag) => [tag.name, tag.description ?? '']),
  );
  const sections = [...byTag].filter(([, operations]) => operations.length > 0);
  const contents = sections
    .map(
      ([tag]) => `<li><a href="#tag-${escape(tag.replace(/\W+/g, '-'))}">${escape(tag)}</a></li>`,
    )
    .join('');
  const body = sections
    .map(
      ([tag, operations]) =>
        `<h2 id="tag-${escape(tag.replace(/\W+/g, '-'))}">${escape(tag)}</h2><p>${escape(descriptions.get(tag) ?? '')}</p>${operations.join('\n')}`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(document.info.title)} API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
code{font:13px ui-monospace,monospace;background:#f3f3f3;padding:0 .25em;border-radius:3px}
h2{border-bottom:1px solid #ddd;margin-top:2em}
.operation{border:1px solid #e3e3e3;border-radius:6px;padding:.5em 1em;margin:1em 0}
.operation h3{margin:.3em 0;font-size:16px}
.method{display:inline-block;min-width:4em;text-align:center;color:#fff;border-radius:3px;font-size:12px;padding:.15em .4em}
.get{background:#2f7d32}.post{background:#1565c0}.put{background:#ef6c00}.patch{background:#6a1b9a}.delete{background:#c62828}
.public{color:#2f7d32}.description{color:#555}
table{border-collapse:collapse;margin:.3em 0 .8em}th,td{border:1px solid #e3e3e3;padding:.2em .6em;text-align:left;vertical-align:top}
h4{margin:.8em 0 .2em}h5{margin:.5em 0 .1em}
</style></head><body>
<h1>${escape(document.info.title)} <small>${escape(document.info.version)}</small></h1>
<p>${escape(document.info.description ?? '')}</p>
<p>Send an API key as <code>Authorization: Bearer &lt;key&gt;</code>. The machine-readable document is <a href="/openapi.json"><code>/openapi.json</code></a>.</p>
<ul>${contents}</ul>
${body}
</body></html>
`;
}
