-- Locks the customers of a usage batch (in id order, so that two batches cannot deadlock) and
-- loads each ledger with the pending usage entries of the days the batch touches, and its top-up
-- configuration.
create or replace function usage_load(p_ledgers jsonb, p_now timestamptz)
returns table (customer_id text, currency text, ledger_balance text, next_sequence_number integer, blocks json,
               pending json, top_up json)
language plpgsql as $$
#variable_conflict use_column
declare
  k record;
begin
  for k in select distinct x.customer_id, x.currency, x.usage_days
             from jsonb_to_recordset(p_ledgers) as x(customer_id text, currency text, usage_days date[])
            order by x.customer_id, x.currency loop
    return query
    select k.customer_id, k.currency, l.ledger_balance, l.next_sequence_number, l.blocks,
           coalesce((select json_agg(json_build_object('id', e.id, 'price_id', e.price_id, 'block_id', e.block_id,
                              'usage_day', e.usage_day, 'amount', e.amount::text, 'ending_balance', e.ending_balance::text))
                       from ledger_entries e
                      where e.customer_id = k.customer_id and e.currency = k.currency and e.entry_status = 'pending'
                        and e.usage_day = any (k.usage_days)), '[]'::json),
           top_up_load(k.customer_id, k.currency)
      from ledger_load(k.customer_id, k.currency, p_now, null) as l;
  end loop;
end $$;
