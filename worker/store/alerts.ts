/**
 * Rows of `alerts` (Migration20261203070000_alertsAndOutbox): an alert configuration and its
 * state, one per (customer, currency, type). Thresholds are decimal text, highest first.
 */
export interface AlertRecord {
  id: string;
  customerId: string;
  externalCustomerId: string | null;
  currency: string;
  type: 'credit_balance_depleted' | 'credit_balance_dropped' | 'credit_balance_recovered';
  enabled: boolean;
  thresholds: { value: string; atOrBelow: boolean }[];
  createdAt: Date;
}
