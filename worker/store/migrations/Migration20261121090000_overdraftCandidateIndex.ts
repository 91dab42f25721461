/**
 * Every decrement looks for the overdraft candidate (ledger_load): the newest depleted,
 * never-expiring, unfiltered active block. Without an index that is a scan of all the customer's
 * depleted blocks, which grows with the ledger's age (4.4 ms for a customer with 10,000 blocks,
 * measured by `npm run bench:ledger-size`); this partial index is in the query's own order, so
 * the candidate is its first row whatever the history.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261121090000_overdraftCandidateIndex extends Migration {
  override up(): void {
    this.addSql(`
      create index credit_blocks_overdraft_candidate_idx
          on credit_blocks (customer_id, currency, (coalesce(per_unit_cost_basis::numeric, 0)) desc, created_at desc, id desc)
       where balance = 0 and expiry_date is null and filters = '[]'::jsonb and status = 'active' and voided_at is null;
    `);
  }

  override down(): void {
    this.addSql('drop index credit_blocks_overdraft_candidate_idx;');
  }
}
