/**
 * Applies one accepted ledger request. Always the same shape (ARCHITECTURE.md step 3): parse the
 * payload, load what the decision needs, call the pure domain, save its result and the request's
 * outcome, all in one transaction. Re-delivery is harmless: a request that is no longer `queued`
 * answers its stored outcome and changes nothing.
 */
import { LockMode, type EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { decide } from '../../domain/decide.ts';
import type { Clock } from '../clock.ts';
import { newId } from '../ids.ts';
import type { LedgerOutcome, OutcomeError } from '../ledgerOutcome.ts';
import { ledgerRequestPayload, toCommand } from '../ledgerRequestPayload.ts';
import { jobCatalog } from '../queues.ts';
import { LedgerRequest, type LedgerRequestRow } from '../store/entities.ts';
import { applyChanges, loadLedger, lockCustomer } from '../store/ledgerRepository.ts';
import type { Orm } from '../store/orm.ts';
import { storedOutcomeEntry } from '../store/readQueries.ts';
import { ledgerEntryView } from '../store/views.ts';
import { withTransientRetry } from '../transientRetry.ts';

export interface ProcessorDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
}

function fail(request: LedgerRequestRow, error: OutcomeError, now: Date): LedgerOutcome {
  request.status = 'failed';
  request.error = error;
  request.completedAt = now;
  return { status: 'failed', requestId: request.id, error };
}

async function decideAndSave(em: EntityManager, requestId: string, clock: Clock): Promise<LedgerOutcome> {
  const request = await em.findOne(LedgerRequest, { id: requestId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (!request) {
    return { status: 'failed', requestId, error: { kind: 'internal', detail: `ledger request ${requestId} does not exist` } };
  }
  const customer = await lockCustomer(em, request.customerId);
  if (!customer) throw new Error(`customer ${request.customerId} of request ${requestId} is missing`);
  if (request.status !== 'queued') {
    const entry = await storedOutcomeEntry(em, request, customer);
    if (entry) return { status: 'committed', requestId, entry };
    return { status: 'failed', requestId, error: request.error as OutcomeError };
  }
  const now = clock.now();
  const payload = ledgerRequestPayload.safeParse(request.payload);
  if (!payload.success) return fail(request, { kind: 'internal', detail: `stored request is unreadable: ${payload.error.message}` }, now);
  const command = toCommand(payload.data, customer.timezone);
  if ('kind' in command) return fail(request, command, now);
  const loaded = await loadLedger(em, customer.id, command.currency, now);
  const decision = decide(command, loaded.ledger, loaded.blocks, { now, newId });
  if (!decision.ok) return fail(request, decision.error, now);
  const entries = applyChanges(em, customer.id, loaded, decision.value, request.id);
  request.status = 'committed';
  request.entryIds = entries.map((entry) => entry.id);
  request.completedAt = now;
  const last = entries.at(-1);
  const block = last && loaded.blockRows.get(last.blockId);
  if (!last || !block) throw new Error(`request ${requestId} made no entry`);
  return { status: 'committed', requestId, entry: ledgerEntryView(last, block, customer) };
}

export async function applyLedgerRequest(data: unknown, deps: ProcessorDeps): Promise<LedgerOutcome> {
  const { requestId } = jobCatalog['ledger.apply'].payload.parse(data);
  try {
    return await withTransientRetry(() => deps.orm.em.fork().transactional((em) => decideAndSave(em, requestId, deps.clock)));
  } catch (error) {
    // A permanent failure is recorded and the partition moves on: nothing blocks it forever.
    deps.logger.error({ err: error, requestId }, 'ledger request failed permanently');
    const detail = `ledger request ${requestId} could not be applied because of an internal error; it has been logged.`;
    await withTransientRetry(() =>
      deps.orm.em.fork().transactional(async (em) => {
        const request = await em.findOne(LedgerRequest, { id: requestId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (request?.status === 'queued') fail(request, { kind: 'internal', detail }, deps.clock.now());
      }),
    );
    return { status: 'failed', requestId, error: { kind: 'internal', detail } };
  }
}
