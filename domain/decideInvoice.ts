/**
 * Paying or voiding a credit purchase invoice (LEDGER_RULES.md §7; Orb's mark_paid and void).
 * Only an `issued` invoice can change (Orb: "This can only be done to invoices that are in the
 * issued status"); anything else is a refusal that writes nothing. First the clock is caught up
 * (due expiries), as before every command.
 *
 * - mark_paid: the invoice becomes `paid`; its block, if it was waiting in `pending_payment`,
 *   becomes `active` and so drawable. Choice: activation moves no credit (no entry is written);
 *   it does not repay negative blocks the way an increment does.
 * - void: the invoice becomes `void`, and the block it bought loses what is left of its credit
 *   (Orb: "If the invoice was used to purchase a credit block, but the invoice is not yet paid,
 *   the credit block will be voided"): a `void_initiated` and a `void` entry with no reason, as a
 *   void ledger entry writes. A block already voided, expired or empty has nothing left to void.
 */
import { decideVoid } from './decideVoid.ts';
import { expireDue } from './expireDue.ts';
import { LedgerDraft } from './ledgerDraft.ts';
import { firstRefusal, type Check } from './firstRefusal.ts';
import type { Decision } from './ledgerError.ts';
import type {
  Block,
  DecisionContext,
  InvoicePayment,
  InvoiceStatus,
  Ledger,
  LedgerChanges,
} from './types.ts';

export type InvoiceAction =
  /** `paidAt`: when the payment was received (the shell resolves the date in the customer's timezone). */
  { type: 'mark_paid'; paidAt: Date; payment: InvoicePayment } | { type: 'void' };

/** What a decision needs of a stored invoice. */
export interface InvoiceState {
  id: string;
  blockId: string;
  status: InvoiceStatus;
}

const VERB = { mark_paid: 'marked paid', void: 'voided' } as const;

export const INVOICE_CHECKS: readonly Check<{ action: InvoiceAction; invoice: InvoiceState }>[] = [
  {
    code: 'invoice_not_issued',
    broken: ({ action, invoice }) =>
      invoice.status === 'issued'
        ? undefined
        : `invoice ${invoice.id} is ${invoice.status}; only an issued invoice can be ${VERB[action.type]}.`,
  },
];

export function decideInvoice(
  action: InvoiceAction,
  invoice: InvoiceState,
  ledger: Ledger,
  blocks: readonly Block[],
  context: DecisionContext,
): Decision<LedgerChanges> {
  const refusal = firstRefusal(INVOICE_CHECKS, { action, invoice });
  if (refusal) return { ok: false, error: refusal };
  const draft = new LedgerDraft(ledger, blocks, context);
  expireDue(draft, context.now);
  const found = draft.allBlocks().find((block) => block.id === invoice.blockId);
  if (!found) throw new Error(`block ${invoice.blockId} of invoice ${invoice.id} was not loaded`);
  const block = draft.current(found);
  if (action.type === 'mark_paid') {
    if (block.status === 'pending_payment') draft.updateBlock(block, { status: 'active' });
    draft.changeInvoice({
      blockId: block.id,
      status: 'paid',
      at: action.paidAt,
      payment: action.payment,
    });
    return { ok: true, value: draft.changes() };
  }
  if (block.voidedAt === null && block.balance.isPositive()) {
    const command = {
      type: 'void',
      currency: block.currency,
      blockId: block.id,
      amount: block.balance,
      voidReason: null,
      description: null,
      metadata: {},
    } as const;
    const voidRefusal = decideVoid(command, draft, context);
    // The block is live (not voided, not expired after the catch-up) and the amount is its balance.
    if (voidRefusal)
      throw new Error(
        `voiding block ${block.id} of invoice ${invoice.id} was refused: ${voidRefusal.detail}`,
      );
  }
  draft.changeInvoice({ blockId: block.id, status: 'void', at: context.now, payment: null });
  return { ok: true, value: draft.changes() };
}
