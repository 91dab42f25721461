/**
 * Commits a customer's pending usage entries whose day has closed (end of the usage day plus the
 * grace period, LEDGER_RULES.md §5). Runs on the customer's partition, so no usage job can grow an
 * entry while it is being closed; once committed, an entry never changes again.
 */
import { applyingTransaction } from '../partitionFence.ts';
import { jobCatalog } from '../jobs/queues.ts';
import { withTransientRetry } from '../runtime/transientRetry.ts';
import { commitClosedUsageDays } from '../store/usageDays.ts';
import type { ProcessorDeps } from './processorDeps.ts';

export async function closeUsageDays(
  data: unknown,
  deps: ProcessorDeps,
): Promise<{ committed: number }> {
  const { customerId } = jobCatalog['usage.closeDays'].payload.parse(data);
  const committed = await withTransientRetry(() =>
    applyingTransaction(deps, (em) => commitClosedUsageDays(em, customerId, deps.clock.now())),
  );
  return { committed };
}
