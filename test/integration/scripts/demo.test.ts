/**
 * scripts/demo.ts against the real service: a short run seeds three customers with credits,
 * streams usage that draws their balances down, and prints each customer's ledger as a table.
 * `npm run demo -- --start` also works in zero-install mode (nothing at 127.0.0.1:5432 or :6379:
 * run as root, as CI is, in a network namespace of its own where nothing listens).
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../../scripts/demo.ts';
import { processesMentioning } from '../../support/privateCheckout.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../../support/testService.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const isolated = process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'true']).status === 0;

let t: TestService;
beforeAll(async () => {
  t = await startTestService();
});
afterAll(async () => {
  await t?.stop();
});

describe('npm run demo', () => {
  it('streams usage for a couple of seconds, balances go down, and it prints each ledger as a table', async () => {
    const lines: string[] = [];
    await runDemo({
      baseUrl: t.baseUrl,
      apiKey: TEST_API_KEY,
      seconds: 2,
      write: (line) => lines.push(line),
    });
    const output = lines.join('\n');

    const balances = [
      ...output.matchAll(/^(\w+) \([\w/]+\), balance (-?\d+\.\d+), last \d+ ledger entries:$/gm),
    ];
    expect(balances.map((match) => match[1])).toEqual(['Acme', 'Globex', 'Initech']);
    for (const match of balances) expect(Number(match[2])).toBeLessThan(150);

    expect(output).toMatch(/created_at\s+entry_type\s+status\s+amount\s+ending_balance/);
    expect(output).toMatch(/decrement\s+pending\s+-\d+\.\d+\s+\d+\.\d+/);
    expect(output.match(/increment\s+committed\s+/g)?.length).toBe(6);
    // The progress bar redraws one line in plain ASCII.
    expect(lines.some((line) => line.startsWith('\r['))).toBe(true);
    expect(/^[\x00-\x7f]*$/.test(output)).toBe(true);
  });

  it('runs with --start where no Postgres or Redis answers, on an embedded PostgreSQL it removes afterwards', async () => {
    const env: Record<string, string | undefined> = { ...process.env };
    for (const name of [
      'DATABASE_URL',
      'REDIS_URL',
      'DEMO_DATABASE_URL',
      'API_KEYS',
      'QUICK_START',
      'QUEUE_STORE',
    ])
      delete env[name];
    const [command, args] = isolated
      ? [
          'unshare',
          ['-n', 'sh', '-c', 'ip link set lo up && exec npm run demo -- --start --seconds 2'],
        ]
      : ['npm', ['run', 'demo', '--', '--start', '--seconds', '2']];
    const child = spawn(command, args as string[], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect({ code, output }).toMatchObject({ code: 0 });
    if (isolated)
      expect(output).toContain(
        'nothing answers at 127.0.0.1:5432: starting an embedded PostgreSQL for this demo (queues in postgres)',
      );
    expect(output).toMatch(/^done: \d+ usage events in 2 s$/m);
    expect(output.match(/increment\s+committed\s+/g)?.length).toBe(6);
    expect(processesMentioning('credits-demo-')).toEqual([]);
  }, 120_000);
});
