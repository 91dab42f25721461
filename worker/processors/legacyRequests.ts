/**
 * Jobs queued by versions before the one request model carried an invoice change or an event
 * deprecation in the job itself, with no request row. After an upgrade such a job is recorded as
 * a request (its id derived from the job's, so a redelivered job finds the same request) and then
 * applied by the shell like any other. Tested with stored payloads
 * (test/integration/worker/queuedPayloads.test.ts).
 */
import type { Job } from 'bullmq';
import { partitionOf } from '../jobs/partition.ts';
import { jobCatalog } from '../jobs/queues.ts';
import type { RequestKind } from '../jobs/requestKinds.ts';
import { recordRequestOnce } from '../store/requests.ts';
import type { Orm } from '../store/orm.ts';
import type { Clock } from '../runtime/clock.ts';

type LegacyJobName = 'invoice.change' | 'usage.deprecate';

function asRequest(
  name: LegacyJobName,
  data: unknown,
): { kind: RequestKind; customerId: string; payload: unknown } {
  if (name === 'invoice.change') {
    const { invoiceId, customerId, action } = jobCatalog['invoice.change'].payload.parse(data);
    return { kind: 'invoice_change', customerId, payload: { invoice_id: invoiceId, action } };
  }
  const { eventId, customerId } = jobCatalog['usage.deprecate'].payload.parse(data);
  return { kind: 'event_deprecation', customerId, payload: { event_id: eventId } };
}

/** Records the legacy job as a request (once) and answers the job data that applies it. */
export async function recordLegacyRequest(
  name: LegacyJobName,
  data: unknown,
  job: Pick<Job, 'id' | 'timestamp'>,
  deps: { orm: Orm; clock: Clock; partitions: number },
): Promise<{ requestId: string; customerId: string }> {
  const { kind, customerId, payload } = asRequest(name, data);
  const requestId = `legacy-${name}-${job.id ?? job.timestamp}`;
  await recordRequestOnce(deps.orm.em.fork(), {
    id: requestId,
    kind,
    customerId,
    partition: partitionOf(customerId, deps.partitions),
    currency: null,
    payload,
    createdAt: new Date(job.timestamp),
  });
  return { requestId, customerId };
}
