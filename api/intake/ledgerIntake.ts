/**
 * Accepting a ledger write (ARCHITECTURE.md steps 1-4): record the request in Postgres (with its
 * Idempotency-Key, in one transaction), enqueue one job on the customer's partition, and wait up
 * to SYNC_WAIT_MS for the worker's outcome. The Postgres row is the durable acceptance: a request
 * whose job Redis lost is still `queued` there and can be re-enqueued. So when the queue cannot
 * be reached (Redis down), the request is still accepted, at once (`202`), and its job waits in
 * this process until Redis answers again (deferredEnqueues.ts); nothing waits on Redis here.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../../worker/runtime/clock.ts';
import { newId } from '../../worker/runtime/ids.ts';
import type { LedgerOutcome } from '../../worker/jobs/ledgerOutcome.ts';
import {
  DEFAULT_CURRENCY,
  type LedgerRequestPayload,
} from '../../worker/jobs/ledgerRequestPayload.ts';
import { partitionOf } from '../../worker/jobs/partition.ts';
import type { PartitionQueues } from '../../worker/jobs/queues.ts';
import {
  IdempotencyKey,
  LedgerRequest,
  type LedgerRequestRow,
} from '../../worker/store/entities.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { storedOutcome } from '../../worker/store/readQueries.ts';
import type { CustomerKey } from '../customerResolver.ts';
import { ApiError } from '../errors.ts';
import type { BacklogGate } from './backlogGate.ts';
import type { DeferredEnqueues } from './deferredEnqueues.ts';
import type { OutcomeWaiter } from './outcomeWaiter.ts';
import { enqueueWithin, isQueueUnavailable } from './queueUnavailable.ts';

export interface IntakeDeps {
  orm: Orm;
  queues: PartitionQueues;
  waiter: OutcomeWaiter;
  clock: Clock;
  partitions: number;
  syncWaitMs: number;
  backlog: BacklogGate;
  /** Where accepted writes wait while the queue is unreachable. */
  deferred: DeferredEnqueues;
}

export interface IdempotencyInput {
  key: string;
  fingerprint: string;
}

export type IntakeAnswer =
  | { kind: 'outcome'; outcome: LedgerOutcome; replayed: boolean }
  | { kind: 'accepted'; request: LedgerRequestRow };

/**
 * Records the request, and its Idempotency-Key when given, in one statement: the request row is
 * inserted only if the key was free. Answers false when the key was already taken.
 */
async function record(
  em: EntityManager,
  request: LedgerRequestRow,
  idempotency: IdempotencyInput | undefined,
): Promise<boolean> {
  const values = [
    request.id,
    request.customerId,
    request.partition,
    request.currency,
    JSON.stringify(request.payload),
    request.createdAt,
  ];
  if (!idempotency) {
    await em.execute(
      `insert into ledger_requests (id, customer_id, partition, currency, payload, status, created_at) values (?, ?, ?, ?, ?::jsonb, 'queued', ?)`,
      values,
    );
    return true;
  }
  const inserted = await em.execute<{ id: string }[]>(
    `with key as (
       insert into idempotency_keys (key, fingerprint, request_id, created_at) values (?, ?, ?, ?)
       on conflict (key) do nothing returning request_id
     )
     insert into ledger_requests (id, customer_id, partition, currency, payload, status, created_at)
     select ?, ?, ?, ?, ?::jsonb, 'queued', ? from key returning id`,
    [idempotency.key, idempotency.fingerprint, request.id, request.createdAt, ...values],
  );
  return inserted.length > 0;
}

async function replay(
  em: EntityManager,
  idempotency: IdempotencyInput,
  customer: CustomerKey,
): Promise<IntakeAnswer> {
  const stored = await em.findOne(IdempotencyKey, { key: idempotency.key });
  const request = stored?.requestId
    ? await em.findOne(LedgerRequest, { id: stored.requestId })
    : null;
  if (!stored || !request || stored.fingerprint !== idempotency.fingerprint) {
    throw new ApiError(
      'resource_conflict',
      `Idempotency-Key ${idempotency.key} was already used for a different request.`,
    );
  }
  if (request.status === 'queued') {
    throw new ApiError(
      'resource_conflict',
      `The request with Idempotency-Key ${idempotency.key} is still being processed; retry shortly.`,
    );
  }
  return { kind: 'outcome', outcome: await storedOutcome(em, request, customer), replayed: true };
}

export async function acceptLedgerRequest(
  deps: IntakeDeps,
  input: {
    customer: CustomerKey;
    payload: LedgerRequestPayload;
    idempotency?: IdempotencyInput;
    respondAsync: boolean;
    /** The HTTP request's id, carried into the job so that its log lines name it. */
    httpRequestId?: string;
  },
): Promise<IntakeAnswer> {
  const partition = partitionOf(input.customer.id, deps.partitions);
  // Before anything is recorded: a refused write leaves no trace, and its retry starts afresh.
  await deps.backlog.admit('ledger_entry', [partition]);
  const request: LedgerRequestRow = {
    id: newId(),
    customerId: input.customer.id,
    partition,
    currency: input.payload.currency ?? DEFAULT_CURRENCY,
    payload: input.payload,
    status: 'queued',
    entryIds: [],
    error: null,
    createdAt: deps.clock.now(),
    completedAt: null,
  };
  const em = deps.orm.em.fork();
  if (!(await record(em, request, input.idempotency)) && input.idempotency)
    return replay(em, input.idempotency, input.customer);
  const job = {
    requestId: request.id,
    customerId: input.customer.id,
    ...(input.httpRequestId !== undefined && { httpRequestId: input.httpRequestId }),
  };
  // Behind the partition's writes that are waiting for the queue, in acceptance order.
  if (deps.deferred.has(partition)) {
    deps.deferred.defer(partition, 'ledger.apply', job, request.id);
    return { kind: 'accepted', request };
  }
  const outcome = input.respondAsync ? undefined : deps.waiter.expect(request.id, deps.syncWaitMs);
  try {
    await enqueueWithin(
      deps.queues.add(partition, 'ledger.apply', job, request.id),
      'enqueueing the request',
    );
  } catch (error) {
    if (isQueueUnavailable(error)) {
      // Recorded, so accepted: enqueued when Redis is back (or by the stranded-request sweep).
      deps.waiter.cancel(request.id);
      deps.deferred.defer(partition, 'ledger.apply', job, request.id);
      return { kind: 'accepted', request };
    }
    // Not enqueued, so not accepted: undo the record so that a retry with the same key starts afresh.
    deps.waiter.cancel(request.id);
    await em.execute(
      'with key as (delete from idempotency_keys where request_id = ?) delete from ledger_requests where id = ?',
      [request.id, request.id],
    );
    throw new ApiError(
      'unavailable',
      `The queue is unavailable; nothing was written (${(error as Error).message}).`,
    );
  }
  const finished = await outcome;
  return finished
    ? { kind: 'outcome', outcome: finished, replayed: false }
    : { kind: 'accepted', request };
}
