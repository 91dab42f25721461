/**
 * The last step before a view is sent: amount fields, carried as decimal text, become exact JSON
 * numbers through `JSON.rawJSON` (Orb's contract types them as numbers). "0.1" is sent as 0.1,
 * and 12345678901234567890.000000000001 keeps every digit.
 */
const NUMBER_FIELDS = new Set(['amount', 'starting_balance', 'ending_balance', 'balance', 'maximum_initial_balance', 'void_amount']);

/** Orb's customer `balance` is a string on the wire; only ledger and block amounts are numbers. */
export function toWire(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toWire);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    out[key] = typeof field === 'string' && NUMBER_FIELDS.has(key) ? JSON.rawJSON(field) : toWire(field);
  }
  return out;
}
