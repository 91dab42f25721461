-- Locks a group's requests (in id order, like every other locker of them) and reads them, then
-- locks and loads every ledger their queued ledger-entry requests write to, customers in id order,
-- with the top-up configuration when one of them is a decrement. The requests are locked in full
-- before the first ledger (the materialized `q` feeds the ledgers' keys). Rows come back as JSON
-- arrays. One statement per group (worker/store/ledgerGroupRepository.ts): sent as plain
-- statements, Postgres parsed and planned them on every group, a fifth of its CPU under sync
-- ledger writes.
create or replace function group_lock_and_load(p_request_ids jsonb, p_now timestamptz)
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
