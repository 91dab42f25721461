import { pino } from 'pino';
import { AbstractSqlConnection } from '@mikro-orm/sql';
import { startService } from '../api/service.ts';
import { loadConfig } from '../worker/config.ts';
const stats = new Map<string, number[]>();
const rec = (k: string, v: number) => { if (!stats.has(k)) stats.set(k, []); stats.get(k)!.push(v); };
const P = AbstractSqlConnection.prototype as any;
for (const m of ['begin', 'commit', 'execute']) {
  const orig = P[m];
  P[m] = async function (...args: any[]) { const t = performance.now(); try { return await orig.apply(this, args); } finally { rec(m === 'execute' ? String(args[0]).trim().slice(0, 30).replace(/\s+/g, ' ') : m, performance.now() - t); } };
}
let lag: number[] = []; let last = performance.now();
setInterval(() => { const now = performance.now(); lag.push(now - last - 10); last = now; }, 10).unref();
const config = loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/credits_bench', PORT: '18123', API_KEYS: 'k', QUEUE_PREFIX: 'prof', LOG_LEVEL: 'silent' });
const s = await startService(config, { logger: pino({ level: 'silent' }) });
process.on('SIGTERM', async () => {
  const pct = (a: number[], p: number) => { const x = [...a].sort((q, r) => q - r); return x[Math.floor(x.length * p)]?.toFixed(1); };
  for (const [k, v] of stats) if (v.length > 100) console.log(k.padEnd(32), 'n', v.length, 'p50', pct(v, .5), 'p90', pct(v, .9));
  console.log('event loop lag p50', pct(lag, .5), 'p90', pct(lag, .9), 'p99', pct(lag, .99));
  await s.close(); process.exit(0);
});
