-- Writes one ledger's decision and, when a request asked for it, marks the request committed.
create or replace function ledger_save(p_request_id text, p_customer_id text, p_currency text, p_new_blocks jsonb,
                                       p_changed_blocks jsonb, p_entries jsonb, p_balance numeric,
                                       p_next_sequence_number integer, p_entry_ids jsonb, p_now timestamptz)
returns void language plpgsql as $$
begin
  perform ledger_write(p_new_blocks, p_changed_blocks, p_entries, '[]'::jsonb,
    jsonb_build_array(jsonb_build_object('customer_id', p_customer_id, 'currency', p_currency,
      'balance', p_balance, 'next_sequence_number', p_next_sequence_number)));
  if p_request_id is not null then
    update requests set status = 'committed', entry_ids = p_entry_ids, completed_at = p_now
     where id = p_request_id and status = 'queued';
    if not found then
      raise exception 'request % is not queued', p_request_id using errcode = 'P0001';
    end if;
  end if;
end $$;
