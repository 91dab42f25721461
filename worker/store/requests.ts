/**
 * The `requests` table (one request model, ARCHITECTURE.md): what the intake records before it
 * answers, with its Idempotency-Key in the same statement, and what the api reads back for
 * replays and for `GET /v1/ledger_requests/{id}`. The worker's side (locking a group, recording
 * its outcomes) is in ledgerGroupRepository.ts.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { OutcomeError } from '../jobs/requestOutcome.ts';
import type { ImmediateKind, RequestKind } from '../jobs/requestKinds.ts';
import { queryPrepared } from './queryPrepared.ts';

/**
 * A one-row source whose evaluation turns synchronous_commit off for the statement's own
 * (implicit) transaction: the setting is local, so it ends with that transaction.
 */
const ASYNC_COMMIT = `(select set_config('synchronous_commit', 'off', true)) as async_commit`;

export type RequestStatus = 'queued' | 'committed' | 'failed';

export interface RequestRow {
  id: string;
  kind: RequestKind;
  customerId: string;
  partition: number;
  /** The credit ledger of a ledger-entry request; null for the other kinds. */
  currency: string | null;
  payload: unknown;
  status: RequestStatus;
  entryIds: string[];
  error: OutcomeError | null;
  createdAt: Date;
  completedAt: Date | null;
}

export interface IdempotencyInput {
  key: string;
  fingerprint: string;
}

interface RequestSqlRow {
  id: string;
  kind: RequestKind;
  customer_id: string;
  partition: number;
  currency: string | null;
  payload: unknown;
  status: RequestStatus;
  entry_ids: string[];
  error: OutcomeError | null;
  created_at: Date | string;
  completed_at: Date | string | null;
}

const toDate = (value: Date | string) => (value instanceof Date ? value : new Date(value));

function toRequestRow(row: RequestSqlRow): RequestRow {
  return {
    id: row.id,
    kind: row.kind,
    customerId: row.customer_id,
    partition: row.partition,
    currency: row.currency,
    payload: row.payload,
    status: row.status,
    entryIds: row.entry_ids,
    error: row.error,
    createdAt: toDate(row.created_at),
    completedAt: row.completed_at === null ? null : toDate(row.completed_at),
  };
}

export type RecordableRequest = Pick<
  RequestRow,
  'id' | 'kind' | 'customerId' | 'partition' | 'currency' | 'payload' | 'createdAt'
>;

/**
 * Records requests, each with its Idempotency-Key when given, in one statement (the intake
 * gathers the requests of concurrent callers, api/intake/requestRecorder.ts): a request row is
 * inserted only if its key was free. Answers the ids recorded; a request missing from them had
 * its key taken already.
 *
 * Its commit does not wait for the WAL flush (synchronous_commit off, for this statement only):
 * waiting for an fsync per request was most of a sync write's time in Postgres. Nothing is
 * answered on the strength of this commit alone: a 201 follows the worker's commit, which is
 * synchronous and flushes the WAL up to its own commit record, after this one; a 202 first calls
 * `makeDurable`. A crash before either loses only requests nobody was told about.
 */
export async function recordRequests(
  em: EntityManager,
  requests: readonly { request: RecordableRequest; idempotency: IdempotencyInput | undefined }[],
): Promise<Set<string>> {
  if (requests.length === 0) return new Set();
  // Prepared: one text whatever the batch, parsed and planned once per connection.
  const rows = await queryPrepared<{ id: string }>(
    em,
    `with input as (
       select * from rows from (jsonb_to_recordset(?::jsonb)
         as (id text, kind text, customer_id text, partition int, currency text, payload jsonb,
             created_at timestamptz, key text, fingerprint text)) with ordinality as i
     ), key as (
       insert into idempotency_keys (key, fingerprint, request_id, created_at)
       select key, fingerprint, id, created_at from input, ${ASYNC_COMMIT}
        where key is not null order by ordinality
       on conflict (key) do nothing returning request_id
     )
     insert into requests (id, kind, customer_id, partition, currency, payload, status, created_at)
     select id, kind, customer_id, partition, currency, payload, 'queued', created_at
       from input, ${ASYNC_COMMIT}
      where key is null or id in (select request_id from key)
      order by ordinality
     returning id`,
    [
      JSON.stringify(
        requests.map(({ request, idempotency }) => ({
          id: request.id,
          kind: request.kind,
          customer_id: request.customerId,
          partition: request.partition,
          currency: request.currency,
          payload: request.payload,
          created_at: request.createdAt.toISOString(),
          key: idempotency?.key ?? null,
          fingerprint: idempotency?.fingerprint ?? null,
        })),
      ),
    ],
  );
  return new Set(rows.map((row) => row.id));
}

/**
 * Makes every earlier commit durable, `recordRequests`'s included, before an answer that rests on
 * it (a 202): a transaction given an id writes a commit record, and its synchronous commit
 * flushes the WAL up to that record, so up to every commit before it.
 */
export async function makeDurable(em: EntityManager): Promise<void> {
  await em.execute('select pg_current_xact_id()');
}

/**
 * Undoes `recordRequests` for a request that was never enqueued, so that a retry starts afresh.
 * Answers false when it is no longer `queued`: a group of its customer applied it meanwhile (a
 * group takes every earlier queued request of its customers, job or not), so it stays, decided.
 */
export async function forgetRequest(em: EntityManager, requestId: string): Promise<boolean> {
  const rows = await em.execute<{ id: string }[]>(
    `with gone as (delete from requests where id = ? and status = 'queued' returning id),
          key as (delete from idempotency_keys where request_id in (select id from gone))
     select id from gone`,
    [requestId],
  );
  return rows.length > 0;
}

export async function findRequest(
  em: EntityManager,
  requestId: string,
): Promise<RequestRow | undefined> {
  // Partitioned requests only: a create applied at once has no status to poll.
  const [row] = await em.execute<RequestSqlRow[]>(
    'select * from requests where id = ? and partition is not null',
    [requestId],
  );
  return row && toRequestRow(row);
}

/**
 * The request an Idempotency-Key was stored with (none for a key of an immediate create), and
 * whether its first answer was a 202 (`answeredAccepted`): a replay of a request still queued
 * answers 202 again then, and 409 ("still in flight") while its first caller is still waiting.
 */
export async function findRequestByKey(
  em: EntityManager,
  key: string,
): Promise<
  { fingerprint: string; answeredAccepted: boolean; request: RequestRow | undefined } | undefined
> {
  const [row] = await em.execute<
    (RequestSqlRow & { fingerprint: string; key_request: string; response_status: number | null })[]
  >(
    `select k.fingerprint, k.request_id as key_request, k.response_status, r.*
       from idempotency_keys k left join requests r on r.id = k.request_id and r.partition is not null
      where k.key = ?`,
    [key],
  );
  if (!row) return undefined;
  return {
    fingerprint: row.fingerprint,
    answeredAccepted: row.response_status === 202,
    request: row.key_request === null || row.id === null ? undefined : toRequestRow(row),
  };
}

/** Notes that the request under this key was answered 202 (see findRequestByKey). */
export async function markKeyAnsweredAccepted(em: EntityManager, key: string): Promise<void> {
  await em.execute('update idempotency_keys set response_status = 202 where key = ?', [key]);
}

/** Records a request under an id derived from something that may be seen twice (a legacy job). */
export async function recordRequestOnce(
  em: EntityManager,
  request: Pick<
    RequestRow,
    'id' | 'kind' | 'customerId' | 'partition' | 'currency' | 'payload' | 'createdAt'
  >,
): Promise<void> {
  await em.execute(
    `insert into requests (id, kind, customer_id, partition, currency, payload, status, created_at)
     values (?, ?, ?, ?, ?, ?::jsonb, 'queued', ?) on conflict (id) do nothing`,
    [
      request.id,
      request.kind,
      request.customerId,
      request.partition,
      request.currency,
      JSON.stringify(request.payload),
      request.createdAt,
    ],
  );
}

/**
 * Records a create applied at once (a customer, a usage price), committed, in the transaction that
 * makes it; before its Idempotency-Key, which names it.
 */
export async function recordImmediateRequest(
  tx: EntityManager,
  request: {
    id: string;
    kind: ImmediateKind;
    customerId: string | null;
    payload: unknown;
    result: Record<string, string>;
    createdAt: Date;
  },
): Promise<void> {
  await tx.execute(
    `insert into requests (id, kind, customer_id, partition, currency, payload, status, result, created_at, completed_at)
     values (?, ?, ?, null, null, ?::jsonb, 'committed', ?::jsonb, ?, ?)`,
    [
      request.id,
      request.kind,
      request.customerId,
      JSON.stringify(request.payload),
      JSON.stringify(request.result),
      request.createdAt,
      request.createdAt,
    ],
  );
}
