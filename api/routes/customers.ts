/**
 * Customers (Orb's Customer shape): create, list newest first, get by id or external id.
 * Creation is a plain Postgres write, not a partition job: nothing else touches a customer that
 * does not exist yet. An `Idempotency-Key` replays the first answer.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../worker/clock.ts';
import { newId } from '../../worker/ids.ts';
import { partitionOf } from '../../worker/partition.ts';
import { Customer, type CustomerRow } from '../../worker/store/entities.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { findCustomer, listCustomers } from '../../worker/store/readQueries.ts';
import { customerView } from '../../worker/store/views.ts';
import { customerSchema, customersSchema, toWireCustomer } from '../wire/customer.ts';
import { ApiError } from '../errors.ts';
import { recordCreate, replayCreate, sendCreated } from '../intake/idempotency.ts';
import { customerRequest, type CustomerRequest } from '../schemas/customerRequest.ts';
import type { IngestDeps } from './ingest.ts';
import { customersQuery, decodeKeyset, paginationMetadata, timeRange } from '../schemas/listQueries.ts';

const TIMEZONE_DEFAULT = 'UTC';
/** Bounded work inside a create: a backlog larger than this is rare and stays kept. */
const AWAITING_EVENTS_APPLIED_MAX = 10_000;

function newCustomer(body: CustomerRequest, now: Date): CustomerRow {
  return {
    id: newId(),
    externalCustomerId: body.external_customer_id ?? null,
    name: body.name,
    email: body.email,
    timezone: body.timezone ?? TIMEZONE_DEFAULT,
    currency: body.currency ?? null,
    metadata: body.metadata,
    balance: '0',
    autoCollection: body.auto_collection ?? false,
    emailDelivery: body.email_delivery ?? true,
    paymentProvider: body.payment_provider ?? null,
    paymentProviderId: body.payment_provider_id ?? null,
    additionalEmails: body.additional_emails ?? [],
    createdAt: now,
  };
}

/**
 * Usage that arrived for this customer's external id before the customer existed is applied now,
 * if it is still inside the grace period (older events stay kept but unapplied).
 */
async function applyAwaitingUsage(usage: IngestDeps, customer: CustomerRow, now: Date): Promise<void> {
  if (!customer.externalCustomerId) return;
  const events = await usage.orm.em.fork().execute<{ idempotency_key: string; event_name: string; timestamp: Date | string; properties_text: string }[]>(
    `select idempotency_key, event_name, timestamp, properties::text as properties_text from events
      where status = 'awaiting_customer' and external_customer_id = ? and timestamp >= ?
      order by timestamp limit ?`,
    [customer.externalCustomerId, new Date(now.getTime() - usage.gracePeriod.toMillis()), AWAITING_EVENTS_APPLIED_MAX],
  );
  if (events.length === 0) return;
  await usage.coalescer.submit(
    partitionOf(customer.id, usage.partitions),
    events.map((event) => ({
      idempotency_key: event.idempotency_key,
      customer_id: customer.id,
      external_customer_id: customer.externalCustomerId ?? null,
      event_name: event.event_name,
      timestamp: new Date(event.timestamp).toISOString(),
      // jsonb keeps numbers as numeric, and its text form writes them back digit for digit.
      properties_json: event.properties_text,
    })),
  );
}

export function registerCustomerRoutes(app: FastifyInstance, deps: { orm: Orm; clock: Clock; usage: IngestDeps }): void {
  app.post('/v1/customers', { schema: { summary: 'Create a customer', tags: ['Customers'], body: customerRequest, response: { 201: customerSchema } } }, async (request, reply) => {
    const body = request.body as CustomerRequest;
    const em = deps.orm.em.fork();
    const idempotency = await replayCreate(em, request, reply, '/v1/customers');
    if ('replayed' in idempotency) return idempotency.replayed;
    if (body.external_customer_id && (await findCustomer(em, { externalCustomerId: body.external_customer_id }))) {
      // A concurrent request with the same key may have just made it: that is a replay, not a duplicate.
      const again = await replayCreate(em, request, reply, '/v1/customers');
      if ('replayed' in again) return again.replayed;
      throw new ApiError('duplicate_resource_creation', `A customer with external_customer_id ${body.external_customer_id} already exists.`);
    }
    const now = deps.clock.now();
    const customer = newCustomer(body, now);
    const created = JSON.stringify(toWireCustomer(customerView(customer)));
    // A concurrent create with the same external id loses on its unique index.
    await recordCreate(em, idempotency.fresh, created, now, (tx) => tx.insert(Customer, customer).then(() => undefined), () =>
      new ApiError('duplicate_resource_creation', `A customer with external_customer_id ${body.external_customer_id} already exists.`),
    );
    await applyAwaitingUsage(deps.usage, customer, now);
    return sendCreated(reply, created);
  });

  app.get('/v1/customers', { schema: { summary: 'List customers', tags: ['Customers'], querystring: customersQuery, response: { 200: customersSchema } } }, async (request) => {
    const query = request.query as ReturnType<typeof customersQuery.parse>;
    const page = await listCustomers(deps.orm.em.fork(), {
      limit: query.limit,
      after: decodeKeyset(query.cursor),
      createdAt: timeRange(query, 'created_at'),
    });
    return { data: page.data.map((row) => toWireCustomer(customerView(row))), pagination_metadata: paginationMetadata(page.next) };
  });

  app.get('/v1/customers/:customer_id', { schema: { summary: 'Fetch a customer', tags: ['Customers'], response: { 200: customerSchema } } }, async (request) => {
    const { customer_id: customerId } = request.params as { customer_id: string };
    const row = await findCustomer(deps.orm.em.fork(), { customerId });
    if (!row) throw ApiError.notFound(`Customer with id ${customerId} does not exist.`);
    return toWireCustomer(customerView(row));
  });

  app.get('/v1/customers/external_customer_id/:external_customer_id', { schema: { summary: 'Fetch a customer by external id', tags: ['Customers'], response: { 200: customerSchema } } }, async (request) => {
    const { external_customer_id: externalCustomerId } = request.params as { external_customer_id: string };
    const row = await findCustomer(deps.orm.em.fork(), { externalCustomerId });
    if (!row) throw ApiError.notFound(`Customer with external_customer_id ${externalCustomerId} does not exist.`);
    return toWireCustomer(customerView(row));
  });
}
