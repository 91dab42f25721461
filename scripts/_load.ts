import { pino } from 'pino';
import { startService } from '../api/service.ts';
import { loadConfig } from '../worker/config.ts';
const config = loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/credits_bench', PORT: '18123', API_KEYS: 'k', QUEUE_PREFIX: 'prof', LOG_LEVEL: 'silent' });
const s = await startService(config, { logger: pino({ level: 'silent' }) });
process.on('SIGTERM', async () => { await s.close(); process.exit(0); });
