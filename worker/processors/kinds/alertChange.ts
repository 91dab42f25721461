/**
 * Orb's customer credit-balance alert writes (`POST /v1/alerts/customer_id/{id}`, `PUT
 * /v1/alerts/{id}`, enable, disable, delete) on the customer's partition, so that an alert's state
 * is set in order with the ledger writes around it (they evaluate the alerts they lock,
 * `lockLedgerAlerts`). A create or a change of thresholds locks the customer and loads the
 * (customer, currency) ledger like any write, and sets each threshold's state from the watched
 * balance now (domain/alerts.ts `initialThresholds`): a threshold already reached is in alert, and
 * nothing fires for it. Enabling keeps the state, which a disabled alert kept up to date.
 *
 * Refusals: a create checks its thresholds against its type (alert_thresholds_invalid), then that
 * the customer has no alert of that type for that currency (alert_exists, which the table's unique
 * key decides); the other actions first find the alert (alert_not_found), then an update checks
 * its thresholds against the alert's type.
 */
import {
  initialThresholds,
  nextEffectiveAt,
  watchedBalance,
  type AlertType,
} from '../../../domain/alerts.ts';
import { Decimal } from '../../../domain/decimal.ts';
import { ledgerError } from '../../../domain/ledgerError.ts';
import {
  alertChangePayload,
  alertThresholdsProblem,
  type AlertChangePayload,
} from '../../jobs/requestKinds.ts';
import { failedOutcome, type OutcomeOf } from '../../jobs/requestOutcome.ts';
import {
  deleteAlert,
  findAlert,
  insertAlert,
  lockAlert,
  replaceAlertThresholds,
  setAlertEnabled,
  type AlertRecord,
} from '../../store/alerts.ts';
import { lockCustomerAndLoad, type LockedRequest } from '../../store/ledgerRepository.ts';
import type { ApplyKind, KindContext } from './kindContext.ts';

type Outcome = OutcomeOf<'alert_change'>;

/**
 * The thresholds' state from the ledger's watched balance now, and when that balance next changes
 * with no entry (a block becoming effective, for the recheck sweep); locks the customer first.
 */
async function stateNow(
  { em, now }: KindContext,
  customerId: string,
  currency: string,
  type: AlertType,
  values: readonly string[],
): Promise<{ thresholds: AlertRecord['thresholds']; recheckAt: Date | null }> {
  const { blocks } = await lockCustomerAndLoad(em, customerId, currency, now);
  const balance = watchedBalance(blocks, now);
  const thresholds = initialThresholds(type, values.map(Decimal.of), balance).map((threshold) => ({
    value: threshold.value.toString(),
    atOrBelow: threshold.atOrBelow,
  }));
  return { thresholds, recheckAt: nextEffectiveAt(blocks, now) };
}

async function apply(
  request: LockedRequest,
  context: KindContext,
  payload: AlertChangePayload,
): Promise<Outcome> {
  const { em, now } = context;
  const customerId = request.customerId;
  const alertId = payload.alert_id;
  const refuse = (error: ReturnType<typeof ledgerError>) =>
    failedOutcome('alert_change', request.id, error);
  const notFound = () =>
    refuse(
      ledgerError(
        'alert_not_found',
        `Alert with id ${alertId} does not exist for customer ${customerId}.`,
      ),
    );
  const invalid = (detail: string) => refuse(ledgerError('alert_thresholds_invalid', detail));
  const committed: Outcome = {
    status: 'committed',
    kind: 'alert_change',
    requestId: request.id,
    alertId,
    action: payload.action,
  };

  switch (payload.action) {
    case 'create': {
      const { currency, type } = payload;
      // The api checked them against the type too; this is the rule the stored request obeys.
      const problem = alertThresholdsProblem(type, payload.thresholds);
      if (problem) return invalid(`${problem}.`);
      const state = await stateNow(context, customerId, currency, type, payload.thresholds);
      const inserted = await insertAlert(
        em,
        { id: alertId, customerId, currency, type, thresholds: state.thresholds, createdAt: now },
        state.recheckAt,
      );
      if (!inserted)
        return refuse(
          ledgerError(
            'alert_exists',
            `Customer ${customerId} already has a ${type} alert for currency ${currency}; update or delete it instead.`,
          ),
        );
      return committed;
    }
    case 'update_thresholds': {
      // Unlocked read for the alert's type and currency (its ledger): only this partition
      // changes the customer's alerts, so it stays as read. The customer is locked before the
      // alert, in the order every ledger write takes them.
      const found = await findAlert(em, alertId);
      if (!found || found.customerId !== customerId) return notFound();
      const problem = alertThresholdsProblem(found.type, payload.thresholds);
      if (problem) return invalid(`${problem}.`);
      const state = await stateNow(
        context,
        customerId,
        found.currency,
        found.type,
        payload.thresholds,
      );
      if (!(await lockAlert(em, customerId, alertId))) return notFound();
      await replaceAlertThresholds(em, customerId, alertId, state.thresholds, state.recheckAt, now);
      return committed;
    }
    case 'enable':
    case 'disable': {
      if (!(await lockAlert(em, customerId, alertId))) return notFound();
      await setAlertEnabled(em, customerId, alertId, payload.action === 'enable', now);
      return committed;
    }
    case 'delete':
      return (await deleteAlert(em, customerId, alertId)) ? committed : notFound();
  }
}

export const applyAlertChange: ApplyKind<'alert_change'> = async (request, context) => {
  const payload = alertChangePayload.safeParse(request.payload);
  if (!payload.success) {
    const detail = `stored request is unreadable: ${payload.error.message}`;
    return failedOutcome('alert_change', request.id, { kind: 'internal', detail });
  }
  return apply(request, context, payload.data);
};
