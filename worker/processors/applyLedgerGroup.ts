/**
 * Group commit for ledger requests (ARCHITECTURE.md step 3): applies a partition's run of waiting
 * `ledger.apply` requests, given in acceptance order, in ONE transaction. Lock every request →
 * lock and load each touched ledger once → decide each request in order against its ledger's
 * evolving state (the domain's `decide` is pure: its changes are applied to the in-memory state
 * before the next request of that ledger is decided; the first decision of a ledger catches its
 * clock up, the later ones find nothing due) → save every decision with set-based statements →
 * record every outcome → commit. A refusal is an outcome and never fails its neighbours; a crash
 * before the commit applies nothing of the group, and the redelivered requests are still
 * `queued`. A request no longer `queued` (a redelivery) answers its stored outcome.
 *
 * The in-memory state equals what a fresh load would give: it keeps every block it has seen, and
 * a load's extra blocks (the overdraft candidate, a named depleted block) are the best or the
 * named of the depleted ones, which are all among those seen. Top-up state is the one thing a
 * decision can change that the draft does not carry (an issued, unpaid invoice pauses top-ups),
 * so a decision that made or changed an invoice or topped up is written at once and its ledger
 * is loaded afresh, in the same transaction, before its next request.
 *
 * If the group's transaction fails for good (a broken invariant, not a refusal), each request is
 * applied on its own (applyLedgerRequest), so that one bad request fails only itself.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { decide } from '../../domain/decide.ts';
import type { TopUpState } from '../../domain/decideTopUp.ts';
import type { Block, Ledger, LedgerChanges } from '../../domain/types.ts';
import type { Clock } from '../runtime/clock.ts';
import { newId } from '../runtime/ids.ts';
import type { LedgerOutcome, OutcomeError } from '../jobs/ledgerOutcome.ts';
import { ledgerRequestPayload, toCommand } from '../jobs/ledgerRequestPayload.ts';
import { applyingTransaction, PartitionFencedError } from '../partitionFence.ts';
import { jobCatalog } from '../jobs/queues.ts';
import { invoiceViewsByBlock, saveInvoiceChanges } from '../store/invoices.ts';
import {
  ledgerKeyOf,
  loadBlocks,
  lockAndLoadLedgers,
  lockRequests,
  recordOutcomes,
  writeGroup,
  type GroupWrites,
  type RecordedOutcome,
} from '../store/ledgerGroupRepository.ts';
import { writtenRows, type LockedRequest } from '../store/ledgerRepository.ts';
import { storedOutcome } from '../store/readQueries.ts';
import { ledgerEntryView } from '../store/views.ts';
import { withTransientRetry } from '../runtime/transientRetry.ts';
import { countWritten } from '../writtenCounts.ts';
import { applyLedgerRequest, type ProcessorDeps } from './applyLedgerRequest.ts';

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
  private readonly outcomes = new Map<string, LedgerOutcome>();
  private readonly recorded: RecordedOutcome[] = [];
  private readonly committed: Pending[] = [];
  /** Ledgers changed since the last flush. */
  private readonly dirty = new Set<LedgerState>();

  private readonly em: EntityManager;
  private readonly now: Date;

  constructor(em: EntityManager, now: Date) {
    this.em = em;
    this.now = now;
  }

  async run(requestIds: readonly string[]): Promise<LedgerOutcome[]> {
    const requests = await lockRequests(this.em, requestIds);
    await this.load([...requests.values()].filter((request) => request.status === 'queued'));
    for (const requestId of requestIds) await this.decideOne(requestId, requests.get(requestId));
    await this.flush();
    await recordOutcomes(this.em, this.recorded, this.now);
    await this.answerCommitted();
    return requestIds.map((requestId) => {
      const outcome = this.outcomes.get(requestId);
      if (!outcome) throw new Error(`request ${requestId} has no outcome`);
      return outcome;
    });
  }

  /** Locks and loads every ledger the queued requests touch, with the depleted blocks they name. */
  private async load(requests: readonly LockedRequest[]): Promise<void> {
    const keys = new Map<string, { customerId: string; currency: string; topUp: boolean }>();
    for (const { customerId, currency, payload } of requests) {
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
      this.states.set(key, {
        customerId,
        ledger: ledger.ledger,
        blocks: new Map(ledger.blocks.map((block) => [block.id, block])),
        topUp: ledger.topUp,
        made: new Set(),
        changed: new Set(),
      });
    }
    const missing = requests.flatMap((request) => {
      const blockId = namedBlockId(request.payload);
      const state = this.states.get(ledgerKeyOf(request.customerId, request.currency));
      return blockId !== null && !state?.blocks.has(blockId) ? [blockId] : [];
    });
    if (missing.length === 0) return;
    for (const { customerId, block } of await loadBlocks(this.em, missing)) {
      this.states.get(ledgerKeyOf(customerId, block.currency))?.blocks.set(block.id, block);
    }
  }

  private refuse(requestId: string, error: OutcomeError): void {
    this.outcomes.set(requestId, { status: 'failed', requestId, error });
    this.recorded.push({ requestId, status: 'failed', error });
  }

  private async decideOne(requestId: string, request: LockedRequest | undefined): Promise<void> {
    if (!request) {
      const detail = `ledger request ${requestId} does not exist`;
      this.outcomes.set(requestId, {
        status: 'failed',
        requestId,
        error: { kind: 'internal', detail },
      });
      return;
    }
    if (request.status !== 'queued') {
      this.outcomes.set(requestId, await storedOutcome(this.em, request, request.customer));
      return;
    }
    const payload = ledgerRequestPayload.safeParse(request.payload);
    if (!payload.success) {
      const detail = `stored request is unreadable: ${payload.error.message}`;
      return this.refuse(requestId, { kind: 'internal', detail });
    }
    const command = toCommand(payload.data, request.customer.timezone);
    if ('kind' in command) return this.refuse(requestId, command);
    if (command.currency !== request.currency)
      throw new Error(`request ${requestId} names two currencies`);
    const key = ledgerKeyOf(request.customerId, request.currency);
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
    if (!decision.ok) return this.refuse(requestId, decision.error);
    this.take(request, state, decision.value);
    // Top-up state follows invoices the draft does not carry: write now, load afresh next time.
    const changes = decision.value;
    if (changes.invoices || changes.invoiceChanges || changes.automaticFrom !== undefined) {
      await this.flush();
      this.states.delete(key);
    }
  }

  /** Applies a decision to its ledger's state and queues its writes and outcome. */
  private take(request: LockedRequest, state: LedgerState, changes: LedgerChanges): void {
    state.ledger = changes.ledger;
    this.dirty.add(state);
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

  /** Writes every decision taken since the last flush: each block and ledger head at its last state. */
  private async flush(): Promise<void> {
    const writes = this.writes;
    for (const state of this.dirty) {
      const pick = (id: string) => state.blocks.get(id) as Block;
      const { customerId } = state;
      writes.newBlocks.push(...[...state.made].map((id) => ({ customerId, block: pick(id) })));
      writes.changedBlocks.push(...[...state.changed].map(pick));
      writes.heads.push({ customerId, ledger: state.ledger });
      state.made.clear();
      state.changed.clear();
    }
    this.dirty.clear();
    await writeGroup(this.em, writes);
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
        requestId: request.id,
        entry,
        written: countWritten([changes]),
      });
    }
  }
}

function emptyWrites(): GroupWrites {
  return { newBlocks: [], changedBlocks: [], entries: [], heads: [], invoiceDecisions: [] };
}

/**
 * Applies `data` (the `ledger.apply` jobs' payloads, in queue order) as one group; answers their
 * outcomes in the same order.
 */
export async function applyLedgerGroup(
  data: readonly unknown[],
  deps: ProcessorDeps,
): Promise<LedgerOutcome[]> {
  const requestIds = data.map((job) => jobCatalog['ledger.apply'].payload.parse(job).requestId);
  // A request twice in one group (a job enqueued again by the stranded sweep) is decided once.
  const unique = [...new Set(requestIds)];
  try {
    const outcomes = await withTransientRetry(() =>
      applyingTransaction(deps, (em) => new Group(em, deps.clock.now()).run(unique)),
    );
    const byId = new Map(outcomes.map((outcome) => [outcome.requestId, outcome]));
    return requestIds.map((requestId) => byId.get(requestId) as LedgerOutcome);
  } catch (error) {
    if (error instanceof PartitionFencedError) throw error;
    if (unique.length === 1) return [await applyLedgerRequest(data[0], deps)];
    // One request broke the group: each on its own, so that it fails alone.
    deps.logger.warn(
      { err: error, requests: unique.length },
      'ledger group failed; applying one by one',
    );
    const outcomes: LedgerOutcome[] = [];
    for (const job of data) outcomes.push(await applyLedgerRequest(job, deps));
    return outcomes;
  }
}
