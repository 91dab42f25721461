-- Locks the customers of a usage job (in id order, like every other locker of customers) and then
-- reads their accepted events up to place p_through_seq, in acceptance order, at most p_limit,
-- with each event's live price, quantity and customer timezone (worker/store/usageRepository.ts).
--
-- The lock comes first, in a statement of its own: during a partition-count change two usage jobs
-- of one customer can run at once on two partitions, and whoever applies a customer's events holds
-- its row, so they take turns. The read, which starts after the wait, sees what the other
-- committed (READ COMMITTED: each statement of a function sees what committed before it began),
-- so the second job finds only the events still accepted: none applied twice, and no "changed
-- while they were applied" failure. The ledger group locks customers the same way
-- (group_lock_and_load.sql), so usage and ledger writes of one customer take turns too. "No key
-- update", as in ledger_load: intake inserts (key-share locks) never wait on it.
--
-- Per customer, a scan of its own entries of the partial index: one scan over all the customers
-- at once read every entry the index still held for applied events (dead until vacuum passes):
-- 88,700 entries for 338 events, 23 ms, measured. `accepted_seq + 0` keeps the bound out of the
-- index condition, where planning it probed the index's end through those same dead entries.
create or replace function usage_claim(p_customer_ids jsonb, p_through_seq bigint, p_limit integer)
returns table (k text, c text, at text, tz text, p text, item text, unit text, qp text, cur text,
               qt text, qv text)
language plpgsql as $$
#variable_conflict use_column
begin
  perform 1 from customers cu
   where cu.id in (select jsonb_array_elements_text(p_customer_ids))
   order by cu.id
     for no key update of cu;
  return query
  select ev.idempotency_key, ev.customer_id,
         floor(extract(epoch from ev.timestamp) * 1000)::bigint::text, cu.timezone,
         up.id, up.item_id, up.unit_amount::text, up.quantity_property, up.currency,
         jsonb_typeof(ev.properties -> up.quantity_property), ev.properties ->> up.quantity_property
    from jsonb_array_elements_text(p_customer_ids) as named(id)
    join customers cu on cu.id = named.id
   cross join lateral (
     select * from events e
      where e.status = 'accepted' and e.customer_id = named.id and e.accepted_seq + 0 <= p_through_seq
      order by e.accepted_seq
      limit p_limit) as ev
    left join usage_prices up on up.event_name = ev.event_name and up.archived_at is null
   order by ev.accepted_seq
   limit p_limit;
end $$;
