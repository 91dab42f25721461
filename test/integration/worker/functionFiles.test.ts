/**
 * The PL/pgSQL functions live in worker/store/functions/*.sql and are applied after the
 * migrations when their text changed (worker/store/functionFiles.ts): a migrated database holds
 * exactly the files' versions, a second start applies nothing, and a changed file is applied again.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyFunctionFiles,
  FUNCTION_FILES,
  functionText,
} from '../../../worker/store/functionFiles.ts';
import { openOrm, type Orm } from '../../../worker/store/orm.ts';
import { adminQuery, databaseUrl, RUN_ID } from '../../support/databases.ts';

const name = `credits_test_${RUN_ID}_functions_${randomBytes(4).toString('hex')}`;
let orm: Orm;

beforeAll(async () => {
  orm = await openOrm(databaseUrl(name), { poolSize: 2 });
});
afterAll(async () => {
  await orm?.close();
  await adminQuery(`drop database if exists ${name} with (force)`);
});

const languages = async () =>
  orm.em.fork().execute<{ proname: string; lanname: string }[]>(
    `select p.proname, l.lanname from pg_proc p join pg_language l on l.oid = p.prolang
      where p.proname in (select jsonb_array_elements_text(?::jsonb)) order by p.proname`,
    [JSON.stringify(FUNCTION_FILES)],
  );

describe('function files', () => {
  it('a migrated database has every file applied once, each a plpgsql function (plans cached per connection)', async () => {
    const recorded = await orm.em
      .fork()
      .execute<{ name: string }[]>('select name from schema_functions order by name');
    expect(recorded.map((row) => row.name)).toEqual([...FUNCTION_FILES].sort());
    expect(await languages()).toEqual(
      [...FUNCTION_FILES].sort().map((proname) => ({ proname, lanname: 'plpgsql' })),
    );
    // The dropped one-request path's function is gone.
    const [gone] = await orm.em
      .fork()
      .execute<{ count: string }[]>(
        `select count(*)::text as count from pg_proc where proname = 'ledger_lock_and_load'`,
      );
    expect(gone?.count).toBe('0');
  });

  it('applies nothing when no file changed, and a file whose applied text differs again', async () => {
    expect(await applyFunctionFiles(orm.em.fork())).toEqual([]);
    // As if top_up_load.sql had been edited since: its recorded checksum no longer matches.
    await orm.em
      .fork()
      .execute(`update schema_functions set checksum = 'stale' where name = 'top_up_load'`);
    await orm.em.fork().execute('drop function top_up_load(text, text)');
    expect(await applyFunctionFiles(orm.em.fork())).toEqual(['top_up_load']);
    const [defined] = await orm.em
      .fork()
      .execute<{ source: string }[]>(
        `select prosrc as source from pg_proc where proname = 'top_up_load'`,
      );
    expect(functionText('top_up_load')).toContain(defined?.source.trim() ?? 'missing');
  });
});
