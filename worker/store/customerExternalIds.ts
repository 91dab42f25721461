/**
 * External customer ids, unique across the deployment: `customer_external_ids` maps each to its
 * customer (Migration20261203120000_customerKeys). With Citus, `customers` is distributed by its
 * id, so a unique key on its external id is impossible there; this table is distributed by the
 * external id instead (SCALING.md), and the customer create writes it in its own transaction.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Claims `externalCustomerId` for the customer; run it in the create's transaction. A second
 * customer with the same external id fails on this table's primary key (a unique violation,
 * which the create answers as a duplicate).
 */
export async function claimExternalCustomerId(
  tx: EntityManager,
  externalCustomerId: string,
  customerId: string,
): Promise<void> {
  await tx.execute(
    'insert into customer_external_ids (external_customer_id, customer_id) values (?, ?)',
    [externalCustomerId, customerId],
  );
}
