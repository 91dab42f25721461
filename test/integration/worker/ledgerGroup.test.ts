/**
 * Group commit (worker/processors/applyRequests.ts) decides a run of requests against one
 * loaded, evolving state and writes them together; it must come to exactly what applying them one
 * at a time would. Two customers get the same history, then the same run of requests: one
 * customer's run is applied as one group, the other's request by request (applyRequest, a group of one).
 * Their ledgers (every entry, in sequence order) and outcomes must match. The run mixes what can
 * go wrong in a group: several requests on one block, refusals between commits, a block named
 * after a request emptied it, an automatic top-up with its invoice (which pauses further top-ups),
 * a second currency. A request that breaks the group (a broken invariant, not a refusal) fails
 * alone, and nothing the group wrote before it survives.
 *
 * The requests are recorded through an api process whose queues no worker reads, so that only
 * the test applies them.
 */
import { Duration } from 'luxon';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../../worker/runtime/ids.ts';
import type { LedgerOutcome } from '../../../worker/jobs/requestOutcome.ts';
import {
  applyRequest as applyAny,
  applyRequests as applyAll,
} from '../../../worker/processors/applyRequests.ts';
import { isoPlus, serviceNow } from '../../support/testDates.ts';
import { startIntakeOnly, type IntakeOnly } from '../../support/intakeOnly.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import {
  addEntry,
  createCustomer,
  dec,
  expectLedgerConsistent,
  ledgerEntryPath,
  sql,
  storedEntries,
} from '../ledgerTestHelpers.ts';

/** The shell answers every kind's outcome; these tests apply ledger entries only. */
const applyLedgerRequest = async (...args: Parameters<typeof applyAny>) =>
  (await applyAny(...args)) as LedgerOutcome;
const applyLedgerGroup = async (...args: Parameters<typeof applyAll>) =>
  (await applyAll(...args)) as LedgerOutcome[];

let t: TestService;
let intake: IntakeOnly;
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  t = await startTestService();
  intake = await startIntakeOnly(t, logger);
});
afterAll(async () => {
  await intake.close();
  await t.stop();
});

const deps = () => ({
  orm: t.service.orm,
  clock: t.service.clock,
  outbox: t.service.outbox,
  logger,
  gracePeriod: Duration.fromISO('PT12H'),
});

/** Records a request without applying it: answered 202, its job on a queue nobody reads. */
const recordOnly = (customerId: string, body: Record<string, unknown>) =>
  intake.recordOnly('POST', ledgerEntryPath(customerId), body);

/** A customer with two blocks and a top-up (threshold 10, amount 100, invoiced, unpaid pauses it). */
async function customerWithHistory() {
  const customer = await createCustomer(t, { currency: 'USD' });
  const expiring = await addEntry(t, customer.id, {
    entry_type: 'increment',
    amount: 10,
    expiry_date: isoPlus(serviceNow(t), { days: 30 }),
  });
  const lasting = await addEntry(t, customer.id, { entry_type: 'increment', amount: 15 });
  const topUp = await t.request('POST', `/v1/customers/${customer.id}/credits/top_ups`, {
    currency: 'credits',
    threshold: '10',
    amount: '100',
    per_unit_cost_basis: '0.5',
    invoice_settings: { auto_collection: false, net_terms: 7 },
  });
  expect(topUp.status, topUp.text).toBe(201);
  return { id: customer.id, expiring: expiring.credit_block.id, lasting: lasting.credit_block.id };
}

type Customer = Awaited<ReturnType<typeof customerWithHistory>>;

/** The run: each request in terms of the customer's own blocks. */
function run(customer: Customer): Record<string, unknown>[] {
  return [
    { entry_type: 'decrement', amount: 12, description: 'empties the expiring block' },
    { entry_type: 'void', block_id: customer.expiring, amount: 1, description: 'refused: empty' },
    { entry_type: 'void', block_id: customer.lasting, amount: 2, void_reason: 'refund' },
    { entry_type: 'void', block_id: 'no-such-block', amount: 1, description: 'refused: unknown' },
    {
      entry_type: 'increment',
      amount: 7,
      expiry_date: isoPlus(serviceNow(t), { days: 10 }),
      description: 'a block made within the group',
    },
    {
      entry_type: 'expiration_change',
      amount: 3,
      block_id: customer.lasting,
      target_expiry_date: isoPlus(serviceNow(t), { days: 60 }).slice(0, 10),
    },
    { entry_type: 'decrement', amount: 9, description: 'crosses the threshold: a top-up' },
    { entry_type: 'decrement', amount: 95, description: 'crosses again: paused, unpaid' },
    { entry_type: 'decrement', amount: 20, description: 'into the overdraft' },
    { entry_type: 'increment', amount: '2.5', currency: 'tokens' },
    { entry_type: 'decrement', amount: 1, currency: 'tokens' },
    { entry_type: 'amendment', amount: 1, block_id: customer.lasting },
  ];
}

/** What must match between the two customers: every entry but its ids and instants. */
async function ledgerShape(customerId: string, currency = 'credits') {
  const entries = await storedEntries(t, customerId, currency);
  return entries.map((entry) => ({
    seq: entry.ledger_sequence_number,
    type: entry.entry_type,
    amount: dec(entry.amount),
    starting: dec(entry.starting_balance),
    ending: dec(entry.ending_balance),
  }));
}

const outcomeShape = (outcome: LedgerOutcome | undefined) =>
  outcome?.status === 'committed'
    ? {
        status: outcome.status,
        type: outcome.entry.entry_type,
        amount: outcome.entry.amount,
        ending: outcome.entry.ending_balance,
      }
    : { status: outcome?.status, kind: outcome?.error.kind };

describe('group commit comes to what one request at a time does', () => {
  it('the same run, grouped and one by one: identical ledgers, outcomes, invoices', async () => {
    const grouped = await customerWithHistory();
    const single = await customerWithHistory();
    const groupedIds: string[] = [];
    for (const body of run(grouped)) groupedIds.push(await recordOnly(grouped.id, body));
    const singleIds: string[] = [];
    for (const body of run(single)) singleIds.push(await recordOnly(single.id, body));

    const groupedOutcomes = await applyLedgerGroup(
      groupedIds.map((requestId) => ({ requestId, customerId: grouped.id })),
      deps(),
    );
    const singleOutcomes: LedgerOutcome[] = [];
    for (const requestId of singleIds)
      singleOutcomes.push(await applyLedgerRequest({ requestId, customerId: single.id }, deps()));

    expect(groupedOutcomes.map((outcome) => outcome.requestId)).toEqual(groupedIds);
    expect(groupedOutcomes.map(outcomeShape)).toEqual(singleOutcomes.map(outcomeShape));
    expect(groupedOutcomes.filter((outcome) => outcome.status === 'failed')).toHaveLength(2);
    // One transaction: one completion instant for the whole group.
    const instants = await sql<{ n: string }>(
      t,
      `select count(distinct completed_at)::text as n from requests where id in (select jsonb_array_elements_text(?::jsonb))`,
      [JSON.stringify(groupedIds)],
    );
    expect(instants[0]?.n).toBe('1');

    expect(await ledgerShape(grouped.id)).toEqual(await ledgerShape(single.id));
    expect(await ledgerShape(grouped.id, 'tokens')).toEqual(await ledgerShape(single.id, 'tokens'));
    expect(await expectLedgerConsistent(t, grouped.id)).toBe(
      await expectLedgerConsistent(t, single.id),
    );
    const invoices = async (customerId: string) =>
      sql<{ total: string; status: string }>(
        t,
        'select total::text as total, status from invoices where customer_id = ? order by number',
        [customerId],
      );
    expect(await invoices(grouped.id)).toEqual(await invoices(single.id));
    expect(await invoices(grouped.id)).toHaveLength(1);

    // A redelivered group changes nothing and answers the stored outcomes.
    const again = await applyLedgerGroup(
      groupedIds.map((requestId) => ({ requestId, customerId: grouped.id })),
      deps(),
    );
    expect(again.map(outcomeShape)).toEqual(groupedOutcomes.map(outcomeShape));
    expect(await ledgerShape(grouped.id)).toEqual(await ledgerShape(single.id));
  });

  it('a request that breaks the group fails alone; nothing the group wrote before it survives', async () => {
    const customer = await customerWithHistory();
    const before = [
      await recordOnly(customer.id, { entry_type: 'decrement', amount: 5 }),
      // Crosses the threshold: the group writes what it has so far, before the broken request.
      await recordOnly(customer.id, { entry_type: 'decrement', amount: 15 }),
    ];
    // Stored with a currency its payload contradicts: an invariant broken, not a refusal.
    const broken = newId();
    await sql(
      t,
      `insert into requests (id, customer_id, partition, currency, payload, status, created_at)
       values (?, ?, 0, 'credits', ?::jsonb, 'queued', now())`,
      [
        broken,
        customer.id,
        JSON.stringify({ entry_type: 'increment', amount: 1, currency: 'tokens' }),
      ],
    );
    const after = await recordOnly(customer.id, { entry_type: 'increment', amount: 4 });
    const requestIds = [...before, broken, after];
    const outcomes = await applyLedgerGroup(
      requestIds.map((requestId) => ({ requestId, customerId: customer.id })),
      deps(),
    );
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      'committed',
      'committed',
      'failed',
      'committed',
    ]);
    // Had the rolled-back group's first writes survived, the retry one by one would repeat them.
    const shape = await ledgerShape(customer.id);
    expect(shape.map((entry) => [entry.type, entry.amount])).toEqual([
      ['increment', '10'],
      ['increment', '15'],
      ['decrement', '-5'],
      // The 15 draws the expiring block's last 5, then 10 from the lasting one.
      ['decrement', '-5'],
      ['decrement', '-10'],
      ['increment', '100'],
      ['increment', '4'],
    ]);
    expect(await expectLedgerConsistent(t, customer.id)).toBe('109');
  });
});
