/**
 * The reference model (test/support/referenceLedger.ts) against the real service: a small sample of
 * random command sequences, like the domain property test's (test/unit/domain/decide.property.test.ts),
 * driven through the HTTP api, the queue, the worker and Postgres, on the manual test clock.
 *
 * One service for the file; each sequence gets a fresh customer (timezone UTC) and a model started
 * at the test clock's current instant. Steps: increments (random amount, expiry on a 6-hour grid
 * after the clock or the effective date, effective date sometimes in the past or future, cost basis
 * from a small set, item_id includes/excludes filters over three items), decrements, expiration
 * changes (by block_id of a block the model knows, or by an expiry date), voids (sometimes
 * `refund`), amendments, and clock advances (`POST /v1/test_clock/advance`, always forward: the
 * clock is shared by every customer, so all dates are relative to it). The model's block ids are
 * the service's: after a 201 the new block (at most one per command) is found by listing the
 * customer's blocks, and handed to the model in `apply`.
 *
 * After every command: refused (400/404) alike, or applied alike with the response entry equal to
 * the model's last entry (type, signed amount, balances, sequence number, block) and every block
 * equal (balance, initial balance, dates, cost basis, filters). After every advance, and every few
 * steps, the whole ledger (all pages) against the model's entries. At the end, the invariant
 * verifier over the whole database, judged at the test clock's instant.
 *
 * The model writes due expiries when it applies the next command; the service's test clock writes
 * them when it moves (the expiry sweep). Between the two, and after a refused command (the model
 * then keeps nothing, the sweep's entries stay), the service is ahead by exactly those
 * `credit_block_expiry` entries, and the comparisons allow for them.
 *
 * Knobs (environment): HTTP_PROPERTY_RUNS (30), HTTP_PROPERTY_STEPS (16), HTTP_PROPERTY_SEED,
 * HTTP_PROPERTY_SHRINK=1 (let fast-check shrink a failure: slow, each try is a new customer),
 * HTTP_PROPERTY_STATS=1 (print how often each command was applied or refused), HTTP_PROPERTY_LOG_LEVEL
 * (the service's log level, e.g. error, to see the cause of a 500).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../../../domain/decimal.ts';
import type { BlockFilter, LedgerCommand } from '../../../domain/types.ts';
import { verifyDatabase } from '../../../scripts/verify.ts';
import { JsonNumber, parseExactJson } from '../../../worker/runtime/exactJson.ts';
import {
  amountSpec,
  amountText,
  blockPick,
  decrementText,
  drawnBlockPick,
  filtersArb,
  GRID_MS,
  gridAfter,
  half,
  MISSING_BLOCK_ID,
  pickBlock,
  positiveOr,
  resolveAmount,
  type AmountSpec,
  type BlockPick,
} from '../../support/ledgerArbitraries.ts';
import {
  ReferenceLedger,
  type ModelBlock,
  type ModelEntry,
} from '../../support/referenceLedger.ts';
import { manualClockStart } from '../../support/testDates.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { createCustomer, ledgerEntryPath } from '../ledgerTestHelpers.ts';

const START = manualClockStart().toISOString();
const SEED = Number(process.env.HTTP_PROPERTY_SEED ?? 20261121);
const RUNS = Number(process.env.HTTP_PROPERTY_RUNS ?? 30);
const STEPS_MAX = Number(process.env.HTTP_PROPERTY_STEPS ?? 16);
const SHRINK = process.env.HTTP_PROPERTY_SHRINK === '1';
/** The whole ledger is compared after every advance, and after every LEDGER_EVERY-th step. */
const LEDGER_EVERY = 4;

const HTTP_STATUS: Record<string, number> = { request_validation: 400, resource_not_found: 404 };

const stats = new Map<string, number>();
const count = (key: string) => stats.set(key, (stats.get(key) ?? 0) + 1);

let t: TestService;
beforeAll(async () => {
  const logLevel = process.env.HTTP_PROPERTY_LOG_LEVEL;
  t = await startTestService({
    CLOCK: 'manual',
    CLOCK_START: START,
    ...(logLevel ? { LOG_LEVEL: logLevel } : {}),
  });
});
afterAll(async () => {
  if (process.env.HTTP_PROPERTY_STATS)
    console.log(
      [...stats]
        .sort()
        .map(([key, n]) => `${key}: ${n}`)
        .join('\n'),
    );
  await t?.stop();
});

// ---- steps: what fast-check generates; resolved against the model's state when applied ----------

type Step =
  | { kind: 'advance'; minutes: number }
  | { kind: 'advance'; toGrid: number }
  | {
      kind: 'increment';
      amount: string;
      effective:
        null | { pastMinutes: number } | { futureMinutes: number } | { futureGrid: number };
      expiry: null | { grid: number };
      cost: string | null;
      filters: BlockFilter[];
    }
  | { kind: 'decrement'; amount: string }
  | {
      kind: 'expiration_change';
      source: BlockPick | { liveExpiryOf: number } | { expiryGrid: number };
      amount: AmountSpec | null;
      target: { grid: number } | { gridsAgo: number } | { now: true };
    }
  | { kind: 'void'; block: BlockPick; amount: AmountSpec; reason: 'refund' | null }
  | {
      kind: 'amendment';
      block: BlockPick;
      amount: { gap: true } | { halfGap: true } | { fixed: string };
    };

const incrementArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.constant('increment' as const),
  amount: amountText,
  effective: fc.oneof(
    { weight: 5, arbitrary: fc.constant(null) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 5000 }).map((pastMinutes) => ({ pastMinutes })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 3000 }).map((futureMinutes) => ({ futureMinutes })),
    },
    { weight: 1, arbitrary: fc.nat({ max: 6 }).map((futureGrid) => ({ futureGrid })) },
  ),
  expiry: fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.nat({ max: 12 }).map((grid) => ({ grid })) },
  ),
  // Whole-number costs keep every invoice total (amount × cost, LEDGER_RULES.md §7) exact.
  cost: fc.constantFrom(null, '0', '0.00', '1', '1.00', '2', '10'),
  filters: filtersArb(8),
});

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.oneof(
      fc
        .integer({ min: 1, max: 3 * 24 * 60 })
        .map((minutes): Step => ({ kind: 'advance', minutes })),
      fc.nat({ max: 4 }).map((toGrid): Step => ({ kind: 'advance', toGrid })),
    ),
  },
  { weight: 6, arbitrary: incrementArb },
  { weight: 4, arbitrary: decrementText.map((amount): Step => ({ kind: 'decrement', amount })) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('expiration_change' as const),
      source: fc.oneof(
        { weight: 4, arbitrary: blockPick },
        { weight: 1, arbitrary: fc.nat({ max: 40 }).map((liveExpiryOf) => ({ liveExpiryOf })) },
        { weight: 1, arbitrary: fc.nat({ max: 12 }).map((expiryGrid) => ({ expiryGrid })) },
      ),
      amount: fc.oneof(fc.constant(null), amountSpec),
      target: fc.oneof(
        { weight: 6, arbitrary: fc.nat({ max: 12 }).map((grid) => ({ grid })) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }).map((gridsAgo) => ({ gridsAgo })) },
        { weight: 1, arbitrary: fc.constant({ now: true as const }) },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('void' as const),
      block: blockPick,
      amount: amountSpec,
      reason: fc.constantFrom('refund' as const, null),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('amendment' as const),
      block: drawnBlockPick(2),
      amount: fc.oneof(
        fc.constant({ gap: true as const }),
        fc.constant({ halfGap: true as const }),
        amountText.map((fixed) => ({ fixed })),
      ),
    }),
  },
);

/** Sequences open with an increment, so that block-naming commands have something to name. */
const stepsArb: fc.Arbitrary<Step[]> = fc
  .tuple(incrementArb, fc.array(stepArb, { minLength: 0, maxLength: STEPS_MAX - 1, size: 'max' }))
  .map(([first, rest]) => [first, ...rest]);

// ---- resolving a step: the model's command and the same request on Orb's wire -------------------

const iso = (date: Date | null) => (date === null ? null : date.toISOString());
/** An exact JSON number on the wire (no float in between). */
const wireNumber = (value: Decimal | string) => JSON.rawJSON(value.toString());

const common = { currency: 'credits', description: null, metadata: {} };

function toRequest(
  step: Exclude<Step, { kind: 'advance' }>,
  model: ReferenceLedger,
): { command: LedgerCommand; body: Record<string, unknown> } {
  const now = model.now;
  const blocks = model.blocks;
  switch (step.kind) {
    case 'increment': {
      let effectiveAt: Date | null = null;
      if (step.effective && 'pastMinutes' in step.effective)
        effectiveAt = new Date(now.getTime() - step.effective.pastMinutes * 60_000);
      if (step.effective && 'futureMinutes' in step.effective)
        effectiveAt = new Date(now.getTime() + step.effective.futureMinutes * 60_000);
      if (step.effective && 'futureGrid' in step.effective)
        effectiveAt = gridAfter(now, step.effective.futureGrid);
      // Expiry after both the clock and the effective date (the service refuses expiry <= effective).
      const latest = effectiveAt && effectiveAt.getTime() > now.getTime() ? effectiveAt : now;
      const expiresAt = step.expiry === null ? null : gridAfter(latest, step.expiry.grid);
      const amount = Decimal.of(step.amount);
      return {
        command: {
          type: 'increment',
          ...common,
          amount,
          effectiveAt,
          expiresAt,
          perUnitCostBasis: step.cost,
          filters: step.filters,
        },
        body: {
          entry_type: 'increment',
          amount: wireNumber(amount),
          expiry_date: iso(expiresAt),
          ...(effectiveAt ? { effective_date: iso(effectiveAt) } : {}),
          ...(step.cost !== null ? { per_unit_cost_basis: step.cost } : {}),
          // A cost basis above 0 is invoiced (LEDGER_RULES.md §4); net terms leave the block active.
          ...(step.cost !== null && Decimal.of(step.cost).isPositive()
            ? { invoice_settings: { auto_collection: false, net_terms: 30 } }
            : {}),
          ...(step.filters.length > 0 ? { filters: step.filters } : {}),
        },
      };
    }
    case 'decrement': {
      const amount = Decimal.of(step.amount);
      return {
        command: { type: 'decrement', ...common, amount },
        body: { entry_type: 'decrement', amount: wireNumber(amount) },
      };
    }
    case 'expiration_change': {
      let blockId: string | null = null;
      let sourceExpiresAt: Date | null = null;
      let source: ModelBlock | undefined;
      if ('expiryGrid' in step.source) {
        sourceExpiresAt = gridAfter(now, step.source.expiryGrid);
        source = blocks.find(
          (block) =>
            block.expiresAt?.getTime() === sourceExpiresAt?.getTime() && block.balance.isPositive(),
        );
      } else if ('liveExpiryOf' in step.source) {
        const withExpiry = blocks.filter(
          (block) => block.expiresAt !== null && block.balance.isPositive(),
        );
        source = withExpiry[step.source.liveExpiryOf % Math.max(1, withExpiry.length)];
        sourceExpiresAt = source?.expiresAt ?? gridAfter(now, 0);
      } else {
        source = pickBlock(blocks, step.source);
        blockId = source?.id ?? MISSING_BLOCK_ID;
      }
      const amount =
        step.amount === null ? null : resolveAmount(step.amount, source?.balance ?? Decimal.ZERO);
      let targetExpiresAt: Date;
      if ('grid' in step.target) targetExpiresAt = gridAfter(now, step.target.grid);
      else if ('gridsAgo' in step.target)
        targetExpiresAt = new Date(
          gridAfter(now, 0).getTime() - (step.target.gridsAgo + 1) * GRID_MS,
        );
      else targetExpiresAt = now;
      return {
        command: {
          type: 'expiration_change',
          ...common,
          amount,
          blockId,
          sourceExpiresAt,
          targetExpiresAt,
        },
        body: {
          entry_type: 'expiration_change',
          ...(blockId !== null ? { block_id: blockId } : { expiry_date: iso(sourceExpiresAt) }),
          ...(amount !== null ? { amount: wireNumber(amount) } : {}),
          target_expiry_date: iso(targetExpiresAt),
        },
      };
    }
    case 'void': {
      const block = pickBlock(blocks, step.block);
      const blockId = block?.id ?? MISSING_BLOCK_ID;
      const amount = resolveAmount(step.amount, block?.balance ?? Decimal.ZERO);
      return {
        command: { type: 'void', ...common, blockId, amount, voidReason: step.reason },
        body: {
          entry_type: 'void',
          block_id: blockId,
          amount: wireNumber(amount),
          ...(step.reason ? { void_reason: step.reason } : {}),
        },
      };
    }
    case 'amendment': {
      const block = pickBlock(blocks, step.block);
      const blockId = block?.id ?? MISSING_BLOCK_ID;
      const gap = block ? block.maximumInitialBalance.minus(block.balance) : Decimal.ZERO;
      const amount =
        'fixed' in step.amount
          ? Decimal.of(step.amount.fixed)
          : positiveOr('gap' in step.amount ? gap : half(gap), '1');
      return {
        command: { type: 'amendment', ...common, blockId, amount },
        body: { entry_type: 'amendment', block_id: blockId, amount: wireNumber(amount) },
      };
    }
  }
}

// ---- the service's wire, read exactly --------------------------------------------------------

/** A wire amount (an exact JSON number) as canonical decimal text. */
function amountOf(value: unknown): string {
  if (value instanceof JsonNumber) return Decimal.of(value.source).toString();
  throw new Error(`not a JSON number: ${JSON.stringify(value)}`);
}
const intOf = (value: unknown) => (value instanceof JsonNumber ? Number(value.source) : value);

async function call(
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: any; text: string }> {
  const response = await t.request(method, path, body);
  return {
    status: response.status,
    text: response.text,
    body: response.text ? parseExactJson(response.text) : undefined,
  };
}

async function listAll(path: string, limit: number): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  for (;;) {
    const separator = path.includes('?') ? '&' : '?';
    const page = await call(
      'GET',
      `${path}${separator}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(page.status, page.text).toBe(200);
    items.push(...page.body.data);
    if (!page.body.pagination_metadata.has_more) return items;
    cursor = page.body.pagination_metadata.next_cursor;
  }
}

const listBlocks = (customerId: string) =>
  listAll(`/v1/customers/${customerId}/credits?include_all_blocks=true`, 100);
/** Oldest first; the ledger pages come newest first, in small pages so that the cursor is used. */
const listEntries = async (customerId: string) =>
  (await listAll(`/v1/customers/${customerId}/credits/ledger`, 7)).reverse();

// ---- comparison ------------------------------------------------------------------------------

function describeModelEntry(entry: ModelEntry) {
  return {
    seq: entry.ledgerSequenceNumber,
    type: entry.entryType,
    status: 'committed',
    block: entry.blockId,
    amount: entry.amount.toString(),
    starting: entry.startingBalance.toString(),
    ending: entry.endingBalance.toString(),
    ...(entry.newBlockExpiryDate !== undefined
      ? { newBlockExpiry: iso(entry.newBlockExpiryDate) }
      : {}),
    ...(entry.voidAmount !== undefined
      ? { voidAmount: entry.voidAmount.toString(), voidReason: entry.voidReason ?? null }
      : {}),
  };
}

function describeWireEntry(entry: any) {
  const type = entry.entry_type as string;
  return {
    seq: intOf(entry.ledger_sequence_number),
    type,
    status: entry.entry_status,
    block: entry.credit_block?.id,
    amount: amountOf(entry.amount),
    starting: amountOf(entry.starting_balance),
    ending: amountOf(entry.ending_balance),
    ...(type === 'expiration_change' || type === 'void_initiated'
      ? { newBlockExpiry: entry.new_block_expiry_date }
      : {}),
    ...(type === 'void' || type === 'void_initiated'
      ? { voidAmount: amountOf(entry.void_amount), voidReason: entry.void_reason }
      : {}),
  };
}

/**
 * Blocks whose expiry has passed with credit left, that the model has not yet written off (it does
 * so at its next applied command) but the test clock's sweep has.
 */
function pendingExpiries(model: ReferenceLedger): ModelBlock[] {
  const now = model.now.getTime();
  return model.blocks.filter(
    (block) =>
      block.expiresAt !== null &&
      block.expiresAt.getTime() <= now &&
      block.balance.isPositive() &&
      !block.voided,
  );
}

function describeModelBlock(block: ModelBlock, pending: ReadonlySet<string>) {
  return {
    id: block.id,
    balance: pending.has(block.id) ? '0' : block.balance.toString(),
    maximumInitialBalance: block.maximumInitialBalance.toString(),
    effectiveAt: iso(block.effectiveAt),
    expiresAt: iso(block.expiresAt),
    perUnitCostBasis: block.perUnitCostBasis,
    filters: block.filters,
    status: block.status,
  };
}

function describeWireBlock(block: any) {
  return {
    id: block.id,
    balance: amountOf(block.balance),
    maximumInitialBalance: amountOf(block.maximum_initial_balance),
    effectiveAt: block.effective_date,
    expiresAt: block.expiry_date,
    perUnitCostBasis: block.per_unit_cost_basis,
    filters: block.filters,
    status: block.status,
  };
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function expectBlocks(model: ReferenceLedger, wireBlocks: any[], context: () => string): void {
  const pending = new Set(pendingExpiries(model).map((block) => block.id));
  const expected = model.blocks.map((block) => describeModelBlock(block, pending)).sort(byId);
  expect(
    wireBlocks.map(describeWireBlock).sort(byId),
    `blocks: service vs model${context()}`,
  ).toEqual(expected);
}

/**
 * The whole ledger: the model's entries exactly, then (if the model lags the sweep) one
 * credit_block_expiry entry per pending block, soonest expiry first, chained from the model's balance.
 */
async function expectLedger(
  model: ReferenceLedger,
  customerId: string,
  context: () => string,
): Promise<void> {
  const wire = (await listEntries(customerId)).map(describeWireEntry);
  const expected = model.entries.map(describeModelEntry);
  expect(wire.slice(0, expected.length), `ledger: service vs model${context()}`).toEqual(expected);
  const pending = pendingExpiries(model);
  const tail = wire.slice(expected.length);
  expect(
    tail.length,
    `ledger: ${tail.length} entries past the model's, ${pending.length} expiries pending${context()}`,
  ).toBe(pending.length);
  const expiresAt = new Map(pending.map((block) => [block.id, block.expiresAt!.getTime()]));
  let balance = model.balance;
  tail.forEach((entry, index) => {
    const block = pending.find((candidate) => candidate.id === entry.block);
    expect(entry.type, `ledger tail ${index}${context()}`).toBe('credit_block_expiry');
    expect(
      block,
      `ledger tail ${index}: block ${entry.block} is not pending expiry${context()}`,
    ).toBeDefined();
    const lost = block!.balance.negated();
    expect(entry, `ledger tail ${index}${context()}`).toEqual({
      seq: expected.length + index,
      type: 'credit_block_expiry',
      status: 'committed',
      block: block!.id,
      amount: lost.toString(),
      starting: balance.toString(),
      ending: balance.plus(lost).toString(),
    });
    balance = balance.plus(lost);
    if (index > 0)
      expect(
        expiresAt.get(entry.block)! >= expiresAt.get(tail[index - 1]!.block)!,
        `expiries soonest first${context()}`,
      ).toBe(true);
  });
}

// ---- one sequence ----------------------------------------------------------------------------

async function clockNow(): Promise<Date> {
  const clock = await call('GET', '/v1/test_clock');
  expect(clock.status, clock.text).toBe(200);
  return new Date(clock.body.now);
}

async function runSequence(steps: readonly Step[]): Promise<void> {
  const start = await clockNow();
  const customer = await createCustomer(t, { timezone: 'UTC', currency: 'USD' });
  const model = new ReferenceLedger(start);
  const trace: string[] = [`customer ${customer.id}, clock ${start.toISOString()}`];
  const context = () => `\n${trace.join('\n')}`;

  for (const [index, step] of steps.entries()) {
    if (step.kind === 'advance') {
      const to =
        'minutes' in step
          ? new Date(model.now.getTime() + step.minutes * 60_000)
          : gridAfter(model.now, step.toGrid);
      trace.push(`#${index} clock → ${to.toISOString()}`);
      const advanced = await call(
        'POST',
        '/v1/test_clock/advance',
        JSON.stringify({ to: to.toISOString() }),
      );
      expect(advanced.status, `${advanced.text}${context()}`).toBe(200);
      expect(advanced.body.now).toBe(to.toISOString());
      model.advanceTo(to);
      count('advance');
      if (pendingExpiries(model).length > 0) count('advance expiring blocks');
      expectBlocks(model, await listBlocks(customer.id), context);
      await expectLedger(model, customer.id, context);
      continue;
    }

    const { command, body } = toRequest(step, model);
    const text = JSON.stringify(body);
    trace.push(`#${index} at ${model.now.toISOString()}: ${text}`);
    const response = await call('POST', ledgerEntryPath(customer.id), text);

    if (response.status === 201) {
      const wireBlocks = await listBlocks(customer.id);
      const known = new Set(model.blocks.map((block) => block.id));
      const fresh = wireBlocks
        .filter((block) => !known.has(block.id))
        .map((block) => block.id as string);
      const outcome = model.apply(command, fresh);
      trace.push(
        `   → 201 ${response.body.entry_type} ${amountOf(response.body.amount)} (${amountOf(response.body.starting_balance)} → ${amountOf(response.body.ending_balance)})`,
      );
      if ('refused' in outcome) {
        expect.fail(
          `step ${index}: the service applied ${command.type} but the model refuses it (${outcome.refused}: ${outcome.why})${context()}`,
        );
      }
      count(`${command.type} applied`);
      if (outcome.applied.some((entry) => entry.entryType === 'credit_block_expiry'))
        count(`${command.type} after expiry catch-up`);
      if (command.type === 'decrement' && outcome.applied.at(-1)!.endingBalance.isNegative())
        count('decrement into overdraft');
      expect(
        fresh.length,
        `step ${index}: new blocks ${fresh.join(', ')}${context()}`,
      ).toBeLessThanOrEqual(1);
      expect(
        describeWireEntry(response.body),
        `step ${index}: response entry vs the model's last entry${context()}`,
      ).toEqual(describeModelEntry(outcome.applied.at(-1)!));
      expectBlocks(model, wireBlocks, context);
    } else {
      const outcome = model.apply(command, []);
      trace.push(`   → ${response.status} ${response.body?.detail ?? response.text}`);
      if ('applied' in outcome) {
        expect.fail(
          `step ${index}: the service answered ${response.status} (${response.text}) but the model applies ${command.type}: ` +
            `${JSON.stringify(outcome.applied.map(describeModelEntry))}${context()}`,
        );
      }
      count(`${command.type} refused ${response.status}`);
      expect(
        response.status,
        `step ${index}: refusal status (model: ${outcome.refused}: ${outcome.why})${context()}`,
      ).toBe(HTTP_STATUS[outcome.refused]);
    }
    if (index % LEDGER_EVERY === LEDGER_EVERY - 1) await expectLedger(model, customer.id, context);
  }

  expectBlocks(model, await listBlocks(customer.id), context);
  await expectLedger(model, customer.id, context);
}

describe('the reference model against the service over HTTP (property, small sample)', () => {
  it(`agrees with the model over ${RUNS} random sequences of up to ${STEPS_MAX} steps, and the database verifies`, async () => {
    await fc.assert(
      fc.asyncProperty(stepsArb, async (steps) => {
        count('sequence');
        await runSequence(steps);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: !SHRINK },
    );
    const now = await clockNow();
    const verified = await verifyDatabase(t.databaseUrl, { now });
    expect(verified.violations).toEqual([]);
    expect(verified.ok).toBe(true);
    expect(verified.ledgers).toBeGreaterThanOrEqual(RUNS);
  }, 120_000);
});
