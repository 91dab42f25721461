/**
 * How every route answers a submitted write (api/intake/submit.ts): the committed outcome in the
 * kind's own shape, a refusal as its RFC 7807 problem, or `202` with the request's status and a
 * `Location` to poll; a replay says so with `Idempotent-Replayed: true`.
 */
import type { FastifyReply } from 'fastify';
import type { RequestKind } from '../../worker/jobs/requestKinds.ts';
import type { OutcomeOf } from '../../worker/jobs/requestOutcome.ts';
import type { RequestRow } from '../../worker/store/requests.ts';
import { outcomeProblem, sendProblem } from '../errors.ts';
import type { SubmitAnswer } from './submit.ts';

export interface AnswerShapes<K extends RequestKind> {
  /** The 202's body and where to poll. */
  accepted: (request: RequestRow) => { location: string; body: unknown };
  /** The status and body of a committed outcome. */
  committed: (
    outcome: Extract<OutcomeOf<K>, { status: 'committed' }>,
  ) => Promise<{ status: number; body: unknown }> | { status: number; body: unknown };
}

export async function sendAnswer<K extends RequestKind>(
  reply: FastifyReply,
  answer: SubmitAnswer<K>,
  shapes: AnswerShapes<K>,
): Promise<FastifyReply> {
  if (answer.replayed) reply.header('idempotent-replayed', 'true');
  if (answer.kind === 'accepted') {
    const { location, body } = shapes.accepted(answer.request);
    return reply.code(202).header('location', location).send(body);
  }
  const { outcome } = answer;
  if (outcome.status === 'failed') return sendProblem(reply, outcomeProblem(outcome.error));
  const { status, body } = await shapes.committed(
    outcome as Extract<OutcomeOf<K>, { status: 'committed' }>,
  );
  return reply.code(status).send(body);
}
