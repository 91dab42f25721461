const h = { authorization: `Bearer k`, 'content-type': 'application/json' };
const B = 'http://127.0.0.1:18123';
const ids: string[] = [];
for (let i = 0; i < 200; i++) ids.push(((await (await fetch(`${B}/v1/customers`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'x', email: 'x@x.com' }) })).json()) as { id: string }).id);
let n = 0; const end = performance.now() + 8000;
await Promise.all(Array.from({ length: 64 }, async () => { while (performance.now() < end) { const r = await fetch(`${B}/v1/customers/${ids[n++ % 200]}/credits/ledger_entry`, { method: 'POST', headers: h, body: JSON.stringify({ entry_type: 'increment', amount: 1 }) }); await r.text(); } }));
console.log('writes/s', n / 8);
