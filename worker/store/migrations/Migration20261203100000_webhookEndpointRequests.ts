/**
 * Creating a webhook endpoint takes an Idempotency-Key like every create: it is recorded as an
 * immediate request (`webhook_endpoint_create`), committed with the endpoint it made.
 */
import { Migration } from '@mikro-orm/migrations';

const KINDS_BEFORE = `'ledger_entry', 'balance_transaction', 'invoice_change', 'event_deprecation',
  'top_up_create', 'top_up_delete', 'customer_create', 'usage_price_create', 'alert_change'`;

export class Migration20261203100000_webhookEndpointRequests extends Migration {
  override up(): void {
    this.addSql(`
      alter table requests drop constraint requests_kind_check;
      alter table requests add constraint requests_kind_check
        check (kind in (${KINDS_BEFORE}, 'webhook_endpoint_create'));
      alter table requests drop constraint requests_partitioned;
      alter table requests add constraint requests_partitioned
        check ((kind in ('customer_create', 'usage_price_create', 'webhook_endpoint_create'))
                 = (partition is null)
               and (partition is null or customer_id is not null));
    `);
  }

  override down(): void {
    this.addSql(`
      delete from requests where kind = 'webhook_endpoint_create';
      alter table requests drop constraint requests_partitioned;
      alter table requests add constraint requests_partitioned
        check ((kind in ('customer_create', 'usage_price_create')) = (partition is null)
               and (partition is null or customer_id is not null));
      alter table requests drop constraint requests_kind_check;
      alter table requests add constraint requests_kind_check check (kind in (${KINDS_BEFORE}));
    `);
  }
}
