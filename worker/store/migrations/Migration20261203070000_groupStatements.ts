/**
 * A group of requests (worker/processors/applyRequests.ts) loads in one statement and saves in one
 * (worker/store/ledgerGroupRepository.ts). Sent as plain statements, Postgres parsed and planned
 * each of them on every group: a fifth of its CPU under sync ledger writes (perf, 64 clients on
 * the 2-core bench machine). As PL/pgSQL functions their plans are made once per connection.
 *
 * `group_lock_and_load` locks the group's requests (in id order, like every other locker of them)
 * and reads them, then locks and loads every ledger their queued ledger-entry requests write to,
 * customers in id order, with the top-up configuration when one of them is a decrement. The
 * requests are locked in full before the first ledger (the materialized `q` feeds the ledgers'
 * keys). Rows come back as JSON arrays.
 *
 * `group_save` writes the group's merged decisions (`ledger_write`) and records every outcome,
 * answering how many requests were still `queued` to be recorded.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261203070000_groupStatements extends Migration {
  override up(): void {
    this.addSql(`
      create function group_lock_and_load(p_request_ids jsonb, p_now timestamptz)
      returns table (group_requests json, group_ledgers json)
      language plpgsql as $$
      begin
        return query
        with q as materialized (
          select r.id, r.kind, r.customer_id, r.currency, r.status, r.payload, r.entry_ids, r.error,
                 c.timezone, c.external_customer_id
            from requests r join customers c on c.id = r.customer_id
           where r.id in (select jsonb_array_elements_text(p_request_ids))
           order by r.id
             for no key update of r
        ), k as (
          select q.customer_id, q.currency, bool_or(q.payload->>'entry_type' = 'decrement') as top_up
            from q
           where q.status = 'queued' and q.kind = 'ledger_entry' and q.currency is not null
           group by q.customer_id, q.currency
           order by q.customer_id, q.currency
        ), l as (
          select k.customer_id, k.currency, d.ledger_balance, d.next_sequence_number, d.blocks,
                 case when k.top_up then top_up_load(k.customer_id, k.currency) end as top_up
            from k cross join lateral ledger_load(k.customer_id, k.currency, p_now, null) as d
        )
        select (select coalesce(json_agg(q), '[]'::json) from q),
               (select coalesce(json_agg(l), '[]'::json) from l);
      end $$;

      create function group_save(p_new_blocks jsonb, p_changed_blocks jsonb, p_entries jsonb,
                                 p_grown_entries jsonb, p_heads jsonb, p_now timestamptz,
                                 p_outcomes jsonb)
      returns integer
      language plpgsql as $$
      declare
        recorded integer;
      begin
        perform ledger_write(p_new_blocks, p_changed_blocks, p_entries, p_grown_entries, p_heads);
        update requests r
           set status = o.status, entry_ids = coalesce(o.entry_ids, r.entry_ids), error = o.error,
               completed_at = p_now
          from jsonb_to_recordset(p_outcomes) as o(id text, status text, entry_ids jsonb, error jsonb)
         where r.id = o.id and r.status = 'queued';
        get diagnostics recorded = row_count;
        return recorded;
      end $$;
    `);
  }

  override down(): void {
    this.addSql(`
      drop function group_save(jsonb, jsonb, jsonb, jsonb, jsonb, timestamptz, jsonb);
      drop function group_lock_and_load(jsonb, timestamptz);
    `);
  }
}
