/**
 * Creation order for blocks (LEDGER_RULES.md §3 rule 4): `creation_sequence` is the
 * `ledger_sequence_number` of the entry that made the block, unique per ledger, and the last
 * drawdown tie-break in place of `created_at, id` (two blocks made in one instant fell to their
 * random ids). Existing blocks are numbered from the entries that made them:
 *
 * 1. an increment (manual or top-up): the increment entry naming the block;
 * 2. an expiration_change's new block: that entry names the source block, so it is matched by
 *    ledger, instant, target expiry, amount moved and the source's effective date;
 * 3. an overdraft block opened by a decrement (or anything else): the first entry naming it.
 *
 * A block no entry accounts for (none is expected; a hand-made row) gets a negative number, in
 * (created_at, id) order: it sorts before every numbered block and can never collide with the
 * number of an entry still to be written. `npm run verify` reports such blocks.
 *
 * The functions that pick blocks in drawdown order (`ledger_load`'s overdraft candidate) and the
 * partial index behind it are redefined in the new order.
 */
import { Migration } from '@mikro-orm/migrations';

/** The column and its backfill; exported so that a test can run it over a ledger with history. */
export const CREATION_SEQUENCE_SQL = `
      alter table credit_blocks add column creation_sequence integer;

      update credit_blocks b set creation_sequence = e.seq
        from (select block_id, min(ledger_sequence_number) as seq
                from ledger_entries where entry_type = 'increment' group by block_id) as e
       where e.block_id = b.id;

      update credit_blocks b set creation_sequence = m.seq
        from (select distinct on (n.id) n.id, e.ledger_sequence_number as seq
                from credit_blocks n
                join ledger_entries e on e.customer_id = n.customer_id and e.currency = n.currency
                                     and e.entry_type = 'expiration_change' and e.created_at = n.created_at
                                     and e.new_block_expiry_date = n.expiry_date and e.amount = n.maximum_initial_balance
                join credit_blocks s on s.id = e.block_id and s.effective_date = n.effective_date
               where n.creation_sequence is null
               order by n.id, e.ledger_sequence_number) as m
       where m.id = b.id;

      update credit_blocks b set creation_sequence = e.seq
        from (select block_id, min(ledger_sequence_number) as seq from ledger_entries group by block_id) as e
       where e.block_id = b.id and b.creation_sequence is null;

      -- Two blocks matched to one entry (not expected): the first keeps it, the others go below.
      update credit_blocks b set creation_sequence = null
        from (select id, row_number() over (partition by customer_id, currency, creation_sequence order by created_at, id) as n
                from credit_blocks where creation_sequence is not null) as d
       where d.id = b.id and d.n > 1;

      update credit_blocks b set creation_sequence = -r.n
        from (select id, row_number() over (partition by customer_id, currency order by created_at desc, id desc) as n
                from credit_blocks where creation_sequence is null) as r
       where r.id = b.id;

      alter table credit_blocks alter column creation_sequence set not null;
      create unique index credit_blocks_creation_sequence_key on credit_blocks (customer_id, currency, creation_sequence);
`;

export class Migration20261203000000_blockCreationOrder extends Migration {
  override up(): void {
    this.addSql(`
      ${CREATION_SEQUENCE_SQL}
      -- The overdraft candidate in the new order (the domain's findOverdraftBlock: the last
      -- never-expiring unfiltered block in drawdown order, i.e. dearest, then made last).
      drop index credit_blocks_overdraft_candidate_idx;
      create index credit_blocks_overdraft_candidate_idx
          on credit_blocks (customer_id, currency, (coalesce(per_unit_cost_basis::numeric, 0)) desc, creation_sequence desc)
       where balance = 0 and expiry_date is null and filters = '[]'::jsonb and status = 'active' and voided_at is null;

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
    `);
  }

  override down(): void {
    this.addSql(`
      drop index credit_blocks_overdraft_candidate_idx;
      create index credit_blocks_overdraft_candidate_idx
          on credit_blocks (customer_id, currency, (coalesce(per_unit_cost_basis::numeric, 0)) desc, created_at desc, id desc)
       where balance = 0 and expiry_date is null and filters = '[]'::jsonb and status = 'active' and voided_at is null;
      create or replace function ledger_load(p_customer_id text, p_currency text, p_now timestamptz, p_block_id text)
      returns table (ledger_balance text, next_sequence_number integer, blocks json)
      language plpgsql as $$
      #variable_conflict use_column
      begin
        perform 1 from customers where id = p_customer_id for no key update;
        return query
        select l.balance::text, l.next_sequence_number,
               coalesce((select json_agg(json_build_object(
                   'id', b.id, 'currency', b.currency, 'balance', b.balance::text,
                   'maximum_initial_balance', b.maximum_initial_balance::text, 'effective_date', b.effective_date,
                   'expiry_date', b.expiry_date, 'per_unit_cost_basis', b.per_unit_cost_basis, 'filters', b.filters,
                   'status', b.status, 'voided_at', b.voided_at, 'created_at', b.created_at))
                  from credit_blocks b
                 where b.customer_id = p_customer_id and b.currency = p_currency
                   and (b.balance <> 0 or b.id = p_block_id or b.id = (
                     select o.id from credit_blocks o
                      where o.customer_id = p_customer_id and o.currency = p_currency
                        and o.balance = 0 and o.expiry_date is null and o.filters = '[]'::jsonb
                        and o.status = 'active' and o.voided_at is null and o.effective_date <= p_now
                      order by coalesce(o.per_unit_cost_basis::numeric, 0) desc, o.created_at desc, o.id desc
                      limit 1))), '[]'::json)
          from (select 1) as one
          left join ledgers l on l.customer_id = p_customer_id and l.currency = p_currency;
      end $$;
      drop index credit_blocks_creation_sequence_key;
      alter table credit_blocks drop column creation_sequence;
    `);
  }
}
