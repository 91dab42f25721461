/**
 * `npm run cluster`: a local six-node Redis Cluster (three masters, three replicas, AOF on) on
 * 127.0.0.1 for trying the service on a cluster (scripts/redisCluster.ts). It prints the
 * REDIS_CLUSTER_NODES to start the service with and runs until Ctrl-C or SIGTERM, which stops
 * every node and removes its data. `--base-port N` picks where to start looking for six free
 * ports (7100 by default); `--dir PATH` keeps the nodes' files there instead of a temporary
 * directory.
 */
import { startRedisCluster, type RedisClusterOptions } from './redisCluster.ts';

function parseArgs(args: string[]): RedisClusterOptions {
  const options: RedisClusterOptions = {};
  for (let index = 0; index < args.length; index += 1) {
    const [name, value] = [args[index], args[index + 1]];
    if (name === '--base-port' && value && /^\d+$/.test(value)) options.basePort = Number(value);
    else if (name === '--dir' && value) options.dir = value;
    else throw new Error(`unknown or invalid argument ${name}; known: --base-port N, --dir PATH`);
    index += 1;
  }
  return options;
}

const harness = await startRedisCluster(parseArgs(process.argv.slice(2)));
const masters = await harness.masters();
console.log(
  [
    `Redis Cluster running: ${masters.length} masters, ${harness.nodes.length - masters.length} replicas, files in ${harness.dir}`,
    ...masters.map(
      (master) =>
        `  master ${master.address}: slots ${master.slots.map(([from, to]) => `${from}-${to}`).join(',')}`,
    ),
    '',
    'Start the service on it with:',
    `  REDIS_CLUSTER_NODES=${harness.seed} npm start`,
    '',
    'Ctrl-C stops every node and removes its data.',
  ].join('\n'),
);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping the cluster`);
  void harness.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
