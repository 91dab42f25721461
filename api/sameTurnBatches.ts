/**
 * `SameTurnBatches`: requests that arrive in one turn of the event loop and ask the same question
 * of different customers share one statement (api/routes/credits.ts groups balance reads so).
 *
 * Why: a balance read's own SQL work is a few tens of microseconds; what it costs Postgres and
 * this process is mostly per statement (a protocol round trip, a `writev` and a wake-up on each
 * side, executor start-up). Under load many requests are parsed in one poll phase of the loop; a
 * batch opened by the first of them is run from `setImmediate`, right after that phase, so it
 * collects the others without waiting for a timer: a read alone adds no latency, and reads that
 * come together pay the per-statement cost once.
 */

interface Batch<Item, Result> {
  items: Item[];
  settles: { resolve: (result: Result) => void; reject: (error: unknown) => void }[];
}

export class SameTurnBatches<Item, Result> {
  private readonly open = new Map<string, Batch<Item, Result>>();
  private readonly run: (key: string, items: readonly Item[]) => Promise<readonly Result[]>;
  private readonly itemsMax: number;

  /**
   * `run(key, items)` answers one result per item, in order; `key` names what the items of a batch
   * have in common. A batch holds at most `itemsMax` items.
   */
  constructor(
    run: (key: string, items: readonly Item[]) => Promise<readonly Result[]>,
    itemsMax: number,
  ) {
    this.run = run;
    this.itemsMax = itemsMax;
  }

  submit(key: string, item: Item): Promise<Result> {
    let batch = this.open.get(key);
    if (!batch) {
      const opened: Batch<Item, Result> = { items: [], settles: [] };
      this.open.set(key, opened);
      setImmediate(() => this.flush(key, opened));
      batch = opened;
    }
    const { promise, resolve, reject } = Promise.withResolvers<Result>();
    batch.items.push(item);
    batch.settles.push({ resolve, reject });
    // A full batch takes no more; it still runs at its turn's end, and the next item opens another.
    if (batch.items.length >= this.itemsMax) this.open.delete(key);
    return promise;
  }

  private flush(key: string, batch: Batch<Item, Result>): void {
    if (this.open.get(key) === batch) this.open.delete(key);
    let running: Promise<readonly Result[]>;
    try {
      running = this.run(key, batch.items);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (results) => {
        for (const [index, settle] of batch.settles.entries()) settle.resolve(results[index]!);
      },
      (error: unknown) => {
        for (const settle of batch.settles) settle.reject(error);
      },
    );
  }
}
