/**
 * JSON with exact numbers (LEDGER_RULES.md §1): parsing keeps every number as its source text
 * (the reviver's `context.source`), so "0.1" stays "0.1"; writing turns those back into the same
 * digits (`JSON.rawJSON`). Used for request bodies and for usage event properties, which travel
 * through Redis and into Postgres jsonb without ever becoming floats.
 */
export class JsonNumber {
  readonly source: string;

  constructor(source: string) {
    this.source = source;
  }
}

declare global {
  interface JSON {
    rawJSON(text: string): unknown;
  }
}

type SourceReviver = (
  this: unknown,
  key: string,
  value: unknown,
  context: { source?: string },
) => unknown;

function reviveNumbers(_key: string, value: unknown, context: { source?: string }): unknown {
  return typeof value === 'number' && context?.source !== undefined
    ? new JsonNumber(context.source)
    : value;
}

export function parseExactJson(text: string): unknown {
  return JSON.parse(
    text,
    reviveNumbers as SourceReviver as (key: string, value: unknown) => unknown,
  );
}

export function stringifyExactJson(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) =>
    field instanceof JsonNumber ? JSON.rawJSON(field.source) : field,
  );
}
