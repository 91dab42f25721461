-- Writes a group's merged decisions (ledger_write) and records every outcome, answering how many
-- requests were still `queued` to be recorded.
create or replace function group_save(p_new_blocks jsonb, p_changed_blocks jsonb, p_entries jsonb,
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
