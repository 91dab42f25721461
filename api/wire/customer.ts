/**
 * Orb's Customer, built from the store's customer view. Its `balance` is a decimal string in the
 * customer's currency (Orb's schema says string), `metadata` is copied as stored. The address,
 * tax and configuration fields are passed through from the view as they are (null until the
 * store keeps them): a field the store starts returning only needs its type here.
 */
import { z } from 'zod';
import type { CustomerView } from '../../worker/store/views.ts';
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

export function toWireCustomer(customer: CustomerView): Wire<typeof customerSchema> {
  return {
    id: customer.id,
    external_customer_id: customer.external_customer_id,
    name: customer.name,
    email: customer.email,
    timezone: customer.timezone,
    payment_provider_id: customer.payment_provider_id,
    payment_provider: customer.payment_provider,
    created_at: customer.created_at,
    shipping_address: customer.shipping_address,
    billing_address: customer.billing_address,
    balance: customer.balance,
    currency: customer.currency,
    tax_id: customer.tax_id,
    auto_collection: customer.auto_collection,
    exempt_from_automated_tax: customer.exempt_from_automated_tax,
    email_delivery: customer.email_delivery,
    auto_issuance: customer.auto_issuance,
    additional_emails: customer.additional_emails,
    portal_url: customer.portal_url,
    accounting_sync_configuration: customer.accounting_sync_configuration,
    reporting_configuration: customer.reporting_configuration,
    payment_configuration: customer.payment_configuration,
    default_payment_method: customer.default_payment_method,
    automatic_tax_enabled: customer.automatic_tax_enabled,
    hierarchy: customer.hierarchy,
    metadata: customer.metadata,
  };
}
