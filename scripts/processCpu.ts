/**
 * CPU time spent per operation by each party of a benchmark on this machine: the service process,
 * the Postgres backends serving its database, and the load generator itself. On a shared 2-core
 * machine the rates move with whatever else runs, while CPU per operation barely does, so it is
 * the figure to compare runs by. Read from Linux's `/proc/<pid>/stat` (utime + stime); null
 * where that cannot be read (another OS, or a Postgres on another host).
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';

/** Linux's USER_HZ: the unit of /proc/<pid>/stat's times, 100 on every mainstream kernel. */
const TICKS_PER_SECOND = 100;

/** CPU seconds a process has used so far, or undefined when it cannot be read. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // After the command: state is field 3, utime 14 and stime 15 (1-based), so 11 and 12 here.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export interface CpuPerOperation {
  service_us: number | null;
  postgres_us: number | null;
  load_generator_us: number;
}

/** What a measurement needs to say, at its end, how much CPU each operation took. */
export interface CpuMeter {
  perOperation(operations: number): Promise<CpuPerOperation>;
}

/** The backends connected to `databaseUrl`'s database now, other than this query's own. */
async function backendPids(client: pg.Client): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>(
    `select pid from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()`,
  );
  return rows.map((row) => row.pid);
}

/**
 * Starts metering: the service process `servicePid`, the Postgres backends of `databaseUrl`
 * (those there now and those that connect before the end, whose whole life falls inside it) and
 * this process.
 */
export async function startCpuMeter(databaseUrl: string, servicePid: number): Promise<CpuMeter> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const backendsAtStart = new Map<number, number | undefined>();
  for (const pid of await backendPids(client)) backendsAtStart.set(pid, cpuSeconds(pid));
  const serviceAtStart = cpuSeconds(servicePid);
  const ownAtStart = process.cpuUsage();
  return {
    async perOperation(operations) {
      const serviceAtEnd = cpuSeconds(servicePid);
      const own = process.cpuUsage(ownAtStart);
      let postgres: number | undefined;
      try {
        const pids = new Set([...backendsAtStart.keys(), ...(await backendPids(client))]);
        for (const pid of pids) {
          const atEnd = cpuSeconds(pid);
          // Gone before now (its time went with it: a lower bound), or not on this machine.
          if (atEnd === undefined) continue;
          postgres = (postgres ?? 0) + atEnd - (backendsAtStart.get(pid) ?? 0);
        }
      } finally {
        await client.end();
      }
      const perOperation = (seconds: number | undefined) =>
        seconds === undefined || operations === 0 ? null : Math.round((seconds * 1e6) / operations);
      return {
        service_us:
          serviceAtStart === undefined || serviceAtEnd === undefined
            ? null
            : perOperation(serviceAtEnd - serviceAtStart),
        postgres_us: perOperation(postgres),
        load_generator_us: perOperation((own.user + own.system) / 1e6) ?? 0,
      };
    },
  };
}
