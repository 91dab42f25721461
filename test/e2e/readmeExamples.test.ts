/**
 * The README's "Try it" examples, run as a reader would: the curl block through bash, then the
 * SDK block saved as a `.ts` file and run with the Node the lockfile installs, both against a test
 * service. They must work one after the other (the SDK example makes its own customer), on any
 * day (no fixed dates), and print what the README says they print.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, TEST_API_KEY, type TestService } from '../support/testService.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The fenced blocks of one language under the README's "Try it" heading, in order. */
function examples(readme: string, language: string): string[] {
  const section = readme.slice(
    readme.indexOf('## Try it'),
    readme.indexOf('\n## ', readme.indexOf('## Try it') + 1),
  );
  return [...section.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map(
    (match) => match[1] ?? '',
  );
}

let t: TestService;
let readme: string;

beforeAll(async () => {
  t = await startTestService();
  readme = await readFile(join(ROOT, 'README.md'), 'utf8');
});

afterAll(async () => {
  await t?.stop();
});

describe('README examples', () => {
  it('the curl example, then the SDK example, both succeed against the service', async () => {
    const port = new URL(t.baseUrl).port;
    const [curl] = examples(readme, 'sh').filter((block) => block.includes('curl'));
    expect(curl, 'a curl example under "Try it"').toBeDefined();
    const script = (curl ?? '')
      .replace(/^KEY=.*$/m, `KEY=${TEST_API_KEY}`)
      .replaceAll('localhost:8080', `127.0.0.1:${port}`)
      // One answer per line, and a failing status fails the script.
      .replace(/^curl /gm, "curl -f -w '\\n' ");
    const shell = await run('bash', ['-euo', 'pipefail', '-c', script], { timeout: 20_000 });
    const increment = JSON.parse(
      shell.stdout.split('\n').find((line) => line.includes('"entry_type":"increment"')) ?? '{}',
    );
    expect(increment.entry_type).toBe('increment');
    expect(new Date(increment.credit_block.expiry_date).getTime()).toBeGreaterThan(Date.now());

    const [sdk] = examples(readme, 'ts');
    expect(sdk, 'an SDK example under "Try it"').toBeDefined();
    // Saved inside the checkout, as the README says, so that `orb-billing` resolves.
    const folder = await mkdtemp(join(ROOT, 'test', '.readme-'));
    try {
      const file = join(folder, 'sdk-example.ts');
      await writeFile(file, (sdk ?? '').replace('http://127.0.0.1:8080/v1', `${t.baseUrl}/v1`));
      const node = join(ROOT, 'node_modules', '.bin', 'node');
      const { stdout } = await run(node, [file], {
        env: { ...process.env, KEY: TEST_API_KEY },
        timeout: 20_000,
      });
      const lines = stdout.trim().split('\n');
      expect(lines[0]).toBe('70');
      expect(lines.slice(1)).toEqual(['decrement -30', 'increment 100']);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
