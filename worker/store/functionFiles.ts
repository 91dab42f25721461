/**
 * The worker's PL/pgSQL functions (worker/store/functions/*.sql), kept as files and applied after
 * the migrations, Flyway's "repeatable migrations": each file is one `create or replace function`,
 * applied when its text differs from the one last applied (a checksum in `schema_functions`), in
 * the order below, in one transaction, under the migration lock (orm.ts). A change of a function is
 * an edit of its file; the migrations before it keep the versions they made, as history.
 *
 * Why functions at all: plan caching, not logic (the rules stay in domain/). Planning the
 * lock-and-load and save statements cost more than running them; a PL/pgSQL function keeps its
 * plans for the life of the connection. Migrations never call them, so a migration that comes
 * after a file's change still finds the tables it expects.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { EntityManager } from '@mikro-orm/postgresql';

/** In dependency order: a function is created after those it calls (read at call time anyway). */
export const FUNCTION_FILES = [
  'top_up_load',
  'ledger_load',
  'ledger_write',
  'ledger_save',
  'usage_load',
  'usage_claim',
  'group_lock_and_load',
  'group_save',
] as const;

export function functionText(name: (typeof FUNCTION_FILES)[number]): string {
  return readFileSync(new URL(`./functions/${name}.sql`, import.meta.url), 'utf8');
}

const checksum = (text: string) => createHash('sha256').update(text).digest('hex');

/** Applies the function files whose text changed; answers their names. */
export async function applyFunctionFiles(em: EntityManager): Promise<string[]> {
  return em.transactional(async (tx) => {
    await tx.execute(
      `create table if not exists schema_functions (
         name text primary key, checksum text not null, applied_at timestamptz not null)`,
    );
    const applied = new Map(
      (
        await tx.execute<{ name: string; checksum: string }[]>(
          'select name, checksum from schema_functions',
        )
      ).map((row) => [row.name, row.checksum]),
    );
    const changed: string[] = [];
    for (const name of FUNCTION_FILES) {
      const text = functionText(name);
      const sum = checksum(text);
      if (applied.get(name) === sum) continue;
      await tx.execute(text);
      await tx.execute(
        `insert into schema_functions (name, checksum, applied_at) values (?, ?, now())
         on conflict (name) do update set checksum = excluded.checksum, applied_at = excluded.applied_at`,
        [name, sum],
      );
      changed.push(name);
    }
    return changed;
  });
}
