/**
 * The one processor shell (ARCHITECTURE.md step 3) for requests of every kind, with group commit:
 * applies a partition's run of waiting requests in ONE transaction, in acceptance order as
 * Postgres has it (`requests.accepted_seq`), not as the queue does. Lock the group's customers →
 * lock every request, and every EARLIER-accepted request of those customers still `queued`
 * wherever its job is (its job lost with Redis, or waiting on another partition after PARTITIONS
 * changed): pulled forward, they are applied first → lock and load each ledger the ledger-entry
 * requests touch, once → decide each request in order against the evolving state → save every
 * decision with set-based statements → record every outcome in one statement → commit; the
 * caller then completes the jobs and announces the outcomes, the pulled-forward ones' too. A
 * refusal is an outcome and never fails its neighbours; a crash before the commit applies nothing
 * of the group, and the redelivered requests are still `queued`. A request no longer `queued` (a
 * redelivery, or a pulled-forward request's own job arriving later) answers its stored outcome.
 *
 * Ledger entries, the bulk of the traffic, are decided against in-memory ledger state (the
 * domain's `decide` is pure: its changes are applied to the state before the next request of that
 * ledger is decided; the first decision of a ledger catches its clock up, the later ones find
 * nothing due) and written together. The in-memory state equals what a fresh load would give: it
 * keeps every block it has seen, and a load's extra blocks (the overdraft candidate, a named
 * depleted block) are the best or the named of the depleted ones, which are all among those seen.
 * Top-up state is the one thing a decision can change that the draft does not carry (an issued,
 * unpaid invoice pauses top-ups), so a decision that made or changed an invoice or topped up is
 * written at once and its ledger is loaded afresh, in the same transaction, before its next
 * request. The other kinds (worker/processors/kinds/) change what the ledger state does not hold
 * (a balance, an invoice, an event's usage): before one is applied the pending ledger writes are
 * flushed and its customer's ledgers forgotten, so that the next ledger request loads afresh.
 *
 * If the group's transaction fails for good (a broken invariant, not a refusal), each request is
 * applied as a group of its own, so that one bad request fails only itself, recorded `failed`.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Duration } from 'luxon';
import { decide } from '../../domain/decide.ts';
import type { TopUpState } from '../../domain/decideTopUp.ts';
import type { LedgerError } from '../../domain/ledgerError.ts';
import type { Block, Ledger, LedgerChanges } from '../../domain/types.ts';
import { newId } from '../runtime/ids.ts';
import { withTransientRetry } from '../runtime/transientRetry.ts';
import { ledgerRequestPayload, toCommand } from '../jobs/ledgerRequestPayload.ts';
import { jobCatalog } from '../jobs/queues.ts';
import type { RequestKind } from '../jobs/requestKinds.ts';
import { failedOutcome, type OutcomeError, type RequestOutcome } from '../jobs/requestOutcome.ts';
import { applyingTransaction, PartitionFencedError } from '../partitionFence.ts';
import { invoiceViewsByBlock, saveInvoiceChanges } from '../store/invoices.ts';
import {
  ledgerKeyOf,
  loadBlocks,
  lockAndLoadLedgers,
  lockRequests,
  inAcceptanceOrder,
  lockRequestsAndLoad,
  recordOutcomes,
  writeGroup,
  type GroupWrites,
  type LoadedGroupLedger,
  type RecordedOutcome,
} from '../store/ledgerGroupRepository.ts';
import { writtenRows, type LockedRequest } from '../store/ledgerRepository.ts';
import { storedOutcome } from '../store/readQueries.ts';
import { ledgerEntryView } from '../store/views.ts';
import { countWritten } from '../writtenCounts.ts';
import { applyAlertChange } from './kinds/alertChange.ts';
import { applyBalanceTransaction } from './kinds/balanceTransaction.ts';
import { applyEventDeprecation } from './kinds/eventDeprecation.ts';
import { applyInvoiceChange } from './kinds/invoiceChange.ts';
import type { ApplyKind } from './kinds/kindContext.ts';
import { LedgerNews } from './ledgerNews.ts';
import type { OutboxWriter } from '../jobs/webhookEvents.ts';
import { applyTopUpCreate } from './kinds/topUpCreate.ts';
import { applyTopUpDelete } from './kinds/topUpDelete.ts';
import type { UsageProcessorDeps } from './processorDeps.ts';

/** The kinds applied one request at a time in the group's transaction (ledger entries are not). */
const otherKinds: { [K in Exclude<RequestKind, 'ledger_entry'>]: ApplyKind<K> } = {
  balance_transaction: applyBalanceTransaction,
  invoice_change: applyInvoiceChange,
  event_deprecation: applyEventDeprecation,
  top_up_create: applyTopUpCreate,
  top_up_delete: applyTopUpDelete,
  alert_change: applyAlertChange,
};

/** One ledger as the group has it: loaded once, then changed by each decision in turn. */
interface LedgerState {
  customerId: string;
  ledger: Ledger;
  blocks: Map<string, Block>;
  topUp: TopUpState | null;
  /** Blocks made by decisions not yet written, and stored blocks they changed. */
  made: Set<string>;
  changed: Set<string>;
}

/** A committed decision waiting for the group's write. */
interface Pending {
  request: LockedRequest;
  state: LedgerState;
  changes: LedgerChanges;
  /** The blocks as the decision left them, for its answer's view. */
  blocks: Block[];
}

const namedBlockId = (payload: unknown): string | null => {
  const blockId = (payload as { block_id?: unknown } | null)?.block_id;
  return typeof blockId === 'string' ? blockId : null;
};

class Group {
  private readonly states = new Map<string, LedgerState>();
  private writes: GroupWrites = emptyWrites();
  private readonly outcomes = new Map<string, RequestOutcome>();
  /** Automatic top-ups the rules refused (the request that crossed the threshold still applied). */
  readonly topUpsRefused: { requestId: string; customerId: string; error: LedgerError }[] = [];
  private readonly recorded: RecordedOutcome[] = [];
  private readonly committed: Pending[] = [];
  /** Ledgers changed since the last flush. */
  private readonly dirty = new Set<LedgerState>();

  private readonly em: EntityManager;
  private readonly now: Date;
  private readonly gracePeriod: Duration;
  private readonly outbox: OutboxWriter;
  private readonly news = new LedgerNews();

  constructor(em: EntityManager, now: Date, gracePeriod: Duration, outbox: OutboxWriter) {
    this.em = em;
    this.now = now;
    this.gracePeriod = gracePeriod;
    this.outbox = outbox;
  }

  async run(requestIds: readonly string[]): Promise<GroupOutcomes> {
    const { requests, ledgers } = await lockRequestsAndLoad(this.em, requestIds, this.now);
    for (const { customerId, currency, ...loaded } of ledgers)
      this.adopt(ledgerKeyOf(customerId, currency), customerId, loaded);
    await this.loadNamedBlocks(
      [...requests.values()].filter(
        (request) => request.status === 'queued' && request.kind === 'ledger_entry',
      ),
    );
    for (const requestId of requestIds)
      if (!requests.has(requestId)) await this.decideOne(requestId, undefined);
    // Acceptance order: the group's own requests and the ones pulled forward, interleaved.
    for (const [requestId, request] of requests) await this.decideOne(requestId, request);
    await this.flush({ outcomes: this.recorded, now: this.now });
    await this.news.write(this.em, this.now, this.outbox);
    await this.answerCommitted();
    const asked = new Set(requestIds);
    const outcomeOf = (requestId: string) => {
      const outcome = this.outcomes.get(requestId);
      if (!outcome) throw new Error(`request ${requestId} has no outcome`);
      return outcome;
    };
    return {
      outcomes: requestIds.map(outcomeOf),
      pulledForward: [...requests.keys()].filter((id) => !asked.has(id)).map(outcomeOf),
    };
  }

  /** Locks and loads every ledger the queued requests touch, with the depleted blocks they name. */
  private async load(requests: readonly LockedRequest[]): Promise<void> {
    const keys = new Map<string, { customerId: string; currency: string; topUp: boolean }>();
    for (const { customerId, currency, payload } of requests) {
      if (currency === null) continue;
      const key = ledgerKeyOf(customerId, currency);
      if (this.states.has(key)) continue;
      const decrement = (payload as { entry_type?: unknown } | null)?.entry_type === 'decrement';
      const known = keys.get(key);
      keys.set(key, { customerId, currency, topUp: (known?.topUp ?? false) || decrement });
    }
    if (keys.size === 0) return;
    const loaded = await lockAndLoadLedgers(this.em, [...keys.values()], this.now);
    for (const [key, { customerId }] of keys) {
      const ledger = loaded.get(key);
      if (!ledger) throw new Error(`ledger ${key} did not load`);
      this.adopt(key, customerId, ledger);
    }
    await this.loadNamedBlocks(requests);
  }

  private adopt(key: string, customerId: string, ledger: LoadedGroupLedger): void {
    this.states.set(key, {
      customerId,
      ledger: ledger.ledger,
      blocks: new Map(ledger.blocks.map((block) => [block.id, block])),
      topUp: ledger.topUp,
      made: new Set(),
      changed: new Set(),
    });
  }

  /** Adds the depleted blocks the requests name, which a load leaves out, to their ledgers. */
  private async loadNamedBlocks(requests: readonly LockedRequest[]): Promise<void> {
    const missing = requests.flatMap((request) => {
      const blockId = namedBlockId(request.payload);
      const state =
        request.currency === null
          ? undefined
          : this.states.get(ledgerKeyOf(request.customerId, request.currency));
      return blockId !== null && !state?.blocks.has(blockId) ? [blockId] : [];
    });
    if (missing.length === 0) return;
    for (const { customerId, block } of await loadBlocks(this.em, missing)) {
      this.states.get(ledgerKeyOf(customerId, block.currency))?.blocks.set(block.id, block);
    }
  }

  private refuse(request: LockedRequest, error: OutcomeError): void {
    this.outcomes.set(request.id, failedOutcome(request.kind, request.id, error));
    this.recorded.push({ requestId: request.id, status: 'failed', error });
  }

  private async decideOne(requestId: string, request: LockedRequest | undefined): Promise<void> {
    if (!request) {
      const detail = `request ${requestId} does not exist`;
      this.outcomes.set(
        requestId,
        failedOutcome('ledger_entry', requestId, { kind: 'internal', detail }),
      );
      return;
    }
    if (request.status !== 'queued') {
      this.outcomes.set(requestId, await storedOutcome(this.em, request, request.customer));
      return;
    }
    if (request.kind !== 'ledger_entry') return this.applyOther(request, request.kind);
    const payload = ledgerRequestPayload.safeParse(request.payload);
    if (!payload.success) {
      const detail = `stored request is unreadable: ${payload.error.message}`;
      return this.refuse(request, { kind: 'internal', detail });
    }
    const command = toCommand(payload.data, request.customer.timezone);
    if ('kind' in command) return this.refuse(request, command);
    if (command.currency !== request.currency)
      throw new Error(`request ${requestId} names two currencies`);
    const key = ledgerKeyOf(request.customerId, command.currency);
    if (!this.states.has(key)) await this.load([request]);
    const state = this.states.get(key);
    if (!state) throw new Error(`ledger ${key} did not load`);
    const decision = decide(
      command,
      state.ledger,
      [...state.blocks.values()],
      { now: this.now, newId },
      state.topUp,
    );
    if (!decision.ok) return this.refuse(request, decision.error);
    this.take(request, state, decision.value);
    const { topUpRefused } = decision.value;
    if (topUpRefused)
      this.topUpsRefused.push({ requestId, customerId: request.customerId, error: topUpRefused });
    // Top-up state follows invoices the draft does not carry: write now, load afresh next time.
    const changes = decision.value;
    if (changes.invoices || changes.invoiceChanges || changes.automaticFrom !== undefined) {
      await this.flush();
      this.states.delete(key);
    }
  }

  /**
   * A request of another kind: it changes what the ledger state does not hold, so the writes so
   * far go first and its customer's ledgers are loaded afresh by the next ledger request.
   */
  private async applyOther<K extends Exclude<RequestKind, 'ledger_entry'>>(
    request: LockedRequest,
    kind: K,
  ): Promise<void> {
    await this.flush();
    // The alerts are walked through what came before with the alerts as they were: a kind may
    // create or change one (an alert request), which must not look back at earlier changes.
    await this.news.write(this.em, this.now, this.outbox);
    for (const [key, state] of this.states)
      if (state.customerId === request.customerId) this.states.delete(key);
    const apply = otherKinds[kind] as ApplyKind<K>;
    const outcome: RequestOutcome = await apply(request, {
      em: this.em,
      now: this.now,
      gracePeriod: this.gracePeriod,
      news: this.news,
    });
    this.outcomes.set(request.id, outcome);
    this.recorded.push(
      outcome.status === 'failed'
        ? { requestId: request.id, status: 'failed', error: outcome.error }
        : { requestId: request.id, status: 'committed', entryIds: [] },
    );
  }

  /** Applies a decision to its ledger's state and queues its writes and outcome. */
  private take(request: LockedRequest, state: LedgerState, changes: LedgerChanges): void {
    state.ledger = changes.ledger;
    this.dirty.add(state);
    this.news.ledgerChanged(request.customerId, changes);
    for (const block of changes.newBlocks) {
      state.blocks.set(block.id, block);
      state.made.add(block.id);
    }
    for (const block of changes.updatedBlocks) {
      state.blocks.set(block.id, block);
      if (!state.made.has(block.id)) state.changed.add(block.id);
    }
    for (const entry of changes.entries)
      this.writes.entries.push({ customerId: request.customerId, requestId: request.id, entry });
    if (changes.invoices || changes.invoiceChanges)
      this.writes.invoiceDecisions.push({ customerId: request.customerId, changes });
    const answered = changes.entries.slice(0, changes.automaticFrom);
    if (answered.length === 0) throw new Error(`request ${request.id} made no entry`);
    this.recorded.push({
      requestId: request.id,
      status: 'committed',
      entryIds: answered.map((entry) => entry.id),
    });
    this.committed.push({ request, state, changes, blocks: [...state.blocks.values()] });
  }

  /**
   * Writes every decision taken since the last flush: each block and ledger head at its last
   * state; the group's last flush records every outcome in the same statement.
   */
  private async flush(record?: { outcomes: readonly RecordedOutcome[]; now: Date }): Promise<void> {
    const writes = this.writes;
    for (const state of this.dirty) {
      const pick = (id: string) => state.blocks.get(id) as Block;
      const { customerId } = state;
      writes.newBlocks.push(...[...state.made].map((id) => ({ customerId, block: pick(id) })));
      writes.changedBlocks.push(
        ...[...state.changed].map((id) => ({ customerId, block: pick(id) })),
      );
      writes.heads.push({ customerId, ledger: state.ledger });
      state.made.clear();
      state.changed.clear();
    }
    this.dirty.clear();
    await writeGroup(this.em, writes, record);
    for (const { customerId, changes } of writes.invoiceDecisions)
      await saveInvoiceChanges(this.em, customerId, changes);
    this.writes = emptyWrites();
  }

  /** The committed requests' answers: each one's last entry, with its invoice when it made one. */
  private async answerCommitted(): Promise<void> {
    const invoiced = this.committed.filter((pending) => pending.changes.invoices);
    const lastRows = new Map(
      this.committed.map((pending) => {
        const { request, changes, blocks } = pending;
        const last = writtenRows(changes, request.customerId, request.id, blocks)
          .slice(0, changes.automaticFrom)
          .at(-1);
        if (!last) throw new Error(`request ${request.id} made no entry`);
        return [pending, last] as const;
      }),
    );
    const invoices =
      invoiced.length > 0
        ? await invoiceViewsByBlock(
            this.em,
            invoiced.map(
              (pending) => (lastRows.get(pending) as { block: { id: string } }).block.id,
            ),
          )
        : undefined;
    for (const pending of this.committed) {
      const last = lastRows.get(pending);
      if (!last) continue;
      const { request, changes } = pending;
      const entry = ledgerEntryView(
        last.entry,
        last.block,
        request.customer,
        pending.changes.invoices ? (invoices?.get(last.block.id) ?? null) : null,
      );
      this.outcomes.set(request.id, {
        status: 'committed',
        kind: 'ledger_entry',
        requestId: request.id,
        entry,
        written: countWritten([changes]),
      });
    }
  }
}

/**
 * A group's outcomes: its own requests' in the order asked, and those of the earlier-accepted
 * requests it pulled forward (decided here, so announced by the caller like the others).
 */
export interface GroupOutcomes {
  outcomes: RequestOutcome[];
  pulledForward: RequestOutcome[];
}

function emptyWrites(): GroupWrites {
  return { newBlocks: [], changedBlocks: [], entries: [], heads: [], invoiceDecisions: [] };
}

/**
 * Runs one group in its own fenced transaction, retrying transient failures. Refused automatic
 * top-ups are logged once the group has committed: a rolled-back attempt refused nothing.
 */
async function runGroup(
  requestIds: readonly string[] | Promise<readonly string[]>,
  deps: UsageProcessorDeps,
): Promise<GroupOutcomes> {
  const group = await withTransientRetry(() =>
    applyingTransaction(deps, async (em) => {
      // The ids may still be on their way (read from the queue while the fence was checked).
      const ids = await requestIds;
      const run = new Group(em, deps.clock.now(), deps.gracePeriod, deps.outbox);
      return { ...(await run.run(ids)), topUpsRefused: run.topUpsRefused };
    }),
  );
  for (const { requestId, customerId, error } of group.topUpsRefused)
    deps.logger.warn(
      { requestId, customerId, code: error.code, detail: error.detail },
      'automatic top-up refused; the request that crossed its threshold applied without it',
    );
  return { outcomes: group.outcomes, pulledForward: group.pulledForward };
}

/**
 * A request that fails on its own for good is recorded `failed` (a bug or a broken invariant, not
 * the client's mistake) and the partition moves on: nothing blocks it forever.
 */
async function applyAlone(requestId: string, deps: UsageProcessorDeps): Promise<GroupOutcomes> {
  try {
    const { outcomes, pulledForward } = await runGroup([requestId], deps);
    if (!outcomes[0]) throw new Error(`request ${requestId} has no outcome`);
    return { outcomes, pulledForward };
  } catch (error) {
    if (error instanceof PartitionFencedError) throw error;
    deps.logger.error({ err: error, requestId }, 'request failed permanently');
    const detail = `request ${requestId} could not be applied because of an internal error; it has been logged.`;
    const failure: OutcomeError = { kind: 'internal', detail };
    const kind = await withTransientRetry(() =>
      applyingTransaction(deps, async (em) => {
        const [request] = (await lockRequests(em, [requestId])).values();
        if (request?.status === 'queued')
          await recordOutcomes(
            em,
            [{ requestId, status: 'failed', error: failure }],
            deps.clock.now(),
          );
        return request?.kind ?? 'ledger_entry';
      }),
    );
    return { outcomes: [failedOutcome(kind, requestId, failure)], pulledForward: [] };
  }
}

/**
 * Applies `data` (the request jobs' payloads, in queue order) as one group, in acceptance order;
 * answers their outcomes in the order of `data`, and those of the earlier-accepted requests it
 * pulled forward. `data` may be a promise: the worker reads the jobs waiting behind the running
 * one while the group's transaction begins and checks its fence, two round trips fewer on the
 * partition's path from one group to the next.
 */
export async function applyRequestGroup(
  data: readonly unknown[] | Promise<readonly unknown[]>,
  deps: UsageProcessorDeps,
): Promise<GroupOutcomes> {
  const parsed = Promise.resolve(data).then((jobs) =>
    jobs.map((job) => jobCatalog['ledger.apply'].payload.parse(job).requestId),
  );
  // A request twice in one group (a job enqueued again by the stranded sweep) is decided once.
  const uniqueIds = parsed.then((requestIds) => [...new Set(requestIds)]);
  // Awaited by whichever comes first; not left unhandled when the transaction fails before.
  uniqueIds.catch(() => undefined);
  let group: GroupOutcomes;
  try {
    group = await runGroup(uniqueIds, deps);
  } catch (error) {
    if (error instanceof PartitionFencedError) throw error;
    group = await applyOneByOne(await uniqueIds, error, deps);
  }
  const byId = new Map(group.outcomes.map((outcome) => [outcome.requestId, outcome]));
  const requestIds = await parsed;
  return {
    outcomes: requestIds.map((requestId) => byId.get(requestId) as RequestOutcome),
    pulledForward: group.pulledForward,
  };
}

/**
 * One request broke the group: each on its own, so that it fails alone. In acceptance order, the
 * earlier requests the group would have pulled forward included: applied alone, each of the
 * group's own would pull them forward again, and fail with the one that broke.
 */
async function applyOneByOne(
  unique: readonly string[],
  error: unknown,
  deps: UsageProcessorDeps,
): Promise<GroupOutcomes> {
  const ordered = await withTransientRetry(() => inAcceptanceOrder(deps.orm.em.fork(), unique));
  if (ordered.length > 1)
    deps.logger.warn({ err: error, requests: ordered.length }, 'group failed; applying one by one');
  const own = new Set(unique);
  const group: GroupOutcomes = { outcomes: [], pulledForward: [] };
  for (const requestId of ordered) {
    const alone = await applyAlone(requestId, deps);
    (own.has(requestId) ? group.outcomes : group.pulledForward).push(...alone.outcomes);
    group.pulledForward.push(...alone.pulledForward);
  }
  return group;
}

/** `applyRequestGroup`'s outcomes of the requests asked for, in the order of `data`. */
export async function applyRequests(
  data: readonly unknown[] | Promise<readonly unknown[]>,
  deps: UsageProcessorDeps,
): Promise<RequestOutcome[]> {
  return (await applyRequestGroup(data, deps)).outcomes;
}

/** One request as a group of one (a job run alone, or a test's direct call). */
export async function applyRequest(
  data: unknown,
  deps: UsageProcessorDeps,
): Promise<RequestOutcome> {
  const [outcome] = await applyRequests([data], deps);
  return outcome as RequestOutcome;
}
