/**
 * Accepting a write (ARCHITECTURE.md steps 1-4): the one `submit()` every write of every kind goes
 * through. It records the request in Postgres (with its Idempotency-Key, in one statement),
 * enqueues one job on the customer's partition, and waits up to SYNC_WAIT_MS for the worker's
 * outcome. The Postgres row is the durable acceptance: a request whose job Redis lost is still
 * `queued` there and is re-enqueued (the stranded sweep). So when the queue cannot be reached
 * (Redis down), the request is still accepted, at once (`202`), and its job waits in this process
 * until Redis answers again (deferredEnqueues.ts); nothing waits on Redis here.
 *
 * A repeated Idempotency-Key with the same body replays: the final answer once the request is
 * decided; while it is still queued, the 202 again if that was its first answer, or 409 while its
 * first caller is still waiting (Orb's SDK retries 409s); with another body, 409.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Clock } from '../../worker/runtime/clock.ts';
import { newId } from '../../worker/runtime/ids.ts';
import { partitionOf } from '../../worker/jobs/partition.ts';
import type { PartitionQueues } from '../../worker/jobs/queues.ts';
import type { RequestKind, RequestPayload } from '../../worker/jobs/requestKinds.ts';
import type { OutcomeOf } from '../../worker/jobs/requestOutcome.ts';
import type { Orm } from '../../worker/store/orm.ts';
import { storedOutcome } from '../../worker/store/readQueries.ts';
import {
  findRequest,
  findRequestByKey,
  forgetRequest,
  makeDurable,
  markKeyAnsweredAccepted,
  type IdempotencyInput,
  type RequestRow,
} from '../../worker/store/requests.ts';
import type { CustomerKey } from '../customerResolver.ts';
import { ApiError } from '../errors.ts';
import type { BacklogGate } from './backlogGate.ts';
import type { DeferredEnqueues } from './deferredEnqueues.ts';
import type { OutcomeWaiter } from './outcomeWaiter.ts';
import { RequestRecorder } from './requestRecorder.ts';
import { enqueueWithin, isQueueUnavailable } from './queueUnavailable.ts';

export type { IdempotencyInput } from '../../worker/store/requests.ts';

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

export type SubmitAnswer<K extends RequestKind> =
  | { kind: 'outcome'; outcome: OutcomeOf<K>; replayed: boolean }
  | { kind: 'accepted'; request: RequestRow; replayed: boolean };

export interface Submission<K extends RequestKind> {
  kind: K;
  customer: CustomerKey;
  payload: RequestPayload<K>;
  /** The credit ledger a ledger-entry request writes to; null for the other kinds. */
  currency: string | null;
  idempotency?: IdempotencyInput;
  /** `Prefer: respond-async`: answer 202 at once instead of waiting. */
  respondAsync: boolean;
  /** The HTTP request's id, carried into the job so that its log lines name it. */
  httpRequestId?: string;
}

/** One recorder per database in a process, so that every route's requests share its statements. */
const recorders = new WeakMap<Orm, RequestRecorder>();

function recorderFor(orm: Orm): RequestRecorder {
  let recorder = recorders.get(orm);
  if (!recorder) {
    recorder = new RequestRecorder(orm);
    recorders.set(orm, recorder);
  }
  return recorder;
}

/** `Prefer: respond-async` asks for the 202 at once. */
export function respondsAsync(prefer: string | string[] | undefined): boolean {
  return /\brespond-async\b/i.test(String(prefer ?? ''));
}

async function replay<K extends RequestKind>(
  deps: IntakeDeps,
  submission: Submission<K>,
  idempotency: IdempotencyInput,
): Promise<SubmitAnswer<K>> {
  const em = deps.orm.em.fork();
  const stored = await findRequestByKey(em, idempotency.key);
  const request = stored?.request;
  if (
    !request ||
    stored.fingerprint !== idempotency.fingerprint ||
    request.kind !== submission.kind
  ) {
    throw new ApiError(
      'resource_conflict',
      `Idempotency-Key ${idempotency.key} was already used for a different request.`,
    );
  }
  if (request.status === 'queued') {
    if (stored.answeredAccepted) return { kind: 'accepted', request, replayed: true };
    throw new ApiError(
      'resource_conflict',
      `The request with Idempotency-Key ${idempotency.key} is still being processed; retry shortly.`,
    );
  }
  const outcome = await storedOutcome(em, request, submission.customer);
  return { kind: 'outcome', outcome: outcome as OutcomeOf<K>, replayed: true };
}

/**
 * A 202 is an acknowledgement, so the request's record is made durable first (recordRequests
 * commits without waiting for the flush). A keyed request's 202 is remembered, so that its
 * replays answer 202 too, not 409; that update's synchronous commit is the flush.
 */
async function accepted<K extends RequestKind>(
  em: EntityManager,
  request: RequestRow,
  idempotency: IdempotencyInput | undefined,
): Promise<SubmitAnswer<K>> {
  if (idempotency) await markKeyAnsweredAccepted(em, idempotency.key);
  else await makeDurable(em);
  return { kind: 'accepted', request, replayed: false };
}

export async function submit<K extends RequestKind>(
  deps: IntakeDeps,
  submission: Submission<K>,
): Promise<SubmitAnswer<K>> {
  const { customer, idempotency } = submission;
  const partition = partitionOf(customer.id, deps.partitions);
  // Before anything is recorded: a refused write leaves no trace, and its retry starts afresh.
  await deps.backlog.admit('ledger_entry', [partition]);
  const request: RequestRow = {
    id: newId(),
    kind: submission.kind,
    customerId: customer.id,
    partition,
    currency: submission.currency,
    payload: submission.payload,
    status: 'queued',
    entryIds: [],
    error: null,
    createdAt: deps.clock.now(),
    completedAt: null,
  };
  const em = deps.orm.em.fork();
  if (!(await recorderFor(deps.orm).record(request, idempotency)) && idempotency)
    return replay(deps, submission, idempotency);
  const job = {
    requestId: request.id,
    customerId: customer.id,
    ...(submission.httpRequestId !== undefined && { httpRequestId: submission.httpRequestId }),
  };
  // Behind the partition's writes that are waiting for the queue, in acceptance order.
  if (deps.deferred.has(partition)) {
    deps.deferred.defer(partition, job, request.id);
    return accepted(em, request, idempotency);
  }
  const outcome = submission.respondAsync
    ? undefined
    : deps.waiter.expect<OutcomeOf<K>>(request.id, deps.syncWaitMs);
  try {
    await enqueueWithin(
      deps.queues.add(partition, 'ledger.apply', job, request.id),
      'enqueueing the request',
    );
  } catch (error) {
    deps.waiter.cancel(request.id);
    if (isQueueUnavailable(error)) {
      // Recorded, so accepted: enqueued when Redis is back (or by the stranded-request sweep).
      deps.deferred.defer(partition, job, request.id);
      return accepted(em, request, idempotency);
    }
    // Not enqueued, so not accepted: undo the record so that a retry with the same key starts
    // afresh; unless a later request of the customer's applied it meanwhile: then it answers.
    if (!(await forgetRequest(em, request.id))) {
      const decided = (await findRequest(em, request.id)) ?? request;
      const outcome = await storedOutcome(em, decided, customer);
      return { kind: 'outcome', outcome: outcome as OutcomeOf<K>, replayed: false };
    }
    throw new ApiError(
      'unavailable',
      `The queue is unavailable; nothing was written (${(error as Error).message}).`,
    );
  }
  const finished = await outcome;
  return finished
    ? { kind: 'outcome', outcome: finished, replayed: false }
    : accepted(em, request, idempotency);
}
