-- Locks the customer and loads one ledger: its head and the blocks a decision needs: live ones
-- (balance <> 0), the overdraft candidate when it is depleted and so not live, and the block a
-- command names (p_block_id), which may be depleted too. Numerics leave as text: a JSON number
-- would become a float in JavaScript. The overdraft candidate is the domain's findOverdraftBlock
-- (domain/findBlock.ts): the last never-expiring unfiltered active block in drawdown order, i.e.
-- dearest, then made last; the partial index credit_blocks_overdraft_candidate_idx serves it.
create or replace function ledger_load(p_customer_id text, p_currency text, p_now timestamptz, p_block_id text)
returns table (ledger_balance text, next_sequence_number integer, blocks json)
language plpgsql as $$
#variable_conflict use_column
begin
  -- A backstop behind the partition's one-job-at-a-time guarantee; "no key update" so that
  -- intake inserts (which take key-share locks on the customer) never wait on it.
  perform 1 from customers where id = p_customer_id for no key update;
  return query
  select l.balance::text, l.next_sequence_number,
         coalesce((select json_agg(json_build_object(
             'id', b.id, 'currency', b.currency, 'balance', b.balance::text,
             'maximum_initial_balance', b.maximum_initial_balance::text, 'effective_date', b.effective_date,
             'expiry_date', b.expiry_date, 'per_unit_cost_basis', b.per_unit_cost_basis, 'filters', b.filters,
             'status', b.status, 'voided_at', b.voided_at, 'created_at', b.created_at,
             'creation_sequence', b.creation_sequence))
            from credit_blocks b
           where b.customer_id = p_customer_id and b.currency = p_currency
             and (b.balance <> 0 or b.id = p_block_id or b.id = (
               select o.id from credit_blocks o
                where o.customer_id = p_customer_id and o.currency = p_currency
                  and o.balance = 0 and o.expiry_date is null and o.filters = '[]'::jsonb
                  and o.status = 'active' and o.voided_at is null and o.effective_date <= p_now
                order by coalesce(o.per_unit_cost_basis::numeric, 0) desc, o.creation_sequence desc
                limit 1))), '[]'::json)
    from (select 1) as one
    left join ledgers l on l.customer_id = p_customer_id and l.currency = p_currency;
end $$;
