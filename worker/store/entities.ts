/**
 * MikroORM entities: the rows the worker writes and the api reads. Relations are plain id columns
 * (`customerId`): every table is keyed by customer so that it can later be partitioned or
 * distributed by customer hash (ARCHITECTURE.md "Scaling"). Amounts are numeric(38,12), read as
 * strings and turned into `Decimal` at the edge of the store; never JavaScript numbers.
 * The schema itself (constraints, indexes) is owned by migrations/.
 *
 * Keys: in the database the growing tables' primary keys are `(id, customer_id)`
 * (Migration20261203120000_customerKeys, for Citus). The entities below still declare `id` alone
 * as primary: the ids are random and unique in practice, the ORM only reads these rows (the
 * worker writes them in SQL), and a composite primary here would turn every `em.findOne(X, id)`
 * and identity-map lookup into a `[id, customerId]` pair for no gain. Reads that know the
 * customer name it too (readQueries.ts), so that they route to one node.
 */
import { defineEntity, p, type InferEntity } from '@mikro-orm/postgresql';

const amount = () => p.decimal('string').precision(38).scale(12);
const instant = () => p.datetime().columnType('timestamptz');

/** Orb's Address: every line present, null when not given. */
export interface AddressJson {
  line1: string | null;
  line2: string | null;
  city: string | null;
  state: string | null;
  postal_code: string | null;
  country: string | null;
}

/** Orb's NewTaxConfiguration as given (one variant per `tax_provider`). */
export interface TaxConfigurationJson {
  tax_provider: string;
  tax_exempt: boolean;
  automatic_tax_enabled: boolean | null;
  tax_exemption_code?: string | null;
}

/** Orb's AccountingSyncConfiguration. */
export interface AccountingSyncConfigurationJson {
  excluded: boolean;
  accounting_providers: { provider_type: string; external_provider_id: string }[];
}

/** Orb's PaymentConfiguration. */
export interface PaymentConfigurationJson {
  payment_providers: {
    provider_type: string;
    excluded_payment_method_types: string[];
    default_shared_payment_token: string | null;
  }[];
}

/**
 * A customer. Orb's integration settings (addresses, tax, reporting, accounting, payment) are
 * kept as given, in the shape Orb answers with; nothing here acts on them. `parentCustomerId` is
 * the hierarchy: a customer's children are the customers naming it.
 */
export const Customer = defineEntity({
  name: 'Customer',
  tableName: 'customers',
  properties: {
    id: p.string().primary(),
    externalCustomerId: p.string().nullable(),
    name: p.string(),
    email: p.string(),
    timezone: p.string(),
    currency: p.string().nullable(),
    metadata: p.json<Record<string, string>>(),
    balance: amount(),
    autoCollection: p.boolean(),
    emailDelivery: p.boolean(),
    paymentProvider: p.string().nullable(),
    paymentProviderId: p.string().nullable(),
    additionalEmails: p.json<string[]>(),
    createdAt: instant(),
    autoIssuance: p.boolean().nullable(),
    billingAddress: p.json<AddressJson>().nullable(),
    shippingAddress: p.json<AddressJson>().nullable(),
    taxId: p.json<{ country: string; type: string; value: string }>().nullable(),
    taxConfiguration: p.json<TaxConfigurationJson>().nullable(),
    reportingConfiguration: p.json<{ exempt: boolean }>().nullable(),
    accountingSyncConfiguration: p.json<AccountingSyncConfigurationJson>().nullable(),
    paymentConfiguration: p.json<PaymentConfigurationJson>().nullable(),
    parentCustomerId: p.string().nullable(),
  },
});
export type CustomerRow = InferEntity<typeof Customer>;

export const LedgerHead = defineEntity({
  name: 'LedgerHead',
  tableName: 'ledgers',
  properties: {
    customerId: p.string().primary(),
    currency: p.string().primary(),
    balance: amount(),
    nextSequenceNumber: p.integer(),
  },
});
export type LedgerHeadRow = InferEntity<typeof LedgerHead>;

export const CreditBlock = defineEntity({
  name: 'CreditBlock',
  tableName: 'credit_blocks',
  properties: {
    id: p.string().primary(),
    customerId: p.string(),
    currency: p.string(),
    balance: amount(),
    maximumInitialBalance: amount(),
    effectiveDate: instant(),
    expiryDate: instant().nullable(),
    perUnitCostBasis: p.string().nullable(),
    filters: p.json<{ field: 'item_id'; operator: 'includes' | 'excludes'; values: string[] }[]>(),
    status: p.string(),
    voidedAt: instant().nullable(),
    metadata: p.json<Record<string, string>>(),
    createdAt: instant(),
    source: p.string(),
    /** The ledger_sequence_number of the entry that made the block: drawdown's last tie-break (§3). */
    creationSequence: p.integer(),
  },
});
export type CreditBlockRow = InferEntity<typeof CreditBlock>;

export const LedgerEntry = defineEntity({
  name: 'LedgerEntry',
  tableName: 'ledger_entries',
  properties: {
    id: p.string().primary(),
    customerId: p.string(),
    currency: p.string(),
    ledgerSequenceNumber: p.integer(),
    entryType: p.string(),
    entryStatus: p.string(),
    amount: amount(),
    startingBalance: amount(),
    endingBalance: amount(),
    blockId: p.string(),
    requestId: p.string().nullable(),
    description: p.string().nullable(),
    metadata: p.json<Record<string, string>>(),
    createdAt: instant(),
    voidReason: p.string().nullable(),
    voidAmount: amount().nullable(),
    newBlockExpiryDate: instant().nullable(),
    priceId: p.string().nullable(),
  },
});
export type LedgerEntryRow = InferEntity<typeof LedgerEntry>;

/**
 * An accepted write (ARCHITECTURE.md, "The path of a write"): its kind, its customer (the
 * partition key), its payload and, once applied, its outcome. `currency` is the credit ledger a
 * ledger-entry request writes to; null for the other kinds.
 */
export const WriteRequest = defineEntity({
  name: 'WriteRequest',
  tableName: 'requests',
  properties: {
    id: p.string().primary(),
    kind: p.string(),
    customerId: p.string(),
    partition: p.integer(),
    currency: p.string().nullable(),
    payload: p.json<unknown>(),
    status: p.string(),
    entryIds: p.json<string[]>(),
    error: p.json<unknown>().nullable(),
    createdAt: instant(),
    completedAt: instant().nullable(),
  },
});
export type WriteRequestRow = InferEntity<typeof WriteRequest>;

export const IdempotencyKey = defineEntity({
  name: 'IdempotencyKey',
  tableName: 'idempotency_keys',
  properties: {
    key: p.string().primary(),
    fingerprint: p.string(),
    requestId: p.string().nullable(),
    responseStatus: p.integer().nullable(),
    responseBody: p.json<unknown>().nullable(),
    createdAt: instant(),
  },
});
export type IdempotencyKeyRow = InferEntity<typeof IdempotencyKey>;

export const UsagePrice = defineEntity({
  name: 'UsagePrice',
  tableName: 'usage_prices',
  properties: {
    id: p.string().primary(),
    name: p.string(),
    eventName: p.string(),
    itemId: p.string(),
    unitAmount: amount(),
    quantityProperty: p.string().nullable(),
    currency: p.string(),
    archivedAt: instant().nullable(),
    createdAt: instant(),
  },
});
export type UsagePriceRow = InferEntity<typeof UsagePrice>;

export const UsageEvent = defineEntity({
  name: 'UsageEvent',
  tableName: 'events',
  properties: {
    idempotencyKey: p.string().primary(),
    customerId: p.string().nullable(),
    externalCustomerId: p.string().nullable(),
    eventName: p.string(),
    timestamp: instant(),
    properties: p.json<Record<string, unknown>>(),
    status: p.string(),
    priceId: p.string().nullable(),
    credits: amount().nullable(),
    usageDay: p.string().columnType('date').nullable(),
    ingestedAt: instant(),
  },
});
export type UsageEventRow = InferEntity<typeof UsageEvent>;

export const entities = [
  Customer,
  LedgerHead,
  CreditBlock,
  LedgerEntry,
  WriteRequest,
  IdempotencyKey,
  UsagePrice,
  UsageEvent,
];
