/**
 * Accepting a ledger write (ARCHITECTURE.md steps 1-4): record the request in Postgres (with its
 * Idempotency-Key, in one transaction), enqueue one job on the customer's partition, and wait up
 * to SYNC_WAIT_MS for the worker's outcome. The Postgres row is the durable acceptance: a request
 * whose job Redis lost is still `queued` there and can be re-enqueued.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../../worker/clock.ts';
import { newId } from '../../worker/ids.ts';
import type { LedgerOutcome, OutcomeError } from '../../worker/ledgerOutcome.ts';
import type { LedgerRequestPayload } from '../../worker/ledgerRequestPayload.ts';
import { partitionOf } from '../../worker/partition.ts';
import type { PartitionQueues } from '../../worker/queues.ts';
import { IdempotencyKey, LedgerRequest, type LedgerRequestRow } from '../../worker/store/entities.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { storedOutcomeEntry } from '../../worker/store/readQueries.ts';
import type { CustomerKey } from '../customerResolver.ts';
import { ApiError } from '../errors.ts';
import type { OutcomeWaiter } from './outcomeWaiter.ts';

export interface IntakeDeps {
  orm: Orm;
  queues: PartitionQueues;
  waiter: OutcomeWaiter;
  clock: Clock;
  partitions: number;
  syncWaitMs: number;
}

export interface IdempotencyInput {
  key: string;
  fingerprint: string;
}

export type IntakeAnswer =
  | { kind: 'outcome'; outcome: LedgerOutcome; replayed: boolean }
  | { kind: 'accepted'; request: LedgerRequestRow };

class KeyTaken extends Error {}

async function record(em: EntityManager, request: LedgerRequestRow, idempotency: IdempotencyInput | undefined): Promise<void> {
  await em.insert(LedgerRequest, request);
  if (!idempotency) return;
  const inserted = await em.execute<{ key: string }[]>(
    `insert into idempotency_keys (key, fingerprint, request_id, created_at) values (?, ?, ?, ?)
     on conflict (key) do nothing returning key`,
    [idempotency.key, idempotency.fingerprint, request.id, request.createdAt],
  );
  if (inserted.length === 0) throw new KeyTaken();
}

async function replay(em: EntityManager, idempotency: IdempotencyInput, customer: CustomerKey): Promise<IntakeAnswer> {
  const stored = await em.findOne(IdempotencyKey, { key: idempotency.key });
  const request = stored?.requestId ? await em.findOne(LedgerRequest, { id: stored.requestId }) : null;
  if (!stored || !request || stored.fingerprint !== idempotency.fingerprint) {
    throw new ApiError('resource_conflict', `Idempotency-Key ${idempotency.key} was already used for a different request.`);
  }
  if (request.status === 'queued') {
    throw new ApiError('resource_conflict', `The request with Idempotency-Key ${idempotency.key} is still being processed; retry shortly.`);
  }
  const entry = await storedOutcomeEntry(em, request, customer);
  const outcome: LedgerOutcome = entry
    ? { status: 'committed', requestId: request.id, entry }
    : { status: 'failed', requestId: request.id, error: request.error as OutcomeError };
  return { kind: 'outcome', outcome, replayed: true };
}

export async function acceptLedgerRequest(
  deps: IntakeDeps,
  input: { customer: CustomerKey; payload: LedgerRequestPayload; idempotency?: IdempotencyInput; respondAsync: boolean },
): Promise<IntakeAnswer> {
  const partition = partitionOf(input.customer.id, deps.partitions);
  const request: LedgerRequestRow = {
    id: newId(),
    customerId: input.customer.id,
    partition,
    payload: input.payload,
    status: 'queued',
    entryIds: [],
    error: null,
    createdAt: deps.clock.now(),
    completedAt: null,
  };
  const em = deps.orm.em.fork();
  try {
    await em.transactional((tx) => record(tx, request, input.idempotency));
  } catch (error) {
    if (error instanceof KeyTaken && input.idempotency) return replay(em, input.idempotency, input.customer);
    throw error;
  }
  const outcome = input.respondAsync ? undefined : deps.waiter.expect(request.id, deps.syncWaitMs);
  try {
    await deps.queues.add(partition, 'ledger.apply', { requestId: request.id, customerId: input.customer.id }, request.id);
  } catch (error) {
    // Not enqueued, so not accepted: undo the record so that a retry with the same key starts afresh.
    deps.waiter.cancel(request.id);
    await em.transactional(async (tx) => {
      await tx.nativeDelete(IdempotencyKey, { requestId: request.id });
      await tx.nativeDelete(LedgerRequest, { id: request.id });
    });
    throw new ApiError('unavailable', `The queue is unavailable; nothing was written (${(error as Error).message}).`);
  }
  const finished = await outcome;
  return finished ? { kind: 'outcome', outcome: finished, replayed: false } : { kind: 'accepted', request };
}
