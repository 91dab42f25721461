/**
 * Alert writes are requests on the customer's partition (worker/processors/kinds/alertChange.ts):
 * `requests.kind` takes `alert_change`.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203075000_alertRequests extends Migration {
  override up(): void {
    this.addSql(`
      alter table requests drop constraint requests_kind_check;
      alter table requests add constraint requests_kind_check
        check (kind in ('ledger_entry', 'balance_transaction', 'invoice_change', 'event_deprecation',
                       'top_up_create', 'top_up_delete', 'customer_create', 'usage_price_create',
                       'alert_change'));
    `);
  }

  override down(): void {
    this.addSql(`
      delete from requests where kind = 'alert_change';
      alter table requests drop constraint requests_kind_check;
      alter table requests add constraint requests_kind_check
        check (kind in ('ledger_entry', 'balance_transaction', 'invoice_change', 'event_deprecation',
                       'top_up_create', 'top_up_delete', 'customer_create', 'usage_price_create'));
    `);
  }
}
