/**
 * Orb's `active_from` on top-ups (issue 12 §3): the instant from which a top-up acts, null for
 * "from its creation". `top_up_load` hands it to the worker with the rest of the configuration,
 * and domain/decideTopUp.ts does nothing before it.
 */
import { Migration } from '@mikro-orm/migrations';

const TOP_UP_LOAD = (withActiveFrom: boolean) => `
  create or replace function top_up_load(p_customer_id text, p_currency text) returns json language sql stable as $$
    select json_build_object(
             'amount', t.amount::text, 'threshold', t.threshold::text, 'per_unit_cost_basis', t.per_unit_cost_basis,
             'invoice_currency', t.invoice_currency, 'timezone', c.timezone, 'auto_collection', t.auto_collection,
             'net_terms', t.net_terms, 'memo', t.memo, 'require_successful_payment', t.require_successful_payment,
             'expires_after', t.expires_after, 'expires_after_unit', t.expires_after_unit,${
               withActiveFrom
                 ? `
             'active_from', t.active_from,`
                 : ''
             }
             'unpaid', exists (select 1 from invoices i join credit_blocks b on b.id = i.block_id
                                where i.customer_id = p_customer_id and i.top_up and i.status = 'issued'
                                  and b.currency = p_currency))
      from top_ups t join customers c on c.id = t.customer_id
     where t.customer_id = p_customer_id and t.currency = p_currency
  $$;`;

export class Migration20261203020000_topUpActiveFrom extends Migration {
  override up(): void {
    this.addSql(`alter table top_ups add column active_from timestamptz; ${TOP_UP_LOAD(true)}`);
  }

  override down(): void {
    this.addSql(`${TOP_UP_LOAD(false)} alter table top_ups drop column active_from;`);
  }
}
