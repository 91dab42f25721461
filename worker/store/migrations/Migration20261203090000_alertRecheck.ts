/**
 * `alerts.recheck_at`: when the watched balance of the alert's ledger next changes with no entry
 * (a block holding credit becomes effective: domain/alerts.ts `nextEffectiveAt`). Written with the
 * alert state in every transaction that evaluates it; the recheck sweep
 * (worker/sweeps/alertRecheckSweep.ts) catches those ledgers up once the time has come, so a
 * crossing that time alone causes is told without waiting for the customer's next write.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203090000_alertRecheck extends Migration {
  override up(): void {
    this.addSql(`
      alter table alerts add column recheck_at timestamptz;
      create index alerts_recheck_idx on alerts (recheck_at) where recheck_at is not null;
    `);
  }

  override down(): void {
    this.addSql(`alter table alerts drop column recheck_at;`);
  }
}
