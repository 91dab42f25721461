/**
 * The ordered list of migrations, given to MikroORM explicitly: no file globbing at run time, so
 * the same list runs from a checkout, a container, or a test's template database.
 */
import { Migration20261121000000_initial } from './Migration20261121000000_initial.ts';
import { Migration20261121020000_usage } from './Migration20261121020000_usage.ts';
import { Migration20261121030000_deprecation } from './Migration20261121030000_deprecation.ts';
import { Migration20261121040000_balanceTransactions } from './Migration20261121040000_balanceTransactions.ts';
import { Migration20261121050000_invoices } from './Migration20261121050000_invoices.ts';
import { Migration20261121060000_topUps } from './Migration20261121060000_topUps.ts';
import { Migration20261121070000_blockSource } from './Migration20261121070000_blockSource.ts';
import { Migration20261121080000_ledgerFunctions } from './Migration20261121080000_ledgerFunctions.ts';
import { Migration20261121090000_overdraftCandidateIndex } from './Migration20261121090000_overdraftCandidateIndex.ts';
import { Migration20261203000000_blockCreationOrder } from './Migration20261203000000_blockCreationOrder.ts';
import { Migration20261203010000_customerDetails } from './Migration20261203010000_customerDetails.ts';
import { Migration20261203020000_topUpActiveFrom } from './Migration20261203020000_topUpActiveFrom.ts';
import { Migration20261203030000_partitionFences } from './Migration20261203030000_partitionFences.ts';
import { Migration20261203040000_retention } from './Migration20261203040000_retention.ts';
import { Migration20261203050000_acceptedEvents } from './Migration20261203050000_acceptedEvents.ts';
import { Migration20261203060000_oneRequestModel } from './Migration20261203060000_oneRequestModel.ts';
import { Migration20261203070000_alertsAndOutbox } from './Migration20261203070000_alertsAndOutbox.ts';
import { Migration20261203075000_alertRequests } from './Migration20261203075000_alertRequests.ts';
import { Migration20261203080000_webhookDelivery } from './Migration20261203080000_webhookDelivery.ts';
import { Migration20261203090000_alertRecheck } from './Migration20261203090000_alertRecheck.ts';
import { Migration20261203100000_webhookEndpointRequests } from './Migration20261203100000_webhookEndpointRequests.ts';
import { Migration20261203110000_acceptanceOrder } from './Migration20261203110000_acceptanceOrder.ts';
import { Migration20261203120000_customerKeys } from './Migration20261203120000_customerKeys.ts';

export const migrationsList = [
  { name: 'Migration20261121000000_initial', class: Migration20261121000000_initial },
  { name: 'Migration20261121020000_usage', class: Migration20261121020000_usage },
  { name: 'Migration20261121030000_deprecation', class: Migration20261121030000_deprecation },
  {
    name: 'Migration20261121040000_balanceTransactions',
    class: Migration20261121040000_balanceTransactions,
  },
  { name: 'Migration20261121050000_invoices', class: Migration20261121050000_invoices },
  { name: 'Migration20261121060000_topUps', class: Migration20261121060000_topUps },
  { name: 'Migration20261121070000_blockSource', class: Migration20261121070000_blockSource },
  {
    name: 'Migration20261121080000_ledgerFunctions',
    class: Migration20261121080000_ledgerFunctions,
  },
  {
    name: 'Migration20261121090000_overdraftCandidateIndex',
    class: Migration20261121090000_overdraftCandidateIndex,
  },
  {
    name: 'Migration20261203000000_blockCreationOrder',
    class: Migration20261203000000_blockCreationOrder,
  },
  {
    name: 'Migration20261203010000_customerDetails',
    class: Migration20261203010000_customerDetails,
  },
  {
    name: 'Migration20261203020000_topUpActiveFrom',
    class: Migration20261203020000_topUpActiveFrom,
  },
  {
    name: 'Migration20261203030000_partitionFences',
    class: Migration20261203030000_partitionFences,
  },
  { name: 'Migration20261203040000_retention', class: Migration20261203040000_retention },
  {
    name: 'Migration20261203050000_acceptedEvents',
    class: Migration20261203050000_acceptedEvents,
  },
  {
    name: 'Migration20261203060000_oneRequestModel',
    class: Migration20261203060000_oneRequestModel,
  },
  {
    name: 'Migration20261203070000_alertsAndOutbox',
    class: Migration20261203070000_alertsAndOutbox,
  },
  {
    name: 'Migration20261203075000_alertRequests',
    class: Migration20261203075000_alertRequests,
  },
  {
    name: 'Migration20261203080000_webhookDelivery',
    class: Migration20261203080000_webhookDelivery,
  },
  {
    name: 'Migration20261203090000_alertRecheck',
    class: Migration20261203090000_alertRecheck,
  },
  {
    name: 'Migration20261203100000_webhookEndpointRequests',
    class: Migration20261203100000_webhookEndpointRequests,
  },
  {
    name: 'Migration20261203110000_acceptanceOrder',
    class: Migration20261203110000_acceptanceOrder,
  },
  { name: 'Migration20261203120000_customerKeys', class: Migration20261203120000_customerKeys },
];
