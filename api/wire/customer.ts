/**
 * Orb's Customer, built from the store's customer view. Its `balance` is a decimal string in the
 * customer's currency (Orb's schema says string), `metadata` is copied as stored. The address,
 * tax and configuration fields are passed through from the view as they are (null until the
 * store keeps them): a field the store starts returning only needs its type here.
 */
import { z } from 'zod';
import { Decimal } from '../../domain/decimal.ts';
import type { CustomerRow } from '../../worker/store/entities.ts';
import { NO_HIERARCHY, type CustomerHierarchyView } from '../../worker/store/views.ts';
import { dateTime, metadata, page, type Wire } from './exactNumber.ts';
import { addressSchema, customerMinifiedSchema } from './invoice.ts';

/** Orb configuration objects this service stores and returns without interpreting them. */
const configuration = z.record(z.string(), z.unknown()).nullable();

const accountingSyncConfiguration = z
  .object({
    excluded: z.boolean(),
    accounting_providers: z.array(
      z.object({ provider_type: z.string(), external_provider_id: z.string() }),
    ),
  })
  .nullable();

const paymentConfiguration = z
  .object({
    payment_providers: z.array(
      z.object({
        provider_type: z.string(),
        excluded_payment_method_types: z.array(z.string()),
        default_shared_payment_token: z.string().nullable(),
      }),
    ),
  })
  .nullable();

export const customerSchema = z
  .object({
    id: z.string(),
    external_customer_id: z.string().nullable(),
    name: z.string(),
    email: z.string(),
    timezone: z.string(),
    payment_provider_id: z.string().nullable(),
    payment_provider: z.string().nullable(),
    created_at: dateTime,
    shipping_address: addressSchema.nullable(),
    billing_address: addressSchema.nullable(),
    balance: z
      .string()
      .meta({ description: "The customer's cash balance, a decimal string in its currency." }),
    currency: z.string().nullable(),
    tax_id: z.object({ country: z.string(), type: z.string(), value: z.string() }).nullable(),
    auto_collection: z.boolean(),
    exempt_from_automated_tax: z.boolean().nullable(),
    email_delivery: z.boolean(),
    auto_issuance: z.boolean().nullable(),
    additional_emails: z.array(z.string()),
    portal_url: z.string().nullable(),
    accounting_sync_configuration: accountingSyncConfiguration,
    reporting_configuration: configuration,
    payment_configuration: paymentConfiguration,
    default_payment_method: configuration,
    automatic_tax_enabled: z.boolean().nullable(),
    hierarchy: z.object({
      parent: customerMinifiedSchema.nullable(),
      children: z.array(customerMinifiedSchema),
    }),
    metadata,
  })
  .meta({ id: 'Customer' });

export const customersSchema = page(customerSchema).meta({ id: 'Customers' });

/**
 * Orb's Customer. The hierarchy is loaded with the row (worker/store/customerHierarchy.ts).
 * Tax: Orb answers the configuration's `tax_exempt` as `exempt_from_automated_tax` and its
 * `automatic_tax_enabled` as is; "null inherits the account setting", which here is off (false).
 */
export function toWireCustomer(
  customer: CustomerRow,
  hierarchy: CustomerHierarchyView = NO_HIERARCHY,
): Wire<typeof customerSchema> {
  return {
    id: customer.id,
    external_customer_id: customer.externalCustomerId ?? null,
    name: customer.name,
    email: customer.email,
    timezone: customer.timezone,
    payment_provider_id: customer.paymentProviderId ?? null,
    payment_provider: customer.paymentProvider ?? null,
    created_at: customer.createdAt.toISOString(),
    shipping_address: customer.shippingAddress ?? null,
    billing_address: customer.billingAddress ?? null,
    // Customer.balance is a string on Orb's wire, in the customer's currency.
    balance: Decimal.of(customer.balance).toString(),
    currency: customer.currency ?? null,
    tax_id: customer.taxId ?? null,
    auto_collection: customer.autoCollection,
    exempt_from_automated_tax: customer.taxConfiguration?.tax_exempt ?? null,
    email_delivery: customer.emailDelivery,
    auto_issuance: customer.autoIssuance ?? null,
    additional_emails: customer.additionalEmails,
    portal_url: null,
    accounting_sync_configuration: customer.accountingSyncConfiguration ?? null,
    reporting_configuration: customer.reportingConfiguration ?? null,
    payment_configuration: customer.paymentConfiguration ?? null,
    default_payment_method: null,
    automatic_tax_enabled: customer.taxConfiguration?.automatic_tax_enabled ?? false,
    hierarchy: { parent: hierarchy.parent, children: hierarchy.children },
    metadata: customer.metadata,
  };
}
