/**
 * ARCHITECTURE.md: `api → worker/jobs, worker/store, worker/runtime → domain`, and `domain`
 * imports nothing of ours and does no I/O, reads no clock and draws no randomness; the small room
 * both roles import (worker/runtime/) leans on nothing else of ours; SQL lives only in
 * worker/store/. This test reads the sources and holds that line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sources(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(root, folder, file));
}

function imports(file: string): string[] {
  return [
    ...readFileSync(file, 'utf8').matchAll(
      /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm,
    ),
  ].map((match) => match[1]!);
}

/** The rooms of worker/ the api may import (ARCHITECTURE.md "Layout"). */
const API_WORKER_ROOMS = ['worker/jobs/', 'worker/store/', 'worker/runtime/'];
/** The file of ours an import names, from the root (`worker/jobs/queues.ts`); none for packages. */
function importedFile(file: string, target: string): string | undefined {
  return target.startsWith('.') ? relative(root, resolve(dirname(file), target)) : undefined;
}

/**
 * Code with its comments taken out, so that prose naming a statement (`select 1`) is no SQL.
 * A `//` counts only after whitespace or at a line's start, so `redis://host` survives.
 */
function code(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|\s)\/\/.*$/gm, '$1');
}

/** How a statement opens; `select` needs more than an English word after it. */
const STATEMENT_OPENINGS = [
  String.raw`select\s+(?:\d|\*|distinct\b|\w+\(|[^'"\x60]*?\bfrom\s)`,
  String.raw`insert\s+into\b`,
  String.raw`update\s+\w+\s+set\b`,
  String.raw`delete\s+from\b`,
  String.raw`with\s+\w+\s+as\s*\(`,
  String.raw`(?:create|alter|drop)\s+(?:table|index|function|trigger)\b`,
  String.raw`(?:listen|notify|truncate)\s`,
];
/**
 * What gives SQL away: a raw-statement call of MikroORM or pg (`em.execute(`, `.execute<…>(`,
 * `pool.query(`, `.raw(`, a query builder), or a string or template literal that opens a statement.
 */
const SQL_SIGNS = [
  /\.(?:execute|query|raw)\s*[<(]/,
  /\b(?:createQueryBuilder|getKnex|qb)\s*\(/,
  new RegExp(String.raw`['"\x60]\s*(?:${STATEMENT_OPENINGS.join('|')})`, 'i'),
];

describe('dependency direction', () => {
  it('domain imports only domain files and luxon', () => {
    const offending = sources('domain').flatMap((file) =>
      imports(file)
        .filter((target) => !(target.startsWith('./') || target === 'luxon'))
        .map((target) => `${relative(root, file)} imports ${target}`),
    );
    expect(offending).toEqual([]);
  });

  it('domain reads no clock, randomness or environment', () => {
    const offending = sources('domain').filter((file) =>
      /Date\.now\(|new Date\(\)|Math\.random\(|process\.env|DateTime\.now\(|DateTime\.local\(\)/.test(
        readFileSync(file, 'utf8'),
      ),
    );
    expect(offending.map((file) => relative(root, file))).toEqual([]);
  });

  it('worker/runtime (config, clock, ids, exact JSON, transient errors) imports nothing else of ours', () => {
    const offending = sources('worker/runtime').flatMap((file) =>
      imports(file)
        .filter((target) => target.startsWith('.') && !target.startsWith('./'))
        .map((target) => `${relative(root, file)} imports ${target}`),
    );
    expect(offending).toEqual([]);
  });

  it('worker never imports api', () => {
    const offending = sources('worker').flatMap((file) =>
      imports(file)
        .filter((target) => /(^|\/)api\//.test(target))
        .map((target) => `${relative(root, file)} imports ${target}`),
    );
    expect(offending).toEqual([]);
  });

  it('api imports from worker only worker/jobs, worker/store and worker/runtime', () => {
    const offending = sources('api').flatMap((file) =>
      imports(file)
        .map((target) => importedFile(file, target))
        .filter((target): target is string => target?.startsWith('worker/') ?? false)
        .filter((target) => !API_WORKER_ROOMS.some((room) => target.startsWith(room)))
        .map((target) => `${relative(root, file)} imports ${target}`),
    );
    const offendingFiles = [...new Set(offending.map((line) => line.split(' imports ')[0]))];
    expect(offendingFiles.sort(), offending.join('\n')).toEqual([]);
  });

  it('SQL appears in api/ and worker/ only inside worker/store/', () => {
    const offending = [...sources('api'), ...sources('worker')]
      .map((file) => relative(root, file))
      .filter((file) => !file.startsWith('worker/store/'))
      .filter((file) => SQL_SIGNS.some((sign) => sign.test(code(join(root, file)))));
    expect(offending.sort()).toEqual([]);
  });

  it('the SQL check sees the statements it is meant to see, and no prose', () => {
    const isSql = (sample: string) => SQL_SIGNS.some((sign) => sign.test(sample));
    const statements = [
      'await em.execute(statement, values)',
      'const rows = await em.execute<{ id: string }[]>(statement, values);',
      'await pool.query(statement)',
      // A bare literal, as a store function's caller would hand it on.
      "'select 1'",
      "'SELECT pg_notify($1, $2)'",
      '`select distinct customer_id from ledger_entries`',
      "`select idempotency_key, event_name\n from events where status = 'x'`",
      "'insert into events (id) values (?)'",
      "'update credit_blocks set remaining = 0'",
      '`with key as (delete from idempotency_keys where request_id = ?) delete from x`',
      "'delete from worker_heartbeats where worker_id = ?'",
      '`create table if not exists queue_partition_counts (prefix text)`',
      '`listen ${channel}`',
    ];
    expect(statements.filter((sample) => !isSql(sample))).toEqual([]);
    const prose = [
      "'Select a customer'",
      "'the update failed'",
      "'delete the key and retry'",
      "'listen'",
      'request.query.limit',
      'queues.execute',
    ];
    expect(prose.filter(isSql)).toEqual([]);
  });
});
