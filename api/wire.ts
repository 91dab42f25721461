/**
 * The last step before a view is sent: amount fields, carried as decimal text, become exact JSON
 * numbers through `JSON.rawJSON` (Orb's contract types them as numbers). "0.1" is sent as 0.1,
 * and 12345678901234567890.000000000001 keeps every digit.
 */
const NUMBER_FIELDS = new Set(['amount', 'starting_balance', 'ending_balance', 'balance', 'maximum_initial_balance', 'void_amount']);

/** In Orb's Invoice the amounts are strings; only the quantities are numbers. */
const INVOICE_NUMBER_FIELDS = new Set(['quantity', 'fixed_price_quantity']);

function convert(value: unknown, numberFields: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((item) => convert(item, numberFields));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (typeof field === 'string' && numberFields.has(key)) out[key] = JSON.rawJSON(field);
    // An increment's invoices keep their string amounts (worker/store/invoiceViews.ts).
    else if (key === 'created_invoices' && Array.isArray(field)) out[key] = field.map(invoiceToWire);
    else out[key] = convert(field, numberFields);
  }
  return out;
}

/** Orb's customer `balance` is a string on the wire; only ledger and block amounts are numbers. */
export function toWire(value: unknown): unknown {
  return convert(value, NUMBER_FIELDS);
}

/** An Invoice view (worker/store/invoiceViews.ts) on the wire: its quantities become exact numbers. */
export function invoiceToWire(invoice: unknown): unknown {
  return convert(invoice, INVOICE_NUMBER_FIELDS);
}
