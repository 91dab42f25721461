/**
 * How a block was made, for Orb's `credit_block_source`: `manual` (an increment, or credit moved
 * by an expiration change) or `top_up` (an automatic top-up). Existing blocks are all manual.
 */
import { Migration } from '@mikro-orm/migrations';

export class Migration20261121070000_blockSource extends Migration {
  override up(): void {
    this.addSql(
      `alter table credit_blocks add column source text not null default 'manual' check (source in ('manual', 'top_up'));`,
    );
  }

  override down(): void {
    this.addSql('alter table credit_blocks drop column source;');
  }
}
