/**
 * Customers (Orb's Customer shape): create, list newest first, get by id or external id.
 * Creation is a plain Postgres write, not a partition job: nothing else touches a customer that
 * does not exist yet. An `Idempotency-Key` replays the first answer.
 *
 * `hierarchy` names other customers by Orb id. An unknown one is a 404; Orb's rules are a 400:
 * the parent must not be a child of another customer, a child must not already be part of a
 * hierarchy (no parent, no children), and a new customer is a parent or a child, not both (two
 * levels). Adopted children name the new customer as their parent, so their own answers show it.
 * Customers cannot be updated here (no `PUT /v1/customers/{id}`), so a hierarchy is set at creation.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../worker/runtime/clock.ts';
import { newId } from '../../worker/runtime/ids.ts';
import { partitionOf } from '../../worker/jobs/partition.ts';
import {
  adoptChildren,
  hierarchiesOf,
  hierarchyLinks,
  type HierarchyLink,
} from '../../worker/store/customerHierarchy.ts';
import { Customer, type CustomerRow } from '../../worker/store/entities.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { acceptAwaitingEvents } from '../../worker/store/acceptedEvents.ts';
import { claimExternalCustomerId } from '../../worker/store/customerExternalIds.ts';
import { findCustomer, listCustomers } from '../../worker/store/readQueries.ts';
import { NO_HIERARCHY, type CustomerHierarchyView } from '../../worker/store/views.ts';
import { customerSchema, customersSchema, toWireCustomer } from '../wire/customer.ts';
import type { OutboxWriter } from '../../worker/jobs/webhookEvents.ts';
import { ApiError } from '../errors.ts';
import { recordCreate, replayCreate, sendCreated } from '../intake/idempotency.ts';
import {
  customerRequest,
  type CustomerRequest,
  type HierarchyConfig,
} from '../schemas/customerRequest.ts';
import type { IngestDeps } from './ingest.ts';
import {
  customersQuery,
  decodeKeyset,
  paginationMetadata,
  timeRange,
} from '../schemas/listQueries.ts';

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
    autoIssuance: body.auto_issuance,
    billingAddress: body.billing_address,
    shippingAddress: body.shipping_address,
    taxId: body.tax_id,
    taxConfiguration: body.tax_configuration,
    reportingConfiguration: body.reporting_configuration,
    accountingSyncConfiguration: body.accounting_sync_configuration,
    paymentConfiguration: body.payment_configuration,
    parentCustomerId: body.hierarchy?.parent_customer_id ?? null,
  };
}

const minified = (link: HierarchyLink) => ({
  id: link.id,
  external_customer_id: link.externalCustomerId,
});

/**
 * Checks a create's `hierarchy` against the customers it names (see the module comment) and
 * answers the new customer's hierarchy view. Pure over the links, so that the create runs it
 * twice: before, for its answer, and again on the rows it locked.
 */
function checkHierarchy(
  config: HierarchyConfig | null,
  links: Map<string, HierarchyLink>,
): CustomerHierarchyView {
  if (config === null) return NO_HIERARCHY;
  const { parent_customer_id: parentId, child_customer_ids: childIds } = config;
  if (parentId !== null && childIds.length > 0) {
    throw ApiError.validation(
      'hierarchy: a customer is either a parent or a child; give parent_customer_id or child_customer_ids, not both.',
    );
  }
  const missing = [...(parentId === null ? [] : [parentId]), ...childIds].filter(
    (id) => !links.has(id),
  );
  if (missing.length > 0)
    throw ApiError.notFound(`hierarchy: no customer with id ${missing.join(', ')}.`);
  const parent = parentId === null ? null : links.get(parentId)!;
  if (parent?.parentCustomerId) {
    throw ApiError.validation(
      `hierarchy: customer ${parent.id} is a child of another customer and cannot be a parent.`,
    );
  }
  const children = childIds.map((id) => links.get(id)!);
  const taken = children
    .filter((child) => child.parentCustomerId !== null || child.hasChildren)
    .map((child) => child.id);
  if (taken.length > 0)
    throw ApiError.validation(
      `hierarchy: customer ${taken.join(', ')} is already part of another hierarchy.`,
    );
  return { parent: parent ? minified(parent) : null, children: children.map(minified) };
}

const hierarchyIds = (config: HierarchyConfig | null) =>
  config === null
    ? []
    : [
        ...(config.parent_customer_id === null ? [] : [config.parent_customer_id]),
        ...config.child_customer_ids,
      ];

/**
 * Usage that arrived for this customer's external id before the customer existed is accepted for
 * it now and its partition rung, if it is still inside the grace period (older events stay kept
 * but unapplied).
 */
async function applyAwaitingUsage(
  usage: IngestDeps,
  customer: CustomerRow,
  now: Date,
): Promise<void> {
  if (!customer.externalCustomerId) return;
  const { acceptedSeqMax } = await acceptAwaitingEvents(
    usage.orm.em.fork(),
    customer.externalCustomerId,
    customer.id,
    new Date(now.getTime() - usage.gracePeriod.toMillis()),
    AWAITING_EVENTS_APPLIED_MAX,
  );
  if (acceptedSeqMax === null) return;
  await usage.coalescer.ring(
    partitionOf(customer.id, usage.partitions),
    [customer.id],
    acceptedSeqMax,
  );
}

export function registerCustomerRoutes(
  app: FastifyInstance,
  deps: { orm: Orm; clock: Clock; usage: IngestDeps; outbox?: OutboxWriter },
): void {
  app.post(
    '/v1/customers',
    {
      schema: {
        summary: 'Create a customer',
        tags: ['Customers'],
        body: customerRequest,
        response: { 201: customerSchema },
      },
    },
    async (request, reply) => {
      const body = request.body as CustomerRequest;
      const em = deps.orm.em.fork();
      const idempotency = await replayCreate(em, request, reply, '/v1/customers');
      if ('replayed' in idempotency) return idempotency.replayed;
      if (
        body.external_customer_id &&
        (await findCustomer(em, { externalCustomerId: body.external_customer_id }))
      ) {
        // A concurrent request with the same key may have just made it: that is a replay, not a duplicate.
        const again = await replayCreate(em, request, reply, '/v1/customers');
        if ('replayed' in again) return again.replayed;
        throw new ApiError(
          'duplicate_resource_creation',
          `A customer with external_customer_id ${body.external_customer_id} already exists.`,
        );
      }
      const now = deps.clock.now();
      const customer = newCustomer(body, now);
      const related = hierarchyIds(body.hierarchy);
      const created = JSON.stringify(
        toWireCustomer(customer, checkHierarchy(body.hierarchy, await hierarchyLinks(em, related))),
      );
      // A concurrent create with the same external id loses on customer_external_ids' key; one naming the
      // same customers in a hierarchy waits on their row locks and checks again.
      const insert = async (tx: EntityManager) => {
        checkHierarchy(body.hierarchy, await hierarchyLinks(tx, related, true));
        await tx.insert(Customer, customer);
        if (customer.externalCustomerId)
          await claimExternalCustomerId(tx, customer.externalCustomerId, customer.id);
        await adoptChildren(tx, customer.id, body.hierarchy?.child_customer_ids ?? []);
        await deps.outbox?.append(tx, [
          {
            id: newId(),
            createdAt: now,
            customerId: customer.id,
            ledgerSequenceNumber: null,
            facts: { type: 'customer.created' },
          },
        ]);
      };
      // The request names no customer: the one it makes does not exist until the create commits.
      const recorded = {
        id: newId(),
        kind: 'customer_create' as const,
        customerId: null,
        payload: body,
        result: { customer_id: customer.id },
      };
      await recordCreate(
        em,
        idempotency.fresh,
        recorded,
        created,
        now,
        insert,
        () =>
          new ApiError(
            'duplicate_resource_creation',
            `A customer with external_customer_id ${body.external_customer_id} already exists.`,
          ),
      );
      await applyAwaitingUsage(deps.usage, customer, now);
      return sendCreated(reply, created);
    },
  );

  app.get(
    '/v1/customers',
    {
      schema: {
        summary: 'List customers',
        tags: ['Customers'],
        querystring: customersQuery,
        response: { 200: customersSchema },
      },
    },
    async (request) => {
      const query = request.query as ReturnType<typeof customersQuery.parse>;
      const em = deps.orm.em.fork();
      const page = await listCustomers(em, {
        limit: query.limit,
        after: decodeKeyset(query.cursor),
        createdAt: timeRange(query, 'created_at'),
      });
      const hierarchies = await hierarchiesOf(em, page.data);
      return {
        data: page.data.map((row) => toWireCustomer(row, hierarchies.get(row.id))),
        pagination_metadata: paginationMetadata(page.next),
      };
    },
  );

  app.get(
    '/v1/customers/:customer_id',
    {
      schema: {
        summary: 'Fetch a customer',
        tags: ['Customers'],
        response: { 200: customerSchema },
      },
    },
    async (request) => {
      const { customer_id: customerId } = request.params as { customer_id: string };
      const em = deps.orm.em.fork();
      const row = await findCustomer(em, { customerId });
      if (!row) throw ApiError.notFound(`Customer with id ${customerId} does not exist.`);
      return toWireCustomer(row, (await hierarchiesOf(em, [row])).get(row.id));
    },
  );

  app.get(
    '/v1/customers/external_customer_id/:external_customer_id',
    {
      schema: {
        summary: 'Fetch a customer by external id',
        tags: ['Customers'],
        response: { 200: customerSchema },
      },
    },
    async (request) => {
      const { external_customer_id: externalCustomerId } = request.params as {
        external_customer_id: string;
      };
      const em = deps.orm.em.fork();
      const row = await findCustomer(em, { externalCustomerId });
      if (!row)
        throw ApiError.notFound(
          `Customer with external_customer_id ${externalCustomerId} does not exist.`,
        );
      return toWireCustomer(row, (await hierarchiesOf(em, [row])).get(row.id));
    },
  );
}
