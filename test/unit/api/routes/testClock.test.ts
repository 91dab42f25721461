/**
 * The test clock's routes (api/routes/testClock.ts) over the catch-up the composition root hands
 * them: the clock moves before the catch-up runs, the answer counts the jobs it ran, a catch-up
 * that does not finish in time is a 503, and the clock never moves back. The sweeps themselves
 * are exercised through the whole service (test/integration/worker/usage.test.ts and others).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { afterEach, describe, expect, it } from 'vitest';
import { registerErrorHandlers } from '../../../../api/errors.ts';
import { registerTestClockRoutes, type CatchUp } from '../../../../api/routes/testClock.ts';
import { ManualClock } from '../../../../worker/runtime/clock.ts';
import { manualClockStart } from '../../../support/testDates.ts';

const HOUR_MS = 3_600_000;

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function testClockApp(clock: ManualClock, catchUp: CatchUp): Promise<FastifyInstance> {
  app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  registerErrorHandlers(app);
  registerTestClockRoutes(app, { clock, catchUp });
  await app.ready();
  return app;
}

const advance = (target: FastifyInstance, to: Date) =>
  target.inject({
    method: 'POST',
    url: '/v1/test_clock/advance',
    payload: { to: to.toISOString() },
  });

describe('test clock routes', () => {
  it('moves the clock, then runs the catch-up with its bound, and answers the jobs it ran', async () => {
    const start = manualClockStart();
    const clock = new ManualClock(start);
    const calls: { seenAt: string; timeoutMs: number }[] = [];
    const target = await testClockApp(clock, async (timeoutMs) => {
      calls.push({ seenAt: clock.now().toISOString(), timeoutMs });
      return { jobsRun: 3, finished: true };
    });
    const to = new Date(start.getTime() + HOUR_MS);

    const answer = await advance(target, to);

    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.json()).toEqual({ now: to.toISOString(), jobs_run: 3 });
    expect(calls).toEqual([{ seenAt: to.toISOString(), timeoutMs: 30_000 }]);
    const read = await target.inject({ method: 'GET', url: '/v1/test_clock' });
    expect(read.json()).toEqual({ now: to.toISOString() });
  });

  it('answers 503 when the catch-up does not finish in time; the clock stays moved', async () => {
    const start = manualClockStart();
    const clock = new ManualClock(start);
    const target = await testClockApp(clock, async () => ({ jobsRun: 1, finished: false }));
    const to = new Date(start.getTime() + HOUR_MS);

    const answer = await advance(target, to);

    expect(answer.statusCode, answer.body).toBe(503);
    expect(answer.json().detail).toContain('catching up took longer than 30000 ms');
    expect(clock.now()).toEqual(to);
  });

  it('refuses to move back with a 400 and runs nothing', async () => {
    const start = manualClockStart();
    const clock = new ManualClock(start);
    let catchUps = 0;
    const target = await testClockApp(clock, async () => {
      catchUps += 1;
      return { jobsRun: 0, finished: true };
    });

    const answer = await advance(target, new Date(start.getTime() - HOUR_MS));

    expect(answer.statusCode, answer.body).toBe(400);
    expect(catchUps).toBe(0);
    expect(clock.now()).toEqual(start);
  });
});
