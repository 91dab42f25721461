/**
 * The world the fuzzer attacks, made through the HTTP API itself: two customers with credit blocks
 * (A with an invoicing currency, an invoice, a top-up, a balance transaction; B without a currency),
 * a usage price, usage events (one applied to A, one kept for an external id no customer has),
 * and one accepted ledger request and balance transaction request to poll. Block expiry dates
 * differ between the customers, so that naming B's expiry on A's routes finds no block.
 * Credit-balance alerts: A has a dropped and a depleted one, B a dropped one like A's (so that
 * creating it again for either customer is a duplicate); they are made last, after every ledger
 * write, so that none fires while the fuzzer runs. One webhook endpoint, made disabled (nothing is
 * ever sent to it, so its delivery log stays empty and still), at a public documentation address
 * (TEST-NET-3) that the private-network check lets by without a DNS lookup.
 * The service must run with CLOCK=manual, so that nothing becomes due while the fuzzer runs.
 * Customers and entries carry metadata whose keys look like Orb's number fields
 * (AMOUNT_LIKE_METADATA): every answer that holds them must return them as stored, never a 500.
 */
import { randomBytes } from 'node:crypto';
import { rawRequest } from './rawRequest.ts';

export interface FixtureCustomer {
  id: string;
  externalId: string;
  /** Every block of the customer, in creation order. */
  blockIds: string[];
  /** A block with an expiry date, and that date (YYYY-MM-DD, unique to this customer). */
  expiringBlockId: string;
  expiryDate: string;
}

export interface FuzzFixture {
  now: string;
  a: FixtureCustomer;
  b: FixtureCustomer;
  invoiceId: string;
  topUpId: string;
  usagePriceId: string;
  usageEventName: string;
  appliedEventId: string;
  awaitingEventId: string;
  ledgerRequestId: string;
  balanceRequestId: string;
  alerts: { aDropped: string; aDepleted: string; bDropped: string };
  webhookEndpointId: string;
}

/** The alert both customers have, so that creating it again is refused as a duplicate. */
export const FIXTURE_DROPPED_ALERT = {
  currency: 'credits',
  type: 'credit_balance_dropped',
  thresholds: [{ value: 10 }],
};

/** Metadata whose keys are Orb number fields' names and whose values are not numbers. */
export const AMOUNT_LIKE_METADATA = {
  amount: 'seven',
  balance: '1e3',
  starting_balance: '',
  ending_balance: '0.10',
  quantity: 'many',
  void_amount: '-0',
  maximum_initial_balance: 'x',
};

type Call = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<any>;

function caller(baseUrl: string, apiKey: string): Call {
  return async (method, path, body, headers = {}) => {
    const response = await rawRequest(baseUrl, {
      method,
      path,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status < 200 || response.status >= 300) {
      throw new Error(
        `fuzz fixture: ${method} ${path} answered ${response.status}: ${response.text.slice(0, 500)}`,
      );
    }
    return response.text ? JSON.parse(response.text) : undefined;
  };
}

async function blocksOf(call: Call, customerId: string): Promise<string[]> {
  const page = await call(
    'GET',
    `/v1/customers/${customerId}/credits?include_all_blocks=true&limit=100`,
  );
  return (page.data as { id: string }[]).map((block) => block.id).sort();
}

async function makeCustomer(
  call: Call,
  tag: string,
  fields: Record<string, unknown>,
  expiryDate: string,
): Promise<FixtureCustomer> {
  const externalId = `fuzz-${tag}-${randomBytes(4).toString('hex')}`;
  const metadata = AMOUNT_LIKE_METADATA;
  const customer = await call('POST', '/v1/customers', {
    name: `Fuzz ${tag}`,
    email: `fuzz-${tag}@example.com`,
    external_customer_id: externalId,
    metadata,
    ...fields,
  });
  const entryPath = `/v1/customers/${customer.id}/credits/ledger_entry`;
  const expiring = await call('POST', entryPath, {
    entry_type: 'increment',
    amount: 100,
    expiry_date: expiryDate,
    description: `${tag} expiring`,
    metadata,
  });
  // Twice with one key: the replay answers the stored entry again.
  const key = { 'idempotency-key': `fuzz-${tag}-${randomBytes(4).toString('hex')}` };
  await call('POST', entryPath, { entry_type: 'increment', amount: 50, metadata }, key);
  await call('POST', entryPath, { entry_type: 'increment', amount: 50, metadata }, key);
  await call('POST', entryPath, {
    entry_type: 'decrement',
    amount: 5.25,
    description: `${tag} spend`,
    metadata,
  });
  await call('GET', `/v1/customers/${customer.id}/credits/ledger?limit=100`);
  return {
    id: customer.id,
    externalId,
    blockIds: [],
    expiringBlockId: expiring.credit_block.id,
    expiryDate,
  };
}

export async function createFuzzFixture(baseUrl: string, apiKey: string): Promise<FuzzFixture> {
  const call = caller(baseUrl, apiKey);
  const { now } = (await call('GET', '/v1/test_clock')) as { now: string };
  const a = await makeCustomer(
    call,
    'a',
    { timezone: 'America/Los_Angeles', currency: 'USD' },
    '2030-01-15',
  );
  const b = await makeCustomer(call, 'b', { timezone: 'Asia/Kolkata' }, '2031-06-30');
  const purchase = await call('POST', `/v1/customers/${a.id}/credits/ledger_entry`, {
    entry_type: 'increment',
    amount: 10,
    per_unit_cost_basis: '0.5',
    invoice_settings: { auto_collection: false, net_terms: 30 },
  });
  const topUp = await call('POST', `/v1/customers/${a.id}/credits/top_ups`, {
    currency: 'credits',
    threshold: '1',
    amount: '100',
    per_unit_cost_basis: '0.1',
    invoice_settings: { auto_collection: false, net_terms: 30 },
  });
  const usageEventName = `fuzz_usage_${randomBytes(4).toString('hex')}`;
  const price = await call('POST', '/v1/usage_prices', {
    name: usageEventName,
    event_name: usageEventName,
    item_id: 'fuzz_item',
    unit_amount: '0.5',
  });
  const at = new Date(new Date(now).getTime() - 3_600_000).toISOString();
  const appliedEventId = `fuzz-applied-${randomBytes(4).toString('hex')}`;
  const awaitingEventId = `fuzz-awaiting-${randomBytes(4).toString('hex')}`;
  const ingested = await call('POST', '/v1/ingest', {
    events: [
      {
        idempotency_key: appliedEventId,
        event_name: usageEventName,
        timestamp: at,
        customer_id: a.id,
        properties: { n: 2 },
      },
      {
        idempotency_key: awaitingEventId,
        event_name: usageEventName,
        timestamp: at,
        external_customer_id: `fuzz-nobody-${randomBytes(4).toString('hex')}`,
        properties: {},
      },
    ],
  });
  if (ingested.validation_failed.length > 0)
    throw new Error(`fuzz fixture: ingest refused ${JSON.stringify(ingested.validation_failed)}`);
  await call('POST', `/v1/customers/${a.id}/balance_transactions`, {
    amount: '10',
    type: 'increment',
    description: 'fuzz',
  });
  const async = { prefer: 'respond-async' };
  const ledgerRequest = await call(
    'POST',
    `/v1/customers/${a.id}/credits/ledger_entry`,
    { entry_type: 'increment', amount: 1, metadata: AMOUNT_LIKE_METADATA },
    async,
  );
  const balanceRequest = await call(
    'POST',
    `/v1/customers/${a.id}/balance_transactions`,
    { amount: '1', type: 'decrement' },
    async,
  );
  for (let attempt = 0; ; attempt += 1) {
    const polled = await call('GET', `/v1/ledger_requests/${ledgerRequest.id}`);
    if (polled.status === 'committed') break;
    if (attempt > 100)
      throw new Error(`fuzz fixture: ledger request ${ledgerRequest.id} is still ${polled.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  a.blockIds = await blocksOf(call, a.id);
  b.blockIds = await blocksOf(call, b.id);
  const alert = async (customerId: string, body: unknown) =>
    ((await call('POST', `/v1/alerts/customer_id/${customerId}`, body)) as { id: string }).id;
  const alerts = {
    aDropped: await alert(a.id, FIXTURE_DROPPED_ALERT),
    aDepleted: await alert(a.id, { currency: 'credits', type: 'credit_balance_depleted' }),
    bDropped: await alert(b.id, FIXTURE_DROPPED_ALERT),
  };
  const endpoint = await call('POST', '/v1/webhook_endpoints', {
    url: 'https://203.0.113.10/fuzz-hook',
    description: 'fuzz',
    event_types: null,
    enabled: false,
  });
  return {
    now,
    a,
    b,
    invoiceId: purchase.created_invoices[0].id,
    topUpId: topUp.id,
    usagePriceId: price.id,
    usageEventName,
    appliedEventId,
    awaitingEventId,
    ledgerRequestId: ledgerRequest.id,
    balanceRequestId: balanceRequest.id,
    alerts,
    webhookEndpointId: endpoint.id,
  };
}
