/**
 * Refusals on the wire (api/errors.ts): a refusal's code decides its Orb RFC 7807 type, status and
 * title, and travels as the `code` extension member, which Orb's own error schemas accept. Outcomes
 * stored without a code (before codes, or the worker's `internal` failures) keep their kind.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_TYPES, outcomeProblem } from '../../../api/errors.ts';
import { problemSchema } from '../../../api/wire/problem.ts';
import { ledgerError, REFUSAL_KINDS, type RefusalCode } from '../../../domain/ledgerError.ts';
import { expectValid } from '../../support/openApiValidator.ts';

const ORB_SCHEMA = { 400: '400Error', 404: '404Error' } as const;

describe('outcomeProblem', () => {
  it.each(Object.keys(REFUSAL_KINDS) as RefusalCode[])(
    '%s answers its kind’s Orb type and carries its code',
    (code) => {
      const body = outcomeProblem(ledgerError(code, 'why'));
      const { status, type, title } = ERROR_TYPES[REFUSAL_KINDS[code]];
      expect(body).toMatchObject({ type, status, title, detail: 'why', code });
      expect(status === 400 || status === 404).toBe(true);
      expectValid(ORB_SCHEMA[status as 400 | 404], body);
      expect(problemSchema.parse(body)).toEqual(body);
    },
  );

  it('maps the kinds as before: 404 resource not found, 400 constraint violation, 400 validation', () => {
    expect(outcomeProblem(ledgerError('block_not_found', 'x'))).toMatchObject({
      status: 404,
      type: 'https://docs.withorb.com/reference/error-responses#404-resource-not-found',
      title: 'Resource not found',
    });
    expect(outcomeProblem(ledgerError('invoice_not_issued', 'x'))).toMatchObject({
      status: 400,
      type: 'https://docs.withorb.com/reference/error-responses#400-constraint-violation',
      title: 'Constraint violation',
    });
    expect(outcomeProblem(ledgerError('insufficient_credits', 'x'))).toMatchObject({
      status: 400,
      title: 'Request validation error',
      validation_errors: ['x'],
    });
  });

  it('the code, not a stored kind, decides the type', () => {
    const stored = { code: 'block_not_found', kind: 'request_validation' as const, detail: 'x' };
    expect(outcomeProblem(stored).status).toBe(404);
  });

  it('an outcome without a known code keeps its kind and sends no code', () => {
    const legacy = outcomeProblem({ kind: 'constraint_violation', detail: 'old' });
    expect(legacy).toEqual({
      type: ERROR_TYPES.constraint_violation.type,
      status: 400,
      title: 'Constraint violation',
      detail: 'old',
    });
    const unknown = outcomeProblem({ kind: 'resource_not_found', detail: 'x', code: 'renamed' });
    expect(unknown.status).toBe(404);
    expect(unknown).not.toHaveProperty('code');
    const internal = outcomeProblem({ kind: 'internal', detail: 'bug' });
    expect(internal.status).toBe(500);
    expect(internal).not.toHaveProperty('code');
  });
});
