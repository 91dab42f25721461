/**
 * Catches one ledger up with the clock (due credit_block_expiry entries) when no command did it
 * first. Enqueued by the expiry sweep onto the customer's partition, so it is serialized with the
 * customer's other writes. Running it twice is harmless: the second finds nothing due.
 */
import { catchUp } from '../../domain/catchUp.ts';
import { newId } from '../runtime/ids.ts';
import { jobCatalog } from '../jobs/queues.ts';
import { lockCustomerAndLoad, saveChanges } from '../store/ledgerRepository.ts';
import { applyingTransaction } from '../partitionFence.ts';
import { withTransientRetry } from '../runtime/transientRetry.ts';
import { countWritten, type WrittenCounts } from '../writtenCounts.ts';
import type { ProcessorDeps } from './processorDeps.ts';
import { LedgerNews } from './ledgerNews.ts';

export async function catchUpLedger(
  data: unknown,
  deps: ProcessorDeps,
): Promise<{ entries: number; written: WrittenCounts }> {
  const { customerId, currency } = jobCatalog['ledger.catchUp'].payload.parse(data);
  return withTransientRetry(() =>
    applyingTransaction(deps, async (em) => {
      const now = deps.clock.now();
      const { ledger, blocks } = await lockCustomerAndLoad(em, customerId, currency, now);
      const changes = catchUp(ledger, blocks, { now, newId });
      if (changes.entries.length > 0) await saveChanges(em, customerId, null, changes, now);
      // An expiry may cross a threshold; a block that became effective may too, with no entry.
      const news = new LedgerNews();
      news.ledgerChanged(customerId, changes);
      await news.write(em, now, deps.outbox);
      return { entries: changes.entries.length, written: countWritten([changes]) };
    }),
  );
}
