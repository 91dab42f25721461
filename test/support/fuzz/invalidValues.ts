/**
 * Values that make one field of a request invalid on their own, whatever the other fields hold:
 * schema-driven (a JSON type the field's OpenAPI schema does not allow, a value outside its enum,
 * a string too short or too long, an array with too few or too many items) and by the field's
 * meaning, which the schema cannot say (decimals with more than 12 places or 27 integer digits,
 * impossible dates and timezones, non-positive amounts). Every arbitrary here yields only values
 * the service must refuse; a value that might be valid does not belong here.
 */
import fc from 'fast-check';

export type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  format?: string;
  pattern?: string;
};

export interface InvalidValue {
  /** What makes it invalid, for the report: `wrong_type`, `decimal_places`, `date`… */
  kind: string;
  value: unknown;
}

const raw = (source: string): unknown => JSON.rawJSON(source);

/** The JSON types a schema admits, or undefined when it says nothing about types. */
export function allowedTypes(schema: JsonSchema): Set<string> | undefined {
  const types = new Set<string>();
  const add = (node: JsonSchema): boolean => {
    if (node.anyOf || node.oneOf) return (node.anyOf ?? node.oneOf ?? []).every(add);
    if (node.type !== undefined) {
      for (const type of Array.isArray(node.type) ? node.type : [node.type])
        types.add(type === 'integer' ? 'number' : type);
      return true;
    }
    if (node.enum) {
      for (const value of node.enum) types.add(value === null ? 'null' : typeof value);
      return true;
    }
    return false;
  };
  return add(schema) && types.size > 0 ? types : undefined;
}

const valuesOfType: Record<string, fc.Arbitrary<unknown>> = {
  string: fc.oneof(
    fc.constantFrom('12', 'true', 'null', '', '{}'),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
  ),
  number: fc
    .constantFrom('0', '1', '-1', '1.5', '1e400', '-0', '100000000000000000000000000000')
    .map(raw),
  boolean: fc.boolean(),
  null: fc.constant(null),
  object: fc.constantFrom({}, { value: 1 }, { '': null }),
  array: fc.constantFrom([], ['x'], [1, 2], [[]]),
};

function wrongType(schema: JsonSchema): fc.Arbitrary<InvalidValue> | undefined {
  const allowed = allowedTypes(schema);
  if (!allowed) return undefined;
  const wrong = Object.keys(valuesOfType).filter((type) => !allowed.has(type));
  if (wrong.length === 0) return undefined;
  return fc
    .constantFrom(...wrong)
    .chain((type) => valuesOfType[type]!.map((value) => ({ kind: `wrong_type:${type}`, value })));
}

/** The first object-ish branch's constraints: `anyOf [{type: string, minLength…}, {type: null}]` → the string branch. */
function constraintsOf(schema: JsonSchema): JsonSchema {
  const branches = schema.anyOf ?? schema.oneOf;
  return branches?.find((branch) => branch.type !== 'null') ?? schema;
}

function outsideEnum(schema: JsonSchema): fc.Arbitrary<InvalidValue> | undefined {
  const values = constraintsOf(schema).enum?.filter(
    (value): value is string => typeof value === 'string',
  );
  if (!values || values.length === 0) return undefined;
  const near = values.flatMap((value) => [
    value.toUpperCase(),
    ` ${value}`,
    `${value}\u200b`,
    value.replace(/[a-z]/, 'ı'),
    `${value}s`,
  ]);
  return fc
    .oneof(
      fc.constantFrom('', 'fuzz', '🙂', ...near),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).map((text) => `x_${text}`),
    )
    .filter((value) => !values.includes(value))
    .map((value) => ({ kind: 'enum', value }));
}

function outsideBounds(schema: JsonSchema): fc.Arbitrary<InvalidValue> | undefined {
  const node = constraintsOf(schema);
  const options: fc.Arbitrary<InvalidValue>[] = [];
  if (node.minLength !== undefined && node.minLength > 0)
    options.push(fc.constant({ kind: 'too_short', value: 'x'.repeat(node.minLength - 1) }));
  if (node.maxLength !== undefined) {
    options.push(
      fc
        .integer({ min: 1, max: 50 })
        .map((extra) => ({ kind: 'too_long', value: 'é'.repeat(node.maxLength! + extra) })),
    );
  }
  if (node.minItems !== undefined && node.minItems > 0)
    options.push(fc.constant({ kind: 'too_few_items', value: [] }));
  if (node.maxItems !== undefined) {
    options.push(
      fc.constant({
        kind: 'too_many_items',
        value: Array.from({ length: node.maxItems + 1 }, (_, index) => `fuzz_${index}`),
      }),
    );
  }
  return options.length > 0 ? fc.oneof(...options) : undefined;
}

// ---- by meaning -------------------------------------------------------------------------------

const digits = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

/** Decimal text the service must refuse: more than 12 places, more than 26 integer digits, or out of range. */
const badDecimalText = fc.oneof(
  fc
    .tuple(fc.nat(9999), digits(12, 20), fc.constantFrom(...'123456789'))
    .map(([whole, fraction, last]) => ({
      kind: 'decimal_places',
      text: `${whole}.${fraction}${last}`,
    })),
  fc
    .tuple(fc.constantFrom(...'123456789'), digits(26, 40))
    .map(([first, rest]) => ({ kind: 'decimal_too_large', text: `${first}${rest}` })),
  fc
    .constantFrom(
      '1e27',
      '1e400',
      '1e-13',
      '0.0000000000001',
      '1.0000000000001',
      '123456789012345678901234567.5',
      '9.99999999999999999',
    )
    .map((text) => ({ kind: 'decimal_edge', text })),
);

/** Positive-amount fields: also zero and negatives. */
const badPositiveText = fc.oneof(
  badDecimalText,
  fc
    .constantFrom('0', '-0', '0.000', '-1', '-0.5', '-1e2', '0e10')
    .map((text) => ({ kind: 'not_positive', text })),
);
/** Fields that refuse negatives but accept zero. */
const badNonNegativeText = fc.oneof(
  badDecimalText,
  fc.constantFrom('-1', '-0.000000000001', '-1e2').map((text) => ({ kind: 'negative', text })),
);

const notADecimalString = fc
  .constantFrom(
    'abc',
    '',
    ' ',
    'NaN',
    'Infinity',
    '-Infinity',
    '0x10',
    '1,5',
    '1.',
    '.5',
    '١٢',
    '１０',
    '10 credits',
    '1e',
    '--1',
    '1_000',
  )
  .map((value) => ({ kind: 'not_a_decimal', value }));

function decimalArbitrary(
  types: Set<string>,
  bad: fc.Arbitrary<{ kind: string; text: string }>,
): fc.Arbitrary<InvalidValue> {
  const options: fc.Arbitrary<InvalidValue>[] = [];
  if (types.has('number')) options.push(bad.map(({ kind, text }) => ({ kind, value: raw(text) })));
  if (types.has('string'))
    options.push(
      bad.map(({ kind, text }) => ({ kind, value: text })),
      notADecimalString,
    );
  return fc.oneof(...options);
}

/** Not an ISO 8601 date nor date-time, in any form the service accepts. */
const badDate = fc
  .oneof(
    fc.constantFrom(
      '2026-13-01',
      '2026-02-30',
      '2026-00-10',
      '2026-12-28T25:00:00Z',
      '2026-12-28T10:61:00Z',
      '2026-12-28T10:00:00+25:00',
      '2026-12-28T10:00:00 Mars/Olympus',
      '2026-12-28T10:00:00[Europe/Nowhere]',
      'tomorrow',
      '',
      '12/28/2026',
      '28.12.2026',
      '２０２６-１２-２８',
      '2026-12-28ZZ',
      '2026-W99-9',
      '0000-00-00',
    ),
    fc.string({ unit: 'grapheme', maxLength: 16 }).map((text) => `x${text}`),
  )
  .map((value) => ({ kind: 'date', value }));

/** Fields that take a date-time only: a date alone is refused too. */
const badDateTime = fc.oneof(
  badDate,
  fc
    .constantFrom('2026-12-28', '2026-12-28T', 'T10:00:00Z')
    .map((value) => ({ kind: 'date_not_date_time', value })),
);
/** payment_received_date: a date only. */
const badDateOnly = fc.oneof(
  badDate,
  fc
    .constantFrom('2026-12-28T00:00:00Z', '20261228', '2026-1-5')
    .map((value) => ({ kind: 'date_time_not_date', value })),
);

const badTimezone = fc
  .oneof(
    fc.constantFrom(
      'Mars/Olympus',
      'UTC+25',
      'America/Los Angeles',
      '',
      'America/Los_Angeles/x',
      'GMT+99',
      'Europe/Zürich',
    ),
    fc.string({ unit: 'grapheme', maxLength: 12 }).map((text) => `Nowhere/${text}`),
  )
  .map((value) => ({ kind: 'timezone', value }));

const badCurrencyCode = fc
  .constantFrom('usd', 'US', 'USDX', '12A', '', 'ÜSD', 'ＵＳＤ', ' USD', 'U$D')
  .map((value) => ({ kind: 'currency_code', value }));
const badEmail = fc
  .constantFrom(
    'not-an-email',
    '',
    'a@',
    '@example.com',
    'a b@example.com',
    'a@b',
    'ü@ü',
    'a@@b.co',
  )
  .map((value) => ({ kind: 'email', value }));
const badInteger = fc
  .constantFrom('1.5', '9007199254740993', '1e400', '-0.5', '2.0000000000001')
  .map((text) => ({ kind: 'not_an_integer', value: raw(text) }));

/** Field name → what its meaning refuses. `types` is what the schema admits there. */
function byMeaning(name: string, types: Set<string>): fc.Arbitrary<InvalidValue> | undefined {
  switch (name) {
    case 'amount':
      return decimalArbitrary(types, badPositiveText);
    case 'per_unit_cost_basis':
    case 'unit_amount':
      return decimalArbitrary(types, badNonNegativeText);
    case 'threshold':
      return decimalArbitrary(types, badDecimalText);
    case 'expiry_date':
    case 'effective_date':
    case 'target_expiry_date':
    case 'invoice_date':
    case 'custom_due_date':
      return badDate;
    case 'timeframe_start':
    case 'timeframe_end':
    case 'timestamp':
      return badDateTime;
    case 'to':
      return fc.oneof(
        badDateTime,
        fc
          .constantFrom('2000-01-01T00:00:00Z', '1970-01-01T00:00:00Z')
          .map((value) => ({ kind: 'clock_backwards', value })),
      );
    case 'payment_received_date':
      return badDateOnly;
    case 'timezone':
      return badTimezone;
    case 'net_terms':
      return badInteger;
    case 'expires_after':
      return fc.oneof(
        badInteger,
        fc.constantFrom('0', '-1').map((text) => ({ kind: 'not_positive', value: raw(text) })),
      );
    case 'values':
      return fc.constant({ kind: 'duplicate_values', value: ['item', 'item'] });
    case 'properties':
      return fc
        .constantFrom({ nested: { n: 1 } }, { list: [1] }, { nothing: null })
        .map((value) => ({ kind: 'nested_property', value }));
    case 'customer_id':
      // Only inside ingest events: an unknown customer id is reported in validation_failed.
      return fc
        .string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 8, maxLength: 16 })
        .map((hex) => ({ kind: 'unknown_customer', value: `fuzz_unknown_${hex}` }));
    default:
      return undefined;
  }
}

/**
 * An arbitrary of invalid values for a field named `name` with schema `schema`, or undefined when
 * the fuzzer knows none. `meaningful` is false for fields whose name means something else on this
 * route (the caller decides).
 */
export function invalidValueArbitrary(
  name: string,
  schema: JsonSchema,
): fc.Arbitrary<InvalidValue> | undefined {
  const types = allowedTypes(schema) ?? new Set<string>();
  const node = constraintsOf(schema);
  const options = [
    wrongType(schema),
    outsideEnum(schema),
    outsideBounds(schema),
    node.format === 'email' ? badEmail : undefined,
    name === 'currency' && node.pattern ? badCurrencyCode : undefined,
    byMeaning(name, types),
  ].filter((option): option is fc.Arbitrary<InvalidValue> => option !== undefined);
  return options.length > 0 ? fc.oneof(...options) : undefined;
}

/** A string that holds U+0000, which Postgres cannot store. */
export const nulString = fc.string({ maxLength: 4 }).map((text) => `${text}\u0000${text}`);
