/**
 * ARCHITECTURE.md: `api → worker → domain`, and `domain` imports nothing of ours and does no I/O,
 * reads no clock and draws no randomness; the small room both roles import (worker/runtime/)
 * leans on nothing else of ours. This test reads the sources and holds that line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
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
});
