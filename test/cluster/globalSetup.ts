/**
 * `npm run test:cluster`: one local Redis Cluster for the whole run (scripts/redisCluster.ts),
 * whose seed nodes reach every test file as TEST_REDIS_CLUSTER_NODES (forked workers inherit the
 * environment set here; test/support/testService.ts gives them to each service as
 * REDIS_CLUSTER_NODES), then the suite's usual setup (the template database). The cluster is
 * stopped, and its files removed, at the end of the run.
 */
import { startRedisCluster } from '../../scripts/redisCluster.ts';
import suiteSetup from '../support/globalSetup.ts';
import { binary, REDIS_SERVER_BINARY } from '../support/requiresBinary.ts';

/** What the cluster is made with; this run exists to use it, so its absence fails the run. */
const PROGRAMS = [REDIS_SERVER_BINARY, binary('redis-cli', REDIS_SERVER_BINARY.howToEnable)];

export default async function setup(): Promise<() => Promise<void>> {
  const missing = PROGRAMS.filter((program) => !program.available());
  if (missing.length > 0)
    throw new Error(
      `npm run test:cluster starts a local Redis Cluster and needs ${missing
        .map((program) => program.what)
        .join(' and ')} (${REDIS_SERVER_BINARY.howToEnable})`,
    );
  const started = performance.now();
  const cluster = await startRedisCluster();
  process.env.TEST_REDIS_CLUSTER_NODES = cluster.seed;
  // Queues on the cluster, whatever the machine's default Redis is.
  process.env.TEST_QUEUE_STORE = 'redis';
  console.log(
    `test run: Redis Cluster on ${cluster.seed} (3 masters, 3 replicas), ready in ${Math.round(performance.now() - started)} ms`,
  );
  let suiteTeardown: (() => Promise<void>) | undefined;
  try {
    suiteTeardown = await suiteSetup();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return async () => {
    try {
      await suiteTeardown?.();
    } finally {
      await cluster.stop();
    }
  };
}
