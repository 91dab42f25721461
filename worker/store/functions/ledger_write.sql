-- Writes the decisions of one or more ledgers: new and changed blocks, new entries (usage ones
-- with their price, day and closing instant), grown pending entries, ledger heads.
create or replace function ledger_write(p_new_blocks jsonb, p_changed_blocks jsonb, p_entries jsonb,
                                        p_grown_entries jsonb, p_heads jsonb)
returns void language plpgsql as $$
begin
  insert into credit_blocks select * from jsonb_populate_recordset(null::credit_blocks, p_new_blocks);
  -- A changed-block record without a status keeps the stored one. Rows are named by their whole key,
  -- customer included (SCALING.md: a statement that names its customer routes to one node).
  update credit_blocks b set balance = u.balance, voided_at = u.voided_at, status = coalesce(u.status, b.status)
    from jsonb_to_recordset(p_changed_blocks)
           as u(id text, customer_id text, balance numeric, voided_at timestamptz, status text)
   where b.id = u.id and b.customer_id = u.customer_id;
  insert into ledger_entries (id, customer_id, currency, ledger_sequence_number, entry_type, entry_status, amount,
                              starting_balance, ending_balance, block_id, request_id, description, metadata,
                              created_at, void_reason, void_amount, new_block_expiry_date, price_id, usage_day, closes_at)
  select id, customer_id, currency, ledger_sequence_number, entry_type, entry_status, amount,
         starting_balance, ending_balance, block_id, request_id, description, metadata,
         created_at, void_reason, void_amount, new_block_expiry_date, price_id, usage_day, closes_at
    from jsonb_populate_recordset(null::ledger_entries, p_entries);
  -- A pending entry grows only while pending: a closed day never changes again (§5).
  update ledger_entries e set amount = g.amount, ending_balance = g.ending_balance
    from jsonb_to_recordset(p_grown_entries)
           as g(id text, customer_id text, amount numeric, ending_balance numeric)
   where e.id = g.id and e.customer_id = g.customer_id and e.entry_status = 'pending';
  insert into ledgers (customer_id, currency, balance, next_sequence_number)
  select customer_id, currency, balance, next_sequence_number
    from jsonb_to_recordset(p_heads) as h(customer_id text, currency text, balance numeric, next_sequence_number integer)
  on conflict (customer_id, currency)
  do update set balance = excluded.balance, next_sequence_number = excluded.next_sequence_number;
end $$;
