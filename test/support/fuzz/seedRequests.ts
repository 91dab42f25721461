/**
 * One or more well-formed requests per route the service serves, built on the fuzz fixture: the
 * starting points that malformedRequests.ts mutates, so that most mutations get past routing and
 * auth deep into validation. A seed says what may be mutated and how it stays refused:
 * `idParams` may be replaced by ids that name nothing; `foreignIds` are real ids of the wrong kind
 * or of the other customer; `badQuery` lists query values each refused alone; `ruleBreaks` are
 * well-formed requests that break a ledger rule (another customer's block, a currency the customer
 * is not invoiced in…) and must be refused as they are. Routes whose well-formed request would
 * change something with no mutation (void an invoice, archive a price, deprecate an event, delete a
 * top-up, create an alert or a webhook endpoint, enable or delete either…) are seeded with ids that
 * name nothing, someone else's resource, a duplicate, or a URL the service refuses.
 */
import { AMOUNT_LIKE_METADATA, FIXTURE_DROPPED_ALERT, type FuzzFixture } from './fuzzFixture.ts';
import type { JsonSchema } from './invalidValues.ts';

export interface RuleBreak {
  name: string;
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

export interface SeedRequest {
  /** The OpenAPI operation: `METHOD /path/{param}`. */
  route: string;
  /** Which body variant (ledger entry types), for the report. */
  variant?: string;
  /** Path parameters, already percent-encoded. */
  params: Record<string, string>;
  idParams: string[];
  foreignIds?: Record<string, string[]>;
  /** Query values, already percent-encoded. */
  query?: Record<string, string>;
  badQuery?: Record<string, string[]>;
  body?: unknown;
  /** Replaces the OpenAPI document's body schema (ingest: its events are `unknown` there). */
  bodySchema?: JsonSchema;
  /** Arrays whose every element is mutated together (ingest events: each must be refused). */
  everyElement?: boolean;
  /** The route reads Idempotency-Key before it writes anything. */
  readsIdempotencyKey?: boolean;
  /** Served without an API key. */
  public?: boolean;
  /** Ingest answers 200 listing refused events: refused means every event is listed. */
  ingest?: boolean;
  ruleBreaks?: RuleBreak[];
}

const e = encodeURIComponent;
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

const LIMIT_BAD = [
  '0',
  '-1',
  'abc',
  '1.5',
  'NaN',
  e('１０'),
  '100000',
  '99999999999999999999999',
  e(' '),
  'Infinity',
];
const KEYSET_CURSOR_BAD = ['!!!', 'garbage', b64('not-a-date|x'), b64('2026-01-01'), e('é'), '%00'];
const SEQ_CURSOR_BAD = [
  '!!!',
  'garbage',
  b64('-1'),
  b64('12a'),
  b64('99999999999999999999'),
  b64('9999999999999999999'),
  '%00',
];
const DATE_TIME_BAD = [
  e('2026-01-01'),
  'tomorrow',
  e('2026-13-01T00:00:00Z'),
  e('2026-12-28T10:00:00+25:00'),
  '%00',
  e('１'),
];
const range = (prefix: string) =>
  Object.fromEntries(
    ['gt', 'gte', 'lt', 'lte'].map((op) => [e(`${prefix}[${op}]`), DATE_TIME_BAD]),
  );

/** The same seed under `/v1/customers/{customer_id}…` and `/v1/customers/external_customer_id/{external_customer_id}…`. */
function bothForms(
  method: string,
  suffix: string,
  customer: { id: string; externalId: string },
  seed: Omit<SeedRequest, 'route' | 'params' | 'idParams'> & {
    params?: Record<string, string>;
    idParams?: string[];
  },
): SeedRequest[] {
  return [
    {
      ...seed,
      route: `${method} /v1/customers/{customer_id}${suffix}`,
      params: { customer_id: e(customer.id), ...seed.params },
      idParams: ['customer_id', ...(seed.idParams ?? [])],
    },
    {
      ...seed,
      route: `${method} /v1/customers/external_customer_id/{external_customer_id}${suffix}`,
      params: { external_customer_id: e(customer.externalId), ...seed.params },
      idParams: ['external_customer_id', ...(seed.idParams ?? [])],
    },
  ];
}

const EVENT_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    idempotency_key: { type: 'string', minLength: 1, maxLength: 255 },
    event_name: { type: 'string', minLength: 1, maxLength: 500 },
    timestamp: { type: 'string' },
    properties: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
    customer_id: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'null' }] },
    external_customer_id: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'null' }] },
  },
  required: ['idempotency_key', 'event_name', 'timestamp', 'properties'],
  additionalProperties: false,
};
const INGEST_SCHEMA: JsonSchema = {
  type: 'object',
  properties: { events: { type: 'array', items: EVENT_SCHEMA } },
  required: ['events'],
  additionalProperties: false,
};

function ledgerEntrySeeds(f: FuzzFixture): SeedRequest[] {
  const [a, b] = [f.a, f.b];
  const bBlock = b.expiringBlockId;
  const variants: [string, Record<string, unknown>][] = [
    [
      'increment',
      {
        entry_type: 'increment',
        amount: 12.5,
        expiry_date: '2032-02-02',
        effective_date: null,
        per_unit_cost_basis: '0.25',
        invoice_settings: { auto_collection: false, net_terms: 15, memo: 'fuzz' },
        filters: [{ field: 'item_id', operator: 'includes', values: ['fuzz_item'] }],
        metadata: { source: 'fuzz', ...AMOUNT_LIKE_METADATA },
        description: 'fuzz',
      },
    ],
    [
      'decrement',
      {
        entry_type: 'decrement',
        amount: 0.5,
        currency: 'credits',
        description: 'fuzz',
        metadata: AMOUNT_LIKE_METADATA,
      },
    ],
    [
      'expiration_change',
      {
        entry_type: 'expiration_change',
        block_id: a.expiringBlockId,
        amount: 1,
        target_expiry_date: '2033-03-03',
      },
    ],
    ['void', { entry_type: 'void', block_id: a.expiringBlockId, amount: 1, void_reason: 'refund' }],
    [
      'amendment',
      { entry_type: 'amendment', block_id: a.expiringBlockId, amount: 1, description: 'fuzz' },
    ],
  ];
  const ruleBreaks: RuleBreak[] = [
    {
      name: 'void_other_customers_block',
      body: { entry_type: 'void', block_id: bBlock, amount: 1 },
    },
    {
      name: 'amend_other_customers_block',
      body: { entry_type: 'amendment', block_id: bBlock, amount: 1 },
    },
    {
      name: 'move_other_customers_block',
      body: { entry_type: 'expiration_change', block_id: bBlock, target_expiry_date: '2034-01-01' },
    },
    {
      name: 'move_other_customers_expiry',
      body: {
        entry_type: 'expiration_change',
        expiry_date: b.expiryDate,
        target_expiry_date: '2034-01-01',
      },
    },
    {
      name: 'void_unknown_block',
      body: { entry_type: 'void', block_id: 'blk_fuzz_unknown', amount: 1 },
    },
    {
      name: 'void_more_than_balance',
      body: { entry_type: 'void', block_id: a.expiringBlockId, amount: 1e20 },
    },
    {
      name: 'move_expiry_into_past',
      body: {
        entry_type: 'expiration_change',
        block_id: a.expiringBlockId,
        target_expiry_date: '2001-01-01',
      },
    },
    {
      name: 'move_more_than_balance',
      body: {
        entry_type: 'expiration_change',
        block_id: a.expiringBlockId,
        amount: 1e20,
        target_expiry_date: '2034-01-01',
      },
    },
    {
      name: 'currency_not_invoiced',
      body: { entry_type: 'decrement', amount: 1, currency: 'EUR' },
    },
    {
      name: 'cost_basis_without_invoice',
      body: { entry_type: 'increment', amount: 1, per_unit_cost_basis: '0.5' },
    },
    {
      name: 'net_terms_and_due_date',
      body: {
        entry_type: 'increment',
        amount: 1,
        per_unit_cost_basis: '0.5',
        invoice_settings: { auto_collection: false, net_terms: 30, custom_due_date: '2026-12-01' },
      },
    },
  ];
  const seeds = variants.flatMap(([variant, body]) =>
    bothForms('POST', '/credits/ledger_entry', a, {
      variant,
      body,
      readsIdempotencyKey: true,
      ruleBreaks,
    }),
  );
  // B has no invoicing currency, and A's blocks are not B's.
  const bBreaks: RuleBreak[] = [
    { name: 'invoice_without_currency', body: variants[0]![1] },
    {
      name: 'void_other_customers_block',
      body: { entry_type: 'void', block_id: a.expiringBlockId, amount: 1 },
    },
    {
      name: 'amend_other_customers_block',
      body: { entry_type: 'amendment', block_id: a.blockIds[0], amount: 1 },
    },
  ];
  return [
    ...seeds,
    ...bothForms('POST', '/credits/ledger_entry', b, {
      variant: 'customer_b',
      body: bBreaks[0]!.body,
      ruleBreaks: bBreaks,
      readsIdempotencyKey: true,
    }),
  ];
}

function customerSeeds(f: FuzzFixture): SeedRequest[] {
  const create = {
    name: 'Fuzz new',
    email: 'fuzz-new@example.com',
    external_customer_id: 'fuzz-new-customer',
    timezone: 'Europe/Paris',
    currency: 'EUR',
    metadata: { tier: 'gold', ...AMOUNT_LIKE_METADATA },
    additional_emails: ['x@example.com'],
    payment_provider: 'stripe_charge',
    shipping_address: null,
  };
  return [
    {
      route: 'POST /v1/customers',
      params: {},
      idParams: [],
      body: create,
      readsIdempotencyKey: true,
      ruleBreaks: [
        {
          name: 'duplicate_external_id',
          body: { ...create, external_customer_id: f.a.externalId },
        },
      ],
    },
    {
      route: 'GET /v1/customers',
      params: {},
      idParams: [],
      query: { limit: '5' },
      badQuery: { limit: LIMIT_BAD, cursor: KEYSET_CURSOR_BAD, ...range('created_at') },
    },
    {
      route: 'GET /v1/customers/{customer_id}',
      params: { customer_id: e(f.a.id) },
      idParams: ['customer_id'],
    },
    {
      route: 'GET /v1/customers/external_customer_id/{external_customer_id}',
      params: { external_customer_id: e(f.b.externalId) },
      idParams: ['external_customer_id'],
      foreignIds: { external_customer_id: [e(f.a.id)] },
    },
  ];
}

function creditSeeds(f: FuzzFixture): SeedRequest[] {
  const ledgerQuery = {
    limit: LIMIT_BAD,
    cursor: SEQ_CURSOR_BAD,
    entry_type: ['incrementt', 'INCREMENT', e('décrement'), '%00'],
    entry_status: ['done', 'Pending', e('committed ')],
    minimum_amount: ['-1', 'abc', e('1e5'), e('1.'), '%00'],
    currency: ['%00', `x%00`],
    ...range('created_at'),
  };
  const creditsQuery = {
    limit: LIMIT_BAD,
    cursor: KEYSET_CURSOR_BAD,
    include_all_blocks: ['yes', '1', 'TRUE'],
    currency: ['%00'],
    ...range('effective_date'),
  };
  return [
    ...bothForms('GET', '/credits/ledger', f.a, {
      query: { limit: '3', entry_type: 'increment' },
      badQuery: ledgerQuery,
    }),
    ...bothForms('GET', '/credits', f.b, {
      query: { include_all_blocks: 'true' },
      badQuery: creditsQuery,
    }),
    {
      route: 'GET /v1/credit_blocks/{block_id}',
      params: { block_id: e(f.a.blockIds[0]!) },
      idParams: ['block_id'],
      foreignIds: { block_id: [e(f.a.id), e(f.invoiceId)] },
    },
    {
      route: 'GET /v1/ledger_requests/{request_id}',
      params: { request_id: e(f.ledgerRequestId) },
      idParams: ['request_id'],
      foreignIds: { request_id: [e(f.balanceRequestId), e(f.a.id)] },
    },
  ];
}

function balanceSeeds(f: FuzzFixture): SeedRequest[] {
  const body = { amount: '12.5', type: 'increment', description: 'fuzz' };
  return [
    ...bothForms('POST', '/balance_transactions', f.a, {
      body,
      readsIdempotencyKey: true,
      ruleBreaks: [],
    }),
    ...bothForms('POST', '/balance_transactions', f.b, {
      variant: 'customer_b',
      body,
      readsIdempotencyKey: true,
      ruleBreaks: [{ name: 'no_invoicing_currency', body }],
    }),
    ...bothForms('GET', '/balance_transactions', f.a, {
      query: { limit: '2' },
      badQuery: { limit: LIMIT_BAD, cursor: SEQ_CURSOR_BAD, ...range('operation_time') },
    }),
    {
      route: 'GET /v1/balance_transaction_requests/{request_id}',
      params: { request_id: e(f.balanceRequestId) },
      idParams: ['request_id'],
      foreignIds: { request_id: [e(f.ledgerRequestId)] },
    },
  ];
}

function topUpSeeds(f: FuzzFixture): SeedRequest[] {
  const body = {
    currency: 'credits',
    threshold: '5',
    amount: '50',
    per_unit_cost_basis: '0.2',
    invoice_settings: { auto_collection: false, net_terms: 10, memo: 'fuzz' },
    expires_after: 30,
    expires_after_unit: 'day',
  };
  const ruleBreaks: RuleBreak[] = [
    { name: 'currency_not_invoiced', body: { ...body, currency: 'EUR' } },
    { name: 'expires_after_without_unit', body: { ...body, expires_after_unit: null } },
    { name: 'unit_without_expires_after', body: { ...body, expires_after: null } },
    {
      name: 'total_needs_more_places',
      body: { ...body, amount: '0.0000001', per_unit_cost_basis: '0.0000001' },
    },
  ];
  return [
    ...bothForms('POST', '/credits/top_ups', f.a, { body, readsIdempotencyKey: true, ruleBreaks }),
    ...bothForms('POST', '/credits/top_ups', f.b, {
      variant: 'customer_b',
      body,
      readsIdempotencyKey: true,
      ruleBreaks: [{ name: 'no_invoicing_currency', body }],
    }),
    ...bothForms('GET', '/credits/top_ups', f.a, {
      query: { limit: '1' },
      badQuery: { limit: LIMIT_BAD, cursor: KEYSET_CURSOR_BAD },
    }),
    // Deleting is always refused here: B's route with A's top-up, or ids that name nothing.
    ...bothForms('DELETE', '/credits/top_ups/{top_up_id}', f.b, {
      params: { top_up_id: e(f.topUpId) },
      idParams: ['top_up_id'],
      readsIdempotencyKey: true,
    }),
  ];
}

function eventSeeds(f: FuzzFixture): SeedRequest[] {
  const at = new Date(new Date(f.now).getTime() - 60_000).toISOString();
  const event = (index: number) => ({
    idempotency_key: `fuzz-new-event-${index}`,
    event_name: f.usageEventName,
    timestamp: at,
    customer_id: f.a.id,
    properties: { n: 1, region: 'eu' },
  });
  return [
    {
      route: 'POST /v1/ingest',
      params: {},
      idParams: [],
      body: { events: [event(1), event(2)] },
      bodySchema: INGEST_SCHEMA,
      everyElement: true,
      ingest: true,
    },
    {
      route: 'POST /v1/events/search',
      params: {},
      idParams: [],
      body: {
        event_ids: [f.appliedEventId, f.awaitingEventId],
        timeframe_start: '2026-01-01T00:00:00Z',
        timeframe_end: null,
      },
      ruleBreaks: [
        {
          name: 'timeframe_inverted',
          body: {
            event_ids: [f.appliedEventId],
            timeframe_start: '2026-02-01T00:00:00Z',
            timeframe_end: '2026-01-01T00:00:00Z',
          },
        },
        {
          name: 'timeframe_empty',
          body: {
            event_ids: [f.appliedEventId],
            timeframe_start: '2026-01-01T00:00:00Z',
            timeframe_end: '2026-01-01T00:00:00Z',
          },
        },
      ],
    },
    // Deprecating the applied event would be valid: only the kept one (no customer) and unknown ids.
    {
      route: 'PUT /v1/events/{event_id}/deprecate',
      params: { event_id: e(f.awaitingEventId) },
      idParams: ['event_id'],
      foreignIds: { event_id: [e(f.a.id), e(f.ledgerRequestId)] },
      readsIdempotencyKey: true,
    },
  ];
}

function invoiceAndPriceSeeds(f: FuzzFixture): SeedRequest[] {
  const price = {
    name: 'fuzz price',
    event_name: 'fuzz_new_event',
    item_id: 'fuzz_item',
    unit_amount: '0.002',
    quantity_property: 'n',
    currency: 'credits',
  };
  return [
    {
      route: 'GET /v1/invoices/{invoice_id}',
      params: { invoice_id: e(f.invoiceId) },
      idParams: ['invoice_id'],
      foreignIds: { invoice_id: [e(f.a.id), e(f.a.blockIds[0]!)] },
    },
    {
      route: 'POST /v1/invoices/{invoice_id}/mark_paid',
      params: { invoice_id: e(f.invoiceId) },
      idParams: ['invoice_id'],
      foreignIds: { invoice_id: [e(f.a.id), e(f.topUpId)] },
      body: { payment_received_date: '2026-03-01', external_id: 'fuzz', notes: 'fuzz' },
      readsIdempotencyKey: true,
    },
    {
      route: 'POST /v1/invoices/{invoice_id}/void',
      params: { invoice_id: 'inv_fuzz_unknown' },
      idParams: ['invoice_id'],
      foreignIds: { invoice_id: [e(f.a.id), e(f.a.blockIds[0]!), e(f.ledgerRequestId)] },
      readsIdempotencyKey: true,
    },
    {
      route: 'POST /v1/usage_prices',
      params: {},
      idParams: [],
      body: price,
      readsIdempotencyKey: true,
      ruleBreaks: [
        { name: 'duplicate_live_event_name', body: { ...price, event_name: f.usageEventName } },
      ],
    },
    {
      route: 'GET /v1/usage_prices',
      params: {},
      idParams: [],
      query: { limit: '10' },
      badQuery: {
        limit: LIMIT_BAD,
        cursor: KEYSET_CURSOR_BAD,
        include_archived: ['yes', '1', 'True'],
        event_name: [e('x'.repeat(501))],
      },
    },
    {
      route: 'GET /v1/usage_prices/{price_id}',
      params: { price_id: e(f.usagePriceId) },
      idParams: ['price_id'],
      foreignIds: { price_id: [e(f.a.id)] },
    },
    {
      route: 'POST /v1/usage_prices/{price_id}/archive',
      params: { price_id: 'price_fuzz_unknown' },
      idParams: ['price_id'],
      foreignIds: { price_id: [e(f.a.id), e(f.invoiceId)] },
    },
  ];
}

/** Ids the fixture never makes, shaped like the service's own (16 base62 characters). */
const UNKNOWN_ALERT_ID = 'fuzzUnknownAlert';
const UNKNOWN_ENDPOINT_ID = 'fuzzUnknownHook0';
const UNKNOWN_DELIVERY_ID = 'fuzzUnknownDelivery0';

function alertSeeds(f: FuzzFixture): SeedRequest[] {
  const { aDropped, aDepleted } = f.alerts;
  // Both customers have FIXTURE_DROPPED_ALERT: creating it again is refused (alert_exists).
  const create = { ...FIXTURE_DROPPED_ALERT, thresholds: [{ value: 5 }, { value: '2.5' }] };
  // Refused by the api whatever the customer has (in USD, where no alert exists, so that one let
  // through would show as a new row).
  const createBreaks: RuleBreak[] = [
    {
      name: 'depleted_with_threshold',
      body: { currency: 'USD', type: 'credit_balance_depleted', thresholds: [{ value: 10 }] },
    },
    {
      name: 'recovered_with_threshold',
      body: { currency: 'USD', type: 'credit_balance_recovered', thresholds: [{ value: '-1' }] },
    },
    {
      name: 'dropped_without_thresholds',
      body: { currency: 'USD', type: 'credit_balance_dropped', thresholds: [] },
    },
    {
      name: 'dropped_null_thresholds',
      body: { currency: 'USD', type: 'credit_balance_dropped', thresholds: null },
    },
    {
      name: 'threshold_decimal_places',
      body: { ...create, currency: 'USD', thresholds: [{ value: '0.0000000000001' }] },
    },
    {
      name: 'threshold_integer_digits',
      body: { ...create, currency: 'USD', thresholds: [{ value: '1'.repeat(27) }] },
    },
    {
      name: 'threshold_exponent',
      body: { ...create, currency: 'USD', thresholds: [{ value: '1e3' }] },
    },
    {
      name: 'too_many_thresholds',
      body: {
        ...create,
        currency: 'USD',
        thresholds: Array.from({ length: 101 }, (_, i) => ({ value: i + 1 })),
      },
    },
    {
      name: 'subscription_alert_type',
      body: { currency: 'USD', type: 'usage_exceeded', thresholds: [{ value: 10 }] },
    },
  ];
  const write = { readsIdempotencyKey: true, ruleBreaks: createBreaks };
  const byId = (route: string, alertId: string, extra: Partial<SeedRequest> = {}): SeedRequest => ({
    route,
    params: { alert_configuration_id: e(alertId) },
    idParams: ['alert_configuration_id'],
    foreignIds: {
      alert_configuration_id: [e(f.a.id), e(f.webhookEndpointId), e(f.ledgerRequestId)],
    },
    ...extra,
  });
  // Enabling, disabling or deleting a real alert commits: only ids that name nothing.
  const toggle = (action: string): SeedRequest =>
    byId(`POST /v1/alerts/{alert_configuration_id}/${action}`, UNKNOWN_ALERT_ID, {
      readsIdempotencyKey: true,
      badQuery: { subscription_id: ['sub_fuzz', e('客户')] },
    });
  return [
    {
      ...write,
      route: 'POST /v1/alerts/customer_id/{customer_id}',
      params: { customer_id: e(f.a.id) },
      idParams: ['customer_id'],
      foreignIds: { customer_id: [e(f.b.id), e(f.a.externalId)] },
      body: create,
      ruleBreaks: [
        ...createBreaks,
        // A has a depleted alert too (B does not).
        {
          name: 'duplicate_depleted',
          body: { currency: 'credits', type: 'credit_balance_depleted' },
        },
      ],
    },
    {
      ...write,
      route: 'POST /v1/alerts/external_customer_id/{external_customer_id}',
      params: { external_customer_id: e(f.b.externalId) },
      idParams: ['external_customer_id'],
      foreignIds: { external_customer_id: [e(f.a.externalId), e(f.b.id)] },
      body: create,
    },
    {
      route: 'POST /v1/alerts/subscription_id/{subscription_id}',
      params: { subscription_id: 'sub_fuzz' },
      idParams: ['subscription_id'],
      body: { currency: 'USD', type: 'usage_exceeded', thresholds: [{ value: 10 }] },
    },
    {
      route: 'GET /v1/alerts',
      params: {},
      idParams: [],
      query: { limit: '5', customer_id: e(f.a.id) },
      badQuery: {
        limit: LIMIT_BAD,
        cursor: KEYSET_CURSOR_BAD,
        ...range('created_at'),
        subscription_id: ['sub_fuzz'],
        customer_id: ['does_not_exist', '%00', e(f.a.externalId)],
        // The seed filters by A: B's external id names another customer.
        external_customer_id: [e(f.b.externalId), 'does_not_exist', '%00'],
      },
    },
    byId('GET /v1/alerts/{alert_configuration_id}', aDropped),
    // A depleted alert watches 0 only: the worker refuses these thresholds (alert_thresholds_invalid).
    byId('PUT /v1/alerts/{alert_configuration_id}', aDepleted, {
      body: { thresholds: [{ value: 5 }], price_filters: null, threshold_overrides: null },
      readsIdempotencyKey: true,
      ruleBreaks: [
        {
          name: 'dropped_without_thresholds',
          params: { alert_configuration_id: e(aDropped) },
          body: { thresholds: [] },
        },
        {
          name: 'threshold_decimal_places',
          params: { alert_configuration_id: e(aDropped) },
          body: { thresholds: [{ value: 1 }, { value: '0.0000000000001' }] },
        },
      ],
    }),
    byId('DELETE /v1/alerts/{alert_configuration_id}', UNKNOWN_ALERT_ID, {
      readsIdempotencyKey: true,
    }),
    toggle('enable'),
    toggle('disable'),
  ];
}

/** Cursors of the events feed (`txid:seq`) that no page gave out, or out of their types' range. */
const EVENT_CURSOR_BAD = [
  '!!!',
  'garbage',
  b64('1'),
  b64('x:1'),
  b64('1:-1'),
  b64('1:1:1'),
  b64('123456789012345678901:1'),
  b64('99999999999999999999:1'),
  b64('1:9999999999999999999'),
  '%00',
];
/** The delivery log's `seq` cursor, including one past bigint. */
const DELIVERY_CURSOR_BAD = [...SEQ_CURSOR_BAD, b64('9999999999999999999')];
/** URLs the endpoints API refuses: private, loopback, link-local, unresolvable. */
const REFUSED_URLS = [
  'http://127.0.0.1:9/fuzz-hook',
  'http://localhost/fuzz-hook',
  'https://10.1.2.3/fuzz-hook',
  'http://169.254.169.254/latest/meta-data',
  'http://[::1]/fuzz-hook',
  'http://[::ffff:127.0.0.1]/fuzz-hook',
  'http://0.0.0.0/fuzz-hook',
  'https://fuzz-hook.invalid/hook',
];

function webhookSeeds(f: FuzzFixture): SeedRequest[] {
  const endpoint = e(f.webhookEndpointId);
  const foreign = [e(f.alerts.aDropped), e(f.a.id), e(f.invoiceId)];
  const endpointSeed = (
    route: string,
    id: string,
    extra: Partial<SeedRequest> = {},
  ): SeedRequest => ({
    route: `${route.split(' ')[0]} /v1/webhook_endpoints/{endpoint_id}${route.split(' ')[1] ?? ''}`,
    params: { endpoint_id: id },
    idParams: ['endpoint_id'],
    foreignIds: { endpoint_id: foreign },
    ...extra,
  });
  // Creating or changing the URL is refused while the URL is a private one (the check is on).
  const body = {
    url: REFUSED_URLS[0],
    description: 'fuzz',
    event_types: ['customer.created', 'resource_event.test'],
    enabled: true,
  };
  const urlBreaks = REFUSED_URLS.slice(1).map((url, index) => ({
    name: `refused_url_${index + 1}`,
    body: { ...body, url },
  }));
  return [
    {
      route: 'POST /v1/webhook_endpoints',
      params: {},
      idParams: [],
      body,
      readsIdempotencyKey: true,
      ruleBreaks: urlBreaks,
    },
    {
      route: 'GET /v1/webhook_endpoints',
      params: {},
      idParams: [],
      query: { limit: '5' },
      badQuery: { limit: LIMIT_BAD, cursor: KEYSET_CURSOR_BAD },
    },
    endpointSeed('GET', endpoint),
    endpointSeed('PUT', endpoint, { body, ruleBreaks: urlBreaks }),
    // Deleting, rotating and testing a real endpoint change it: only ids that name nothing.
    endpointSeed('DELETE', UNKNOWN_ENDPOINT_ID),
    endpointSeed('POST /rotate_secret', UNKNOWN_ENDPOINT_ID, {
      body: { previous_secret_overlap_seconds: 3600 },
    }),
    endpointSeed('POST /test', UNKNOWN_ENDPOINT_ID),
    endpointSeed('GET /deliveries', endpoint, {
      query: { limit: '5', status: 'failed' },
      badQuery: {
        limit: LIMIT_BAD,
        cursor: DELIVERY_CURSOR_BAD,
        status: ['done', 'Failed', e('failed '), '%00'],
      },
    }),
    endpointSeed('POST /deliveries/{delivery_id}/redeliver', endpoint, {
      params: { endpoint_id: endpoint, delivery_id: UNKNOWN_DELIVERY_ID },
      idParams: ['endpoint_id', 'delivery_id'],
      foreignIds: { endpoint_id: foreign, delivery_id: [endpoint, e(f.alerts.aDropped)] },
    }),
    // The fixture's endpoint is disabled and never had a delivery: nothing failed to send again.
    endpointSeed('POST /redeliver_failed', endpoint),
    {
      route: 'GET /v1/webhook_events',
      params: {},
      idParams: [],
      query: { limit: '5', customer_id: e(f.a.id) },
      badQuery: {
        limit: LIMIT_BAD,
        cursor: EVENT_CURSOR_BAD,
        type: ['customer.nope', 'CUSTOMER.CREATED', '%00'],
        customer_id: ['%00'],
        // The seed filters by A: B's external id names another customer.
        external_customer_id: [e(f.b.externalId), 'does_not_exist', '%00'],
      },
    },
  ];
}

function operationSeeds(): SeedRequest[] {
  const plain = (route: string, extra: Partial<SeedRequest> = {}): SeedRequest => ({
    route,
    params: {},
    idParams: [],
    ...extra,
  });
  return [
    plain('GET /v1/ping'),
    plain('GET /health/live', { public: true }),
    plain('GET /health/ready', { public: true }),
    plain('GET /metrics', { public: true }),
    plain('GET /openapi.json', { public: true }),
    plain('GET /docs', { public: true }),
    plain('GET /v1/failed_jobs', {
      query: { limit: '5' },
      badQuery: {
        partition: ['-1', '99', 'abc', '1.5'],
        limit: LIMIT_BAD,
        cursor: ['!!!', b64('1|2'), b64('x|y|z')],
      },
    }),
    plain('GET /v1/test_clock'),
    plain('POST /v1/test_clock/advance', { body: { to: '2099-01-01T00:00:00Z' } }),
  ];
}

export function seedRequests(fixture: FuzzFixture): SeedRequest[] {
  return [
    ...operationSeeds(),
    ...customerSeeds(fixture),
    ...ledgerEntrySeeds(fixture),
    ...creditSeeds(fixture),
    ...balanceSeeds(fixture),
    ...topUpSeeds(fixture),
    ...eventSeeds(fixture),
    ...invoiceAndPriceSeeds(fixture),
    ...alertSeeds(fixture),
    ...webhookSeeds(fixture),
  ];
}
