/**
 * `POST /v1/customers/{id}/credits/ledger_entry` (both id forms): validate Orb's body, hand it to
 * the intake, and answer 201 with the entry, the worker's business error, or 202 with a request
 * to poll (`Prefer: respond-async`, or when the worker takes longer than SYNC_WAIT_MS).
 */
import type { FastifyInstance } from 'fastify';
import { invoiceSettingsProblem } from '../../domain/invoiceFor.ts';
import {
  DEFAULT_CURRENCY,
  type LedgerRequestPayload,
} from '../../worker/jobs/ledgerRequestPayload.ts';
import type { CustomerKey, CustomerResolver } from '../customerResolver.ts';
import { ApiError } from '../errors.ts';
import { submittedKey } from '../intake/idempotency.ts';
import { sendAnswer } from '../intake/sendAnswer.ts';
import { respondsAsync, submit, type IntakeDeps } from '../intake/submit.ts';
import { ledgerEntryRequest, type LedgerEntryRequest } from '../schemas/ledgerEntryRequest.ts';
import { ledgerEntrySchema, toWireLedgerEntry } from '../wire/ledgerEntry.ts';
import { ledgerRequestSchema, toWireLedgerRequest } from '../wire/ledgerRequest.ts';
import { routeBothCustomerForms } from './customerPaths.ts';

const CURRENCY_DEFAULT = 'credits';

type IncrementBody = Extract<LedgerEntryRequest, { entry_type: 'increment' }>;

/**
 * An increment in the stored form. Which cost basis and invoice_settings go together is the
 * domain's rule (domain/invoiceFor.ts), asked here so that a bad combination is a 400 before
 * anything is queued; the invoice is in the customer's invoicing currency, so it must have one.
 */
function toIncrementPayload(body: IncrementBody, customer: CustomerKey): LedgerRequestPayload {
  const { invoice_settings: settings, ...increment } = body;
  const shape = settings
    ? {
        netTermsDays: settings.net_terms ?? null,
        hasCustomDueDate: (settings.custom_due_date ?? null) !== null,
      }
    : null;
  const problem = invoiceSettingsProblem(increment.per_unit_cost_basis, shape);
  if (problem) throw ApiError.validation(problem);
  if (!settings) return { ...increment, invoice_settings: null };
  if (customer.currency === null) {
    throw ApiError.validation(
      `invoice_settings invoices the credits in the customer's invoicing currency, and customer ${customer.id} has none; create the customer with a currency to invoice credits.`,
    );
  }
  return {
    ...increment,
    invoice_settings: {
      currency: customer.currency,
      auto_collection: settings.auto_collection,
      net_terms: settings.net_terms ?? null,
      custom_due_date: settings.custom_due_date ?? null,
      invoice_date: settings.invoice_date ?? null,
      memo: settings.memo ?? null,
      item_id: settings.item_id ?? null,
      mark_as_paid: settings.mark_as_paid ?? false,
      require_successful_payment: settings.require_successful_payment ?? false,
    },
  };
}

/** The validated body in the stored form (worker/jobs/ledgerRequestPayload.ts): every key present. */
function toPayload(body: LedgerEntryRequest, customer: CustomerKey): LedgerRequestPayload {
  switch (body.entry_type) {
    case 'increment':
      return toIncrementPayload(body, customer);
    case 'decrement':
      return body;
    case 'expiration_change':
      return {
        ...body,
        amount: body.amount ?? null,
        expiry_date: body.expiry_date ?? null,
        block_id: body.block_id ?? null,
      };
    case 'void':
      return { ...body, void_reason: body.void_reason ?? null };
    case 'amendment':
      return body;
    default: {
      const unreachable: never = body;
      throw new Error(`unknown entry type ${JSON.stringify(unreachable)}`);
    }
  }
}

function checkCurrency(currency: string | null, customerCurrency: string | null): void {
  if (currency === null || currency === CURRENCY_DEFAULT || !/^[A-Z]{3}$/.test(currency)) return;
  if (currency !== customerCurrency) {
    throw ApiError.validation(
      `currency ${currency} is a real currency but the customer's invoicing currency is ${customerCurrency ?? 'not set'}; use it or a custom unit such as "credits".`,
    );
  }
}

export function registerLedgerEntryRoutes(
  app: FastifyInstance,
  deps: { intake: IntakeDeps; customers: CustomerResolver },
): void {
  const schema = {
    summary: 'Create a ledger entry',
    tags: ['Credits'],
    body: ledgerEntryRequest,
    response: { 201: ledgerEntrySchema, 202: ledgerRequestSchema },
  };
  routeBothCustomerForms(
    app,
    'POST',
    '/credits/ledger_entry',
    schema,
    async (path, request, reply) => {
      const body = request.body as LedgerEntryRequest;
      const customer = await deps.customers.resolve(path);
      checkCurrency(body.currency, customer.currency);
      const payload = toPayload(body, customer);
      const answer = await submit(deps.intake, {
        kind: 'ledger_entry',
        customer,
        payload,
        currency: payload.currency ?? DEFAULT_CURRENCY,
        idempotency: submittedKey(request, `/v1/customers/${customer.id}/credits/ledger_entry`),
        respondAsync: respondsAsync(request.headers.prefer),
        httpRequestId: request.id,
      });
      return sendAnswer(reply, answer, {
        accepted: (accepted) => ({
          location: `/v1/ledger_requests/${accepted.id}`,
          body: toWireLedgerRequest({ ...accepted, status: 'queued' }, [], null),
        }),
        committed: (outcome) => ({ status: 201, body: toWireLedgerEntry(outcome.entry) }),
      });
    },
  );
}
