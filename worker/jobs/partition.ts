/**
 * Which partition a customer's writes go to: `stableHash(customerId) mod PARTITIONS`, so every
 * write for one customer lands on one queue and is applied in the order accepted
 * (ARCHITECTURE.md "Partitioning"). FNV-1a: tiny, stable across processes and versions.
 */
export function partitionOf(customerId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < customerId.length; index += 1) {
    hash ^= customerId.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

/** `{ledger-07}`: the braces are a Redis Cluster hash tag, keeping a queue's keys on one slot. */
export function partitionQueueName(partition: number): string {
  return `{ledger-${String(partition).padStart(2, '0')}}`;
}
