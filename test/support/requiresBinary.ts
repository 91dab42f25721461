/**
 * The one case where a test may not run: it needs something the machine lacks (a program such as
 * `redis-server` or Chromium, or a Redis server where the test needs Redis itself). Such a test is
 * declared with `itRequires` / `describeRequires`; where the requirement is met it runs as usual.
 * Where it is not:
 * - under `CI=true` it runs and FAILS, saying what to install (CI must run everything);
 * - elsewhere it is not run, and is reported by name with how to enable it: in its file's output
 *   and, gathered, at the end of the run (globalSetup's teardown prints `notRunReport()`).
 * `npm ci && npm test` on a laptop with nothing but Node thus passes, and says what it left out.
 */
import {
  accessSync,
  appendFileSync,
  constants,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

export interface Requirement {
  /** What is needed, as a person would name it. */
  what: string;
  /** How to get it. */
  howToEnable: string;
  /** Checked when a test file is collected. */
  available(): boolean;
}

/** A program on PATH (a bare name) or at an absolute path. */
export function binary(name: string, howToEnable: string): Requirement {
  return {
    what: name,
    howToEnable,
    available: () =>
      name.startsWith('/')
        ? isExecutable(name)
        : (process.env.PATH ?? '')
            .split(delimiter)
            .some((dir) => dir !== '' && isExecutable(join(dir, name))),
  };
}

export const REDIS_SERVER_BINARY = binary(
  'redis-server',
  'apt-get install redis-server (or brew install redis)',
);
export const CHROMIUM = binary('/usr/bin/chromium', 'apt-get install chromium');
/** The PostgreSQL server programs (initdb, pg_ctl) that scripts/faults starts a private cluster with. */
export const POSTGRES_SERVER_BINARIES: Requirement = {
  what: 'PostgreSQL server programs (initdb, pg_ctl)',
  howToEnable: 'apt-get install postgresql (or set PG_BIN to their directory)',
  available: () =>
    process.env.PG_BIN
      ? isExecutable(join(process.env.PG_BIN, 'pg_ctl'))
      : existsSync('/usr/lib/postgresql') && binaryUnder('/usr/lib/postgresql', 'pg_ctl'),
};
/**
 * A Redis server for the tests that need Redis itself (not just queues, which run in Postgres
 * without one): globalSetup finds whether one answers at TEST_REDIS_URL or 127.0.0.1:6379.
 */
export const REDIS_SERVER: Requirement = {
  what: 'a Redis server at 127.0.0.1:6379 (or TEST_REDIS_URL)',
  howToEnable: 'apt-get install redis-server, or docker compose up -d redis',
  available: () => process.env.CREDITS_TEST_REDIS !== 'absent',
};

type TestBody = () => unknown;

/** `it(name, body, timeout)`, run only where every requirement is met (see the module comment). */
export function itRequires(
  requirements: readonly Requirement[],
  name: string,
  body: TestBody,
  timeout?: number,
): void {
  const missing = requirements.filter((requirement) => !requirement.available());
  if (missing.length === 0) {
    it(name, body, timeout);
    return;
  }
  const needs = describeMissing(missing);
  if (process.env.CI === 'true') {
    it(name, () => {
      throw new Error(`this test needs ${needs}`);
    });
    return;
  }
  recordNotRun(name, needs);
  it.skip(`${name} [not run: needs ${needs}]`, body);
}

/** `describe(name, body)` whose tests run only where every requirement is met. */
export function describeRequires(
  requirements: readonly Requirement[],
  name: string,
  body: () => void,
): void {
  const missing = requirements.filter((requirement) => !requirement.available());
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const needs = describeMissing(missing);
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has what it needs', () => {
        throw new Error(`these tests need ${needs}`);
      });
    });
    return;
  }
  recordNotRun(name, needs);
  describe.skip(`${name} [not run: needs ${needs}]`, body);
}

/** True where the tests of a file that needs these will run (for its beforeAll/afterAll hooks). */
export function meets(requirements: readonly Requirement[]): boolean {
  return requirements.every((requirement) => requirement.available());
}

function describeMissing(missing: readonly Requirement[]): string {
  return missing
    .map((requirement) => `${requirement.what} (${requirement.howToEnable})`)
    .join(' and ');
}

/** This run's list of what was not run, shared by the forked test files and globalSetup. */
function notRunFile(): string {
  return join(tmpdir(), `credits-test-${process.env.CREDITS_TEST_RUN ?? process.pid}-not-run.txt`);
}

function recordNotRun(name: string, needs: string): void {
  const testPath = expect.getState().testPath;
  const line = `${testPath ? relative(process.cwd(), testPath) : 'a test file'}: "${name}" needs ${needs}`;
  console.warn(`not run here: ${line}`);
  appendFileSync(notRunFile(), `${line}\n`);
}

/** What `recordNotRun` gathered during the run, and forgets it. Empty when everything ran. */
export function notRunReport(): string {
  const file = notRunFile();
  if (!existsSync(file)) return '';
  const lines = [...new Set(readFileSync(file, 'utf8').trim().split('\n'))];
  rmSync(file, { force: true });
  return [
    `${lines.length} test${lines.length === 1 ? '' : 's'} not run on this machine (under CI=true they fail instead):`,
    ...lines.map((line) => `  ${line}`),
  ].join('\n');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function binaryUnder(root: string, name: string): boolean {
  return readdirSync(root).some((version) => isExecutable(join(root, version, 'bin', name)));
}
