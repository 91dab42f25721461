/**
 * The intake records concurrent callers' requests in shared statements (api/intake/requestRecorder.ts).
 * Each caller must still get its own answer: recorded, or its Idempotency-Key already taken (the
 * first of two callers with one key wins, even within one statement), or its own error when its
 * row cannot be recorded, without failing the requests it shared a statement with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestRecorder } from '../../../api/intake/requestRecorder.ts';
import { newId } from '../../../worker/runtime/ids.ts';
import type { RecordableRequest } from '../../../worker/store/requests.ts';
import { startTestService, type TestService } from '../../support/testService.ts';
import { createCustomer, sql } from '../ledgerTestHelpers.ts';

let t: TestService;
let customerId: string;

beforeAll(async () => {
  t = await startTestService({ ROLE: 'api' });
  customerId = (await createCustomer(t)).id;
});

afterAll(async () => {
  await t?.stop();
});

function request(overrides: Partial<RecordableRequest> = {}): RecordableRequest {
  return {
    id: newId(),
    kind: 'ledger_entry',
    customerId,
    partition: 0,
    currency: 'credits',
    payload: { entry_type: 'increment', amount: '1.5' },
    createdAt: new Date(),
    ...overrides,
  };
}

const storedIds = async (ids: string[]) =>
  new Set(
    (
      await sql<{ id: string }>(
        t,
        'select id from requests where id in (select jsonb_array_elements_text(?::jsonb))',
        [JSON.stringify(ids)],
      )
    ).map((row) => row.id),
  );

describe('RequestRecorder', () => {
  it('records concurrent callers in fewer statements, each answered for itself', async () => {
    const recorder = new RequestRecorder(t.service.orm);
    const key = `key-${newId()}`;
    const plain = Array.from({ length: 30 }, () => request());
    const keyedFirst = request();
    const keyedSecond = request();
    const answers = await Promise.all([
      ...plain.map((each) => recorder.record(each, undefined)),
      recorder.record(keyedFirst, { key, fingerprint: 'f' }),
      recorder.record(keyedSecond, { key, fingerprint: 'f' }),
    ]);
    expect(answers).toEqual([...plain.map(() => true), true, false]);
    expect(recorder.statements).toBeLessThan(plain.length);
    const stored = await storedIds([...plain, keyedFirst, keyedSecond].map((each) => each.id));
    expect(stored).toEqual(new Set([...plain, keyedFirst].map((each) => each.id)));
    const [stored_key] = await sql<{ request_id: string; fingerprint: string }>(
      t,
      'select request_id, fingerprint from idempotency_keys where key = ?',
      [key],
    );
    expect(stored_key).toEqual({ request_id: keyedFirst.id, fingerprint: 'f' });
    const [row] = await sql<{ payload: unknown; status: string; currency: string }>(
      t,
      'select payload, status, currency from requests where id = ?',
      [plain[0]!.id],
    );
    expect(row).toEqual({ payload: plain[0]!.payload, status: 'queued', currency: 'credits' });
  });

  it('fails a request that cannot be recorded alone, not the ones sharing its statement', async () => {
    const recorder = new RequestRecorder(t.service.orm);
    const good = Array.from({ length: 8 }, () => request());
    // A ledger entry with no currency breaks the table's check constraint.
    const bad = request({ currency: null });
    const settled = await Promise.allSettled([
      ...good.slice(0, 4).map((each) => recorder.record(each, undefined)),
      recorder.record(bad, undefined),
      ...good.slice(4).map((each) => recorder.record(each, undefined)),
    ]);
    expect(settled.map((each) => each.status)).toEqual([
      ...Array(4).fill('fulfilled'),
      'rejected',
      ...Array(4).fill('fulfilled'),
    ]);
    expect(await storedIds([...good, bad].map((each) => each.id))).toEqual(
      new Set(good.map((each) => each.id)),
    );
  });
});
