/**
 * The alert rows a ledger write works with (worker/store/alerts.ts): `lockLedgerAlerts` answers
 * every alert of the given customers with its customer's external id, in (customer, currency,
 * type) order, and holds them (a second transaction's lock waits for the first to end);
 * `saveAlertThresholds` writes many alerts' states in one statement.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockLedgerAlerts, saveAlertThresholds } from '../../../worker/store/alerts.ts';
import { openOrm, type Orm } from '../../../worker/store/orm.ts';
import { cloneTemplateDatabase, type TestDatabase } from '../../support/databases.ts';

let database: TestDatabase;
let orm: Orm;

beforeAll(async () => {
  database = await cloneTemplateDatabase();
  orm = await openOrm(database.url, { migrate: false, poolSize: 3 });
  const now = new Date();
  await orm.em.execute(
    `insert into customers (id, external_customer_id, name, email, timezone, created_at)
     values ('cus_b', 'ext-b', 'B', 'b@example.com', 'UTC', ?), ('cus_a', null, 'A', 'a@example.com', 'UTC', ?),
            ('cus_c', 'ext-c', 'C', 'c@example.com', 'UTC', ?)`,
    [now, now, now],
  );
  await orm.em.execute(
    `insert into alerts (id, customer_id, currency, type, thresholds, created_at, updated_at) values
       ('al_1', 'cus_b', 'credits', 'credit_balance_recovered', '[{"value": "0", "at_or_below": true}]', ?, ?),
       ('al_2', 'cus_b', 'credits', 'credit_balance_dropped',
        '[{"value": "100.5", "at_or_below": false}, {"value": "10", "at_or_below": false}]', ?, ?),
       ('al_3', 'cus_a', 'USD', 'credit_balance_depleted', '[{"value": "0", "at_or_below": false}]', ?, ?),
       ('al_4', 'cus_b', 'AAA', 'credit_balance_depleted', '[{"value": "0", "at_or_below": false}]', ?, ?),
       ('al_5', 'cus_c', 'credits', 'credit_balance_depleted', '[{"value": "0", "at_or_below": false}]', ?, ?)`,
    Array.from({ length: 10 }, () => now),
  );
});
afterAll(async () => {
  await orm?.close();
  await database?.drop();
});

describe('alert store', () => {
  it('locks the alerts of the given customers, in customer, currency, type order', async () => {
    const alerts = await orm.em.transactional((tx) => lockLedgerAlerts(tx, ['cus_b', 'cus_a']));
    expect(alerts.map((a) => a.id)).toEqual(['al_3', 'al_4', 'al_2', 'al_1']);
    expect(alerts[0]).toMatchObject({
      customerId: 'cus_a',
      externalCustomerId: null,
      currency: 'USD',
      type: 'credit_balance_depleted',
      enabled: true,
      thresholds: [{ value: '0', atOrBelow: false }],
      recheckAt: null,
    });
    expect(alerts[0]!.createdAt).toBeInstanceOf(Date);
    expect(alerts[2]).toMatchObject({
      externalCustomerId: 'ext-b',
      thresholds: [
        { value: '100.5', atOrBelow: false },
        { value: '10', atOrBelow: false },
      ],
    });
    expect(await orm.em.transactional((tx) => lockLedgerAlerts(tx, []))).toEqual([]);
  });

  it('answers each alert with its ledger’s stored recheck instant', async () => {
    const at = new Date(Date.now() + 3_600_000);
    await orm.em.execute("update alerts set recheck_at = ?::timestamptz where id = 'al_5'", [
      at.toISOString(),
    ]);
    const [alert] = await orm.em.transactional((tx) => lockLedgerAlerts(tx, ['cus_c']));
    expect(alert).toMatchObject({ id: 'al_5', externalCustomerId: 'ext-c', recheckAt: at });
    await orm.em.execute("update alerts set recheck_at = null where id = 'al_5'");
  });

  it('holds the rows until the transaction ends', async () => {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const first = orm.em.fork().transactional(async (tx) => {
      await lockLedgerAlerts(tx, ['cus_c']);
      locked();
      await held;
      order.push('first done');
    });
    await isLocked;
    const second = orm.em.fork().transactional(async (tx) => {
      await lockLedgerAlerts(tx, ['cus_c']);
      order.push('second locked');
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(order).toEqual([]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first done', 'second locked']);
  });

  it('saves many alerts’ thresholds in one statement, and nothing for none', async () => {
    const at = new Date(Date.now() + 60_000);
    await orm.em.transactional((tx) =>
      saveAlertThresholds(
        tx,
        [
          {
            id: 'al_2',
            customerId: 'cus_b',
            thresholds: [
              { value: '100.5', atOrBelow: true },
              { value: '10', atOrBelow: false },
            ],
            recheckAt: null,
          },
          {
            id: 'al_1',
            customerId: 'cus_b',
            thresholds: [{ value: '0', atOrBelow: false }],
            recheckAt: at,
          },
          // The row's whole key names it: the right id with another customer changes nothing.
          {
            id: 'al_3',
            customerId: 'cus_b',
            thresholds: [{ value: '1', atOrBelow: true }],
            recheckAt: at,
          },
        ],
        at,
      ),
    );
    await saveAlertThresholds(orm.em, [], at);
    const rows = await orm.em.execute<
      { id: string; thresholds: unknown; updated_at: Date | string; recheck_at: Date | null }[]
    >(
      `select id, thresholds, updated_at, recheck_at from alerts where id in ('al_1', 'al_2', 'al_3') order by id`,
    );
    expect(rows.map((r) => r.thresholds)).toEqual([
      [{ value: '0', at_or_below: false }],
      [
        { value: '100.5', at_or_below: true },
        { value: '10', at_or_below: false },
      ],
      [{ value: '0', at_or_below: false }],
    ]);
    expect(new Date(rows[0]!.updated_at).getTime()).toBe(at.getTime());
    expect(new Date(rows[1]!.updated_at).getTime()).toBe(at.getTime());
    expect(new Date(rows[2]!.updated_at).getTime()).not.toBe(at.getTime());
    expect(rows.map((r) => (r.recheck_at ? new Date(r.recheck_at).getTime() : null))).toEqual([
      at.getTime(),
      null,
      null,
    ]);
  });
});
