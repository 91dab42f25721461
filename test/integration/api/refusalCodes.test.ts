/**
 * Refusal codes through the whole service (domain/ledgerError.ts → worker outcome → api/errors.ts):
 * a synchronous refusal answers Orb's problem type with the `code` extension member, and an
 * asynchronous one keeps its code in `GET /v1/ledger_requests/{id}` (stored with the outcome).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValid } from '../../support/openApiValidator.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  ERROR_TYPE,
  eventually,
  ledgerEntryPath,
} from '../ledgerTestHelpers.ts';

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t.stop();
});

describe('refusal codes on the wire', () => {
  it('a refused write answers its Orb type with its code', async () => {
    const customer = await createCustomer(t);
    const { credit_block: block } = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 40,
    });
    const missing = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'void',
      block_id: 'no-such-block',
      amount: 1,
    });
    expect(missing.status, missing.text).toBe(404);
    expect(missing.body).toMatchObject({ code: 'block_not_found' });
    expectValid('404Error', missing.body);
    const tooMuch = await t.request('POST', ledgerEntryPath(customer.id), {
      entry_type: 'void',
      block_id: block.id,
      amount: 41,
    });
    expect(tooMuch.status, tooMuch.text).toBe(400);
    expect(tooMuch.body).toMatchObject({
      type: ERROR_TYPE.validation,
      code: 'insufficient_credits',
    });
    expectValid('400Error', tooMuch.body);
  });

  it('a request refused after a 202 keeps its code in its status', async () => {
    const customer = await createCustomer(t);
    const { credit_block: block } = await addEntry(t, customer.id, {
      entry_type: 'increment',
      amount: 40,
    });
    const accepted = await t.request(
      'POST',
      ledgerEntryPath(customer.id),
      { entry_type: 'amendment', block_id: block.id, amount: 1 },
      { prefer: 'respond-async' },
    );
    expect(accepted.status, accepted.text).toBe(202);
    const failed = await eventually(
      async () => {
        const polled = await t.request('GET', accepted.headers.get('location') ?? '');
        return polled.body.status === 'failed' ? polled.body : undefined;
      },
      10_000,
      'the request to fail',
    );
    expect(failed.error).toMatchObject({ status: 400, code: 'exceeds_initial_balance' });
  });
});
