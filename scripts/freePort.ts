/**
 * A TCP port on 127.0.0.1 that nothing listens on now: the kernel picks it for a listener that
 * is closed at once. For servers that this project starts itself (an embedded or private
 * Postgres, a private Redis), which must be told their port.
 */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}
