/**
 * Applies one accepted ledger request. Always the same shape (ARCHITECTURE.md step 3): parse the
 * payload, load what the decision needs, call the pure domain, save its result and the request's
 * outcome, all in one transaction. Re-delivery is harmless: a request that is no longer `queued`
 * answers its stored outcome and changes nothing.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { decide } from '../../domain/decide.ts';
import type { Clock } from '../runtime/clock.ts';
import { newId } from '../runtime/ids.ts';
import type { LedgerOutcome, OutcomeError } from '../jobs/ledgerOutcome.ts';
import { ledgerRequestPayload, toCommand } from '../jobs/ledgerRequestPayload.ts';
import { jobCatalog } from '../jobs/queues.ts';
import { invoiceViewsByBlock } from '../store/invoices.ts';
import {
  lockRequestAndLoad,
  markFailed,
  saveChanges,
  writtenRows,
} from '../store/ledgerRepository.ts';
import type { Orm } from '../store/orm.ts';
import { storedOutcome } from '../store/readQueries.ts';
import { ledgerEntryView } from '../store/views.ts';
import { applyingTransaction, PartitionFencedError, type JobFence } from '../partitionFence.ts';
import { withTransientRetry } from '../runtime/transientRetry.ts';
import { countWritten } from '../writtenCounts.ts';

export interface ProcessorDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
  /** The running job's fence (worker/partitionFence.ts); absent when a processor is called directly. */
  fence?: JobFence;
}

async function refuse(
  em: EntityManager,
  requestId: string,
  error: OutcomeError,
  now: Date,
): Promise<LedgerOutcome> {
  await markFailed(em, requestId, error, now);
  return { status: 'failed', requestId, error };
}

async function decideAndSave(
  em: EntityManager,
  requestId: string,
  clock: Clock,
): Promise<LedgerOutcome> {
  const now = clock.now();
  const loaded = await lockRequestAndLoad(em, requestId, now);
  if (!loaded) {
    return {
      status: 'failed',
      requestId,
      error: { kind: 'internal', detail: `ledger request ${requestId} does not exist` },
    };
  }
  const { request, ledger, blocks, topUp } = loaded;
  if (request.status !== 'queued') return storedOutcome(em, request, request.customer);
  const payload = ledgerRequestPayload.safeParse(request.payload);
  if (!payload.success)
    return refuse(
      em,
      requestId,
      { kind: 'internal', detail: `stored request is unreadable: ${payload.error.message}` },
      now,
    );
  const command = toCommand(payload.data, request.customer.timezone);
  if ('kind' in command) return refuse(em, requestId, command, now);
  if (command.currency !== request.currency)
    throw new Error(`request ${requestId} names two currencies`);
  const decision = decide(command, ledger, blocks, { now, newId }, topUp);
  if (!decision.ok) return refuse(em, requestId, decision.error, now);
  await saveChanges(em, request.customerId, requestId, decision.value, now);
  const last = writtenRows(decision.value, request.customerId, requestId, blocks)
    .slice(0, decision.value.automaticFrom)
    .at(-1);
  if (!last) throw new Error(`request ${requestId} made no entry`);
  // An increment with invoice_settings answers with its invoice as stored (numbered on insert).
  const invoices = decision.value.invoices
    ? await invoiceViewsByBlock(em, [last.block.id])
    : undefined;
  const entry = ledgerEntryView(
    last.entry,
    last.block,
    request.customer,
    invoices?.get(last.block.id) ?? null,
  );
  return { status: 'committed', requestId, entry, written: countWritten([decision.value]) };
}

export async function applyLedgerRequest(
  data: unknown,
  deps: ProcessorDeps,
): Promise<LedgerOutcome> {
  const { requestId } = jobCatalog['ledger.apply'].payload.parse(data);
  try {
    return await withTransientRetry(() =>
      applyingTransaction(deps, (em) => decideAndSave(em, requestId, deps.clock)),
    );
  } catch (error) {
    // Fenced out: the request belongs to the worker that took the partition over.
    if (error instanceof PartitionFencedError) throw error;
    // A permanent failure is recorded and the partition moves on: nothing blocks it forever.
    deps.logger.error({ err: error, requestId }, 'ledger request failed permanently');
    const detail = `ledger request ${requestId} could not be applied because of an internal error; it has been logged.`;
    const failure: OutcomeError = { kind: 'internal', detail };
    await withTransientRetry(() =>
      applyingTransaction(deps, (em) => markFailed(em, requestId, failure, deps.clock.now())),
    );
    return { status: 'failed', requestId, error: failure };
  }
}
