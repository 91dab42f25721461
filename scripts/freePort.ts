/**
 * A TCP port on 127.0.0.1 that nothing listens on now, for servers that this project starts
 * itself (an embedded or private Postgres, a private Redis, a service process) and must tell their
 * port. It is drawn below Linux's ephemeral range (32768–60999): a port the kernel hands out for
 * `listen(0)` or as a client connection's source port could be taken again between this check and
 * the server's own listen (seen as EADDRINUSE in the fault run), while ports below it are only
 * ever taken by name.
 */
import { createServer } from 'node:net';

const PORT_MIN = 20_000;
const PORT_SPAN = 12_000;
const ATTEMPTS_MAX = 50;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt += 1) {
    const port = PORT_MIN + Math.floor(Math.random() * PORT_SPAN);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found between ${PORT_MIN} and ${PORT_MIN + PORT_SPAN}`);
}
