/**
 * Customer hierarchies (Orb's `hierarchy`): each customer row names its parent
 * (`parent_customer_id`); a customer's children are the rows naming it. Two levels only, as Orb
 * says: a parent is not itself a child, and a child has no children. The api reads the links of
 * the customers a create names, then, inside the create's transaction, locks those rows and reads
 * them again, so that two creates racing for the same customers cannot both pass the checks.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { CustomerRow } from './entities.ts';
import type { CustomerHierarchyView } from './views.ts';

/** What the hierarchy checks need of a customer named by a create. */
export interface HierarchyLink {
  id: string;
  externalCustomerId: string | null;
  parentCustomerId: string | null;
  hasChildren: boolean;
}

interface LinkSqlRow {
  id: string;
  external_customer_id: string | null;
  parent_customer_id: string | null;
  has_children: boolean;
}

/**
 * The links of these customers (missing ids are simply absent). `lock` takes their rows
 * `for update`, in id order so that concurrent creates never deadlock; use it inside a transaction.
 */
export async function hierarchyLinks(
  em: EntityManager,
  ids: string[],
  lock = false,
): Promise<Map<string, HierarchyLink>> {
  if (ids.length === 0) return new Map();
  const idsJson = JSON.stringify([...new Set(ids)].sort());
  if (lock)
    await em.execute(
      'select id from customers where id in (select jsonb_array_elements_text(?::jsonb)) order by id for update',
      [idsJson],
    );
  const rows = await em.execute<LinkSqlRow[]>(
    `select c.id, c.external_customer_id, c.parent_customer_id,
            exists (select 1 from customers k where k.parent_customer_id = c.id) as has_children
       from customers c where c.id in (select jsonb_array_elements_text(?::jsonb))`,
    [idsJson],
  );
  return new Map(
    rows.map((row) => [
      row.id,
      {
        id: row.id,
        externalCustomerId: row.external_customer_id,
        parentCustomerId: row.parent_customer_id,
        hasChildren: row.has_children,
      },
    ]),
  );
}

/** Makes `childIds` children of `parentId`; run it in the create's transaction, after the checks. */
export async function adoptChildren(
  tx: EntityManager,
  parentId: string,
  childIds: string[],
): Promise<void> {
  if (childIds.length === 0) return;
  await tx.execute(
    'update customers set parent_customer_id = ? where id in (select jsonb_array_elements_text(?::jsonb))',
    [parentId, JSON.stringify(childIds)],
  );
}

/** The hierarchy of each customer, for its view: its parent and its children, oldest child first. */
export async function hierarchiesOf(
  em: EntityManager,
  customers: CustomerRow[],
): Promise<Map<string, CustomerHierarchyView>> {
  const hierarchies = new Map<string, CustomerHierarchyView>(
    customers.map((customer) => [customer.id, { parent: null, children: [] }]),
  );
  if (customers.length === 0) return hierarchies;
  const parentIds = customers.flatMap((customer) =>
    customer.parentCustomerId ? [customer.parentCustomerId] : [],
  );
  const rows = await em.execute<
    { id: string; external_customer_id: string | null; parent_customer_id: string | null }[]
  >(
    // Two index lookups, not one `or` (which the planner answered with a scan of every customer,
    // on each webhook event and customer read): the parents by id, the children by parent.
    `select id, external_customer_id, parent_customer_id, created_at from customers
      where id = any (array(select jsonb_array_elements_text(?::jsonb)))
     union
     select id, external_customer_id, parent_customer_id, created_at from customers
      where parent_customer_id = any (array(select jsonb_array_elements_text(?::jsonb)))
     order by created_at, id`,
    [JSON.stringify(parentIds), JSON.stringify(customers.map((customer) => customer.id))],
  );
  const minified = (row: { id: string; external_customer_id: string | null }) => ({
    id: row.id,
    external_customer_id: row.external_customer_id,
  });
  for (const customer of customers) {
    const parent = rows.find((row) => row.id === customer.parentCustomerId);
    if (parent) hierarchies.get(customer.id)!.parent = minified(parent);
  }
  for (const row of rows) {
    if (row.parent_customer_id !== null)
      hierarchies.get(row.parent_customer_id)?.children.push(minified(row));
  }
  return hierarchies;
}
