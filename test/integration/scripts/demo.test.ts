/**
 * scripts/demo.ts against the real service: a short run seeds three customers with credits,
 * streams usage that draws their balances down, and prints each customer's ledger as a table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../../scripts/demo.ts';
import { startTestService, TEST_API_KEY, type TestService } from '../../support/testService.ts';

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
    await runDemo({ baseUrl: t.baseUrl, apiKey: TEST_API_KEY, seconds: 2, write: (line) => lines.push(line) });
    const output = lines.join('\n');

    const balances = [...output.matchAll(/^(\w+) \([\w/]+\), balance (-?\d+\.\d+), last \d+ ledger entries:$/gm)];
    expect(balances.map((match) => match[1])).toEqual(['Acme', 'Globex', 'Initech']);
    for (const match of balances) expect(Number(match[2])).toBeLessThan(150);

    expect(output).toMatch(/created_at\s+entry_type\s+status\s+amount\s+ending_balance/);
    expect(output).toMatch(/decrement\s+pending\s+-\d+\.\d+\s+\d+\.\d+/);
    expect(output.match(/increment\s+committed\s+/g)?.length).toBe(6);
    // The progress bar redraws one line in plain ASCII.
    expect(lines.some((line) => line.startsWith('\r['))).toBe(true);
    expect(/^[\x00-\x7f]*$/.test(output)).toBe(true);
  });
});
