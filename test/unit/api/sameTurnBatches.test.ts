/**
 * `SameTurnBatches` (api/sameTurnBatches.ts): what is submitted under one key in one turn of the
 * event loop runs once, each caller getting its own result; other keys, later turns and items
 * beyond the batch size run apart; a failed run fails exactly the callers it served.
 */
import { describe, expect, it } from 'vitest';
import { SameTurnBatches } from '../../../api/sameTurnBatches.ts';

function recorder(itemsMax: number) {
  const runs: { key: string; items: number[] }[] = [];
  const batches = new SameTurnBatches<number, string>(async (key, items) => {
    runs.push({ key, items: [...items] });
    if (items.includes(-1)) throw new Error(`refused ${key}`);
    return items.map((item) => `${key}:${item * 10}`);
  }, itemsMax);
  return { runs, batches };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('SameTurnBatches', () => {
  it('runs one batch per key for a turn, answering each caller in order', async () => {
    const { runs, batches } = recorder(10);
    const answers = await Promise.all([
      batches.submit('a', 1),
      batches.submit('b', 2),
      batches.submit('a', 3),
      batches.submit('a', 1),
    ]);
    expect(answers).toEqual(['a:10', 'b:20', 'a:30', 'a:10']);
    expect(runs).toEqual([
      { key: 'a', items: [1, 3, 1] },
      { key: 'b', items: [2] },
    ]);
  });

  it('a batch is not held open for a later turn', async () => {
    const { runs, batches } = recorder(10);
    const first = batches.submit('a', 1);
    await nextTurn();
    const second = batches.submit('a', 2);
    expect(await Promise.all([first, second])).toEqual(['a:10', 'a:20']);
    expect(runs.map((run) => run.items)).toEqual([[1], [2]]);
  });

  it('splits a turn that brings more items than a batch holds', async () => {
    const { runs, batches } = recorder(2);
    const answers = await Promise.all([1, 2, 3, 4, 5].map((item) => batches.submit('a', item)));
    expect(answers).toEqual(['a:10', 'a:20', 'a:30', 'a:40', 'a:50']);
    expect(runs.map((run) => run.items)).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('a failed run rejects its own callers only', async () => {
    const { batches } = recorder(10);
    const results = await Promise.allSettled([
      batches.submit('a', 1),
      batches.submit('a', -1),
      batches.submit('b', 2),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseRejectedResult).reason).toEqual(new Error('refused a'));
  });

  it('a run that throws before its promise rejects its callers instead of the process', async () => {
    const batches = new SameTurnBatches<number, number>(() => {
      throw new Error('thrown at once');
    }, 10);
    await expect(batches.submit('a', 1)).rejects.toThrow('thrown at once');
  });
});
