/**
 * How many ledger entries a job wrote, by "entry_type/entry_status": returned with every job's
 * result so that the api's metrics can count entries written without reading the database.
 */
import type { LedgerChanges } from '../domain/types.ts';

export type WrittenCounts = Record<string, number>;

export function countWritten(decisions: readonly LedgerChanges[]): WrittenCounts {
  const counts: WrittenCounts = {};
  for (const changes of decisions) {
    for (const entry of changes.entries) {
      const key = `${entry.entryType}/${entry.entryStatus}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  return counts;
}
