/**
 * Deprecating a usage event (Orb's `PUT /events/{id}/deprecate`) shrinks its group's pending
 * decrement toward 0, and a group whose every event is deprecated ends at exactly 0. The sign
 * constraint required every decrement to be < 0; it now also admits a usage decrement (one that
 * carries a price) of exactly 0, pending or, once its day has closed, committed. Every other entry
 * keeps its strict sign, and a usage decrement still never becomes positive.
 *
 * The swap is one transaction (the migrator runs all-or-nothing), so there is no moment without a
 * sign check. The new rule is looser than the old one: every stored row already satisfies it, and
 * adding it costs one scan of ledger_entries under the table lock.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261121030000_deprecation extends Migration {
  override up(): void {
    this.addSql(`
      alter table ledger_entries drop constraint ledger_entries_sign;
      alter table ledger_entries add constraint ledger_entries_sign check (
        (entry_type in ('increment', 'amendment', 'expiration_change', 'void_initiated') and amount > 0)
        or (entry_type in ('decrement', 'credit_block_expiry', 'void') and amount < 0)
        -- A usage decrement whose events were all deprecated (pending, or committed at day close).
        or (entry_type = 'decrement' and price_id is not null and amount = 0));
    `);
  }

  override down(): void {
    // Fails while a zero usage decrement is stored: such a ledger cannot go back to the old rule.
    this.addSql(`
      alter table ledger_entries drop constraint ledger_entries_sign;
      alter table ledger_entries add constraint ledger_entries_sign check (
        (entry_type in ('increment', 'amendment', 'expiration_change', 'void_initiated') and amount > 0)
        or (entry_type in ('decrement', 'credit_block_expiry', 'void') and amount < 0));
    `);
  }
}
