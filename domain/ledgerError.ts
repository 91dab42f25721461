/**
 * Business refusals are values, not exceptions (STYLE.md, TigerBeetle): each has an HTTP-neutral
 * kind that api/errors.ts maps to Orb's RFC 7807 types, and a sentence for the caller.
 */
export type LedgerErrorKind = 'request_validation' | 'constraint_violation' | 'resource_not_found';

export interface LedgerError {
  kind: LedgerErrorKind;
  detail: string;
}

export type Decision<T> = { ok: true; value: T } | { ok: false; error: LedgerError };

export function ledgerError(kind: LedgerErrorKind, detail: string): LedgerError {
  return { kind, detail };
}

export function refuse(kind: LedgerErrorKind, detail: string): { ok: false; error: LedgerError } {
  return { ok: false, error: ledgerError(kind, detail) };
}
