-- Locks a group's requests and reads them, in acceptance order (`accepted_seq`), together with
-- every EARLIER-accepted request of their customers that is still queued, wherever its job is (a
-- job Redis lost, or one waiting on another partition after PARTITIONS changed): the group applies
-- those first, so that no request of a customer ever passes an earlier one. Then it locks and
-- loads every ledger their queued ledger-entry requests write to, customers in id order, with the
-- top-up configuration when one of them is a decrement. Rows come back as JSON arrays, the
-- requests in acceptance order. One call per group (worker/store/ledgerGroupRepository.ts): sent
-- as plain statements, Postgres parsed and planned them on every group, a fifth of its CPU under
-- sync ledger writes.
--
-- The customers are locked first, in a statement of their own: whoever applies a customer's
-- requests holds its row, so two groups of one customer (on two partitions) take turns, and the
-- second statement, which starts after the wait, reads the queued set afresh (READ COMMITTED: each
-- statement of a function sees what committed before it began). A request recorded but not yet
-- committed by the intake is not seen; it was not acknowledged before this group's own requests
-- were, so neither order is wrong. Requests are locked in id order, like every other locker of them.
create or replace function group_lock_and_load(p_request_ids jsonb, p_now timestamptz)
returns table (group_requests json, group_ledgers json)
language plpgsql as $$
declare
  v_ids text[] := array(select jsonb_array_elements_text(p_request_ids));
begin
  perform 1 from customers c
   where c.id in (select r.customer_id from requests r where r.id = any(v_ids) and r.status = 'queued')
   order by c.id
     for no key update of c;
  return query
  with mine as (
    -- A request already decided (a redelivery) pulls nothing: what came before it went first.
    select r.customer_id, max(r.accepted_seq) as seq_max
      from requests r
     where r.id = any(v_ids) and r.status = 'queued'
     group by r.customer_id
  ), wanted as (
    select unnest(v_ids) as id
    union
    select e.id
      from mine m cross join lateral (
        select r.id from requests r
         where r.customer_id = m.customer_id and r.status = 'queued' and r.accepted_seq < m.seq_max
      ) as e
  ), q as materialized (
    select r.id, r.kind, r.customer_id, r.currency, r.status, r.payload, r.entry_ids, r.error,
           r.accepted_seq, c.timezone, c.external_customer_id
      from requests r join customers c on c.id = r.customer_id
     where r.id in (select w.id from wanted w)
       -- Checked again on the row as locked: an earlier request decided meanwhile is left out.
       and (r.status = 'queued' or r.id = any(v_ids))
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
  select (select coalesce(json_agg(q order by q.accepted_seq), '[]'::json) from q),
         (select coalesce(json_agg(l), '[]'::json) from l);
end $$;
