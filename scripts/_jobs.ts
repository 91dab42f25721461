import { Queue } from 'bullmq';
const waits: number[] = [], runs: number[] = [], gaps: number[] = [];
for (let p = 0; p < 16; p++) {
  const q = new Queue(`{ledger-${String(p).padStart(2, '0')}}`, { connection: { url: 'redis://127.0.0.1:6379' }, prefix: 'prof' });
  const jobs = (await q.getJobs(['completed'], 0, 999)).sort((a, b) => a.processedOn! - b.processedOn!);
  for (let i = 0; i < jobs.length; i++) { const j = jobs[i]!; waits.push(j.processedOn! - j.timestamp); runs.push(j.finishedOn! - j.processedOn!); if (i) gaps.push(j.processedOn! - jobs[i - 1]!.finishedOn!); }
  await q.close();
}
const pct = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length * p)]; };
console.log('jobs', runs.length, 'wait p50', pct(waits, .5), 'p99', pct(waits, .99), '| run p50', pct(runs, .5), 'p90', pct(runs, .9), 'p99', pct(runs, .99), '| gap between jobs p50', pct(gaps, .5), 'p90', pct(gaps, .9));
