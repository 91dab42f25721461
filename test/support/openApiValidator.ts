/**
 * Validates response bodies against Orb's published contract (shared/reference/
 * orb-openapi-subset.json, OpenAPI 3.1 = JSON Schema 2020-12). The whole document is registered
 * under one $id and a body is checked against `<id>#/components/schemas/<Name>`, so every `$ref`
 * inside it resolves as in the document. Bodies are expected as plain `JSON.parse` output.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import * as ajvFormats from 'ajv-formats';

const DOCUMENT_URL = new URL('../../../shared/reference/orb-openapi-subset.json', import.meta.url);
const DOCUMENT_ID = 'https://orb.local/openapi-subset.json';

type FormatsPlugin = (ajv: Ajv2020) => Ajv2020;

/** ajv-formats is CommonJS: under Node's ESM interop the default import is `module.exports`. */
function formatsPlugin(): FormatsPlugin {
  const module = ajvFormats as unknown as { default: FormatsPlugin | { default: FormatsPlugin } };
  const plugin = module.default;
  return typeof plugin === 'function' ? plugin : plugin.default;
}

interface OpenApiDocument {
  components: { schemas: Record<string, unknown> };
  [key: string]: unknown;
}

let ajv: Ajv2020 | undefined;
let document: OpenApiDocument | undefined;
const compiled = new Map<string, ValidateFunction>();

/** Keys that say nothing about what a value may be. */
const ANNOTATION_KEYS = new Set(['title', 'description', 'deprecated', 'examples']);

/**
 * The subset keeps some deprecated schemas as bare titles (DEPRECATED_InvoiceLevelDiscount, used
 * as Invoice.discount `oneOf [it, null]`). A bare title matches null too, so that `oneOf` would
 * refuse null, which is what Orb sends when there is no discount. Such a placeholder stands for an
 * object, so it is read as "anything but null"; no other schema is touched.
 */
function withPlaceholdersNotNull(document: OpenApiDocument): OpenApiDocument {
  const schemas = Object.fromEntries(
    Object.entries(document.components.schemas).map(([name, schema]) => {
      const placeholder =
        typeof schema === 'object' &&
        schema !== null &&
        Object.keys(schema).every((key) => ANNOTATION_KEYS.has(key));
      return [name, placeholder ? { ...schema, not: { type: 'null' } } : schema];
    }),
  );
  return { ...document, components: { ...document.components, schemas } };
}

function load(): { ajv: Ajv2020; document: OpenApiDocument } {
  if (!ajv || !document) {
    document = withPlaceholdersNotNull(
      JSON.parse(readFileSync(DOCUMENT_URL, 'utf8')) as OpenApiDocument,
    );
    // strict: false lets OpenAPI's own keywords (discriminator, x-stainless-*, example) pass.
    ajv = new Ajv2020({ strict: false, allErrors: true });
    formatsPlugin()(ajv);
    ajv.addSchema({ ...document, $id: DOCUMENT_ID });
  }
  return { ajv, document };
}

function validatorFor(schemaName: string): ValidateFunction {
  const cached = compiled.get(schemaName);
  if (cached) return cached;
  const { ajv, document } = load();
  if (!(schemaName in document.components.schemas)) {
    throw new Error(`the OpenAPI subset has no schema named ${schemaName}`);
  }
  const ref = `${DOCUMENT_ID}#/components/schemas/${encodeURIComponent(schemaName)}`;
  const validate = ajv.getSchema(ref);
  if (!validate) throw new Error(`ajv could not compile ${ref}`);
  compiled.set(schemaName, validate);
  return validate;
}

function describe(error: ErrorObject): string {
  const where = error.instancePath === '' ? '(root)' : error.instancePath;
  const params = Object.keys(error.params).length > 0 ? ` ${JSON.stringify(error.params)}` : '';
  return `${where} ${error.message ?? 'is invalid'}${params} [${error.schemaPath}]`;
}

interface Discriminated {
  discriminator?: { propertyName: string; mapping?: Record<string, string> };
}

/**
 * For a discriminated `oneOf` (CreditLedgerEntry), the branch the body names, so that a failure
 * lists that branch's errors instead of every branch's.
 */
function discriminatedBranch(schemaName: string, body: unknown): string | undefined {
  const { discriminator } = load().document.components.schemas[schemaName] as Discriminated;
  if (!discriminator?.mapping || body === null || typeof body !== 'object') return undefined;
  const value = (body as Record<string, unknown>)[discriminator.propertyName];
  const ref = typeof value === 'string' ? discriminator.mapping[value] : undefined;
  return ref?.startsWith('#/components/schemas/')
    ? ref.slice('#/components/schemas/'.length)
    : undefined;
}

/** The ajv errors of `body` against `components.schemas[schemaName]`; empty when it is valid. */
export function validateSchema(schemaName: string, body: unknown): string[] {
  const validate = validatorFor(schemaName);
  if (validate(body)) return [];
  const errors = (validate.errors ?? []).map(describe);
  const branch = discriminatedBranch(schemaName, body);
  if (branch) {
    const branchErrors = validateSchema(branch, body);
    if (branchErrors.length > 0) return branchErrors.map((error) => `${error} (as ${branch})`);
  }
  return errors;
}

/** Throws a readable error listing every ajv error when `body` does not match the schema. */
export function expectValid(schemaName: string, body: unknown): void {
  const errors = validateSchema(schemaName, body);
  if (errors.length === 0) return;
  const shown = JSON.stringify(body, null, 2);
  throw new Error(
    `response does not match OpenAPI schema ${schemaName}:\n  - ${errors.join('\n  - ')}\nbody: ${
      shown.length > 4000 ? `${shown.slice(0, 4000)}…` : shown
    }`,
  );
}
