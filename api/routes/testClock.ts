/**
 * The test clock (ARCHITECTURE.md, only with CLOCK=manual): read the service's time, and move it
 * forward, running what became due (expiries) before answering, so that a test or a demo sees the
 * ledger as it stands at the new instant. The manual clock lives in this process, so it needs
 * ROLE=all. With any other clock these routes do not exist.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ManualClock } from '../../worker/runtime/clock.ts';
import { ApiError } from '../errors.ts';
import { dateTime } from '../schemas/primitives.ts';

const CATCH_UP_WAIT_MS = 30_000;

const advanceBody = z.strictObject({ to: dateTime });

/**
 * Runs the sweeps that came due at the clock's new instant and waits up to `timeoutMs` for the
 * jobs they enqueued. The sweeps are the worker's, so the composition root (scripts/service.ts)
 * supplies this and the api never reaches into worker/sweeps/.
 */
export type CatchUp = (timeoutMs: number) => Promise<{ jobsRun: number; finished: boolean }>;

export function registerTestClockRoutes(
  app: FastifyInstance,
  deps: { clock: ManualClock; catchUp: CatchUp },
): void {
  app.get(
    '/v1/test_clock',
    { schema: { summary: 'Read the test clock', tags: ['Test clock'] } },
    async () => ({ now: deps.clock.now().toISOString() }),
  );

  app.post(
    '/v1/test_clock/advance',
    {
      schema: {
        summary: 'Move the test clock forward and run what became due',
        tags: ['Test clock'],
        body: advanceBody,
      },
    },
    async (request) => {
      const to = new Date((request.body as z.infer<typeof advanceBody>).to);
      if (to.getTime() < deps.clock.now().getTime()) {
        throw ApiError.validation(
          `the clock only moves forward; it is ${deps.clock.now().toISOString()}.`,
        );
      }
      deps.clock.advanceTo(to);
      const { jobsRun, finished } = await deps.catchUp(CATCH_UP_WAIT_MS);
      if (!finished) {
        throw new ApiError(
          'unavailable',
          `the clock moved to ${to.toISOString()} but catching up took longer than ${CATCH_UP_WAIT_MS} ms.`,
        );
      }
      return { now: deps.clock.now().toISOString(), jobs_run: jobsRun };
    },
  );
}
