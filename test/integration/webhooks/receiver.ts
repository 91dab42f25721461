/**
 * A real HTTP receiver for the webhook tests: node:http on 127.0.0.1, recording every request
 * (raw body and headers) and answering as the test says: 200, an error status, a redirect, or
 * nothing at all (a hang, for the timeout).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Orb from 'orb-billing';

export interface Received {
  body: string;
  headers: Record<string, string>;
  event: { id: string; type: string; properties: Record<string, unknown> } & Record<
    string,
    unknown
  >;
  path: string;
  /** What this receiver answered. */
  answered?: Answer;
}

export type Answer = { status: number; location?: string } | 'hang';

export class Receiver {
  readonly received: Received[] = [];
  /** Decides each answer; 200 unless set. */
  answer: (request: Received) => Answer = () => ({ status: 200 });
  private readonly server: http.Server;
  url = '';

  private constructor(server: http.Server) {
    this.server = server;
  }

  static async start(): Promise<Receiver> {
    const server = http.createServer();
    const receiver = new Receiver(server);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const received: Received = {
          body,
          headers: Object.fromEntries(
            Object.entries(request.headers).map(([key, value]) => [key, String(value)]),
          ),
          event: body.startsWith('{') ? JSON.parse(body) : {},
          path: request.url ?? '',
        };
        receiver.received.push(received);
        const answer = receiver.answer(received);
        received.answered = answer;
        if (answer === 'hang') return;
        response.writeHead(answer.status, answer.location ? { location: answer.location } : {});
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    return receiver;
  }

  /** The events answered 2xx (by this receiver's own rule), in arrival order. */
  delivered(): Received[] {
    return this.received.filter((one) => {
      const answer = one.answered;
      return (
        answer !== undefined && answer !== 'hang' && answer.status >= 200 && answer.status < 300
      );
    });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const sdk = new Orb({ apiKey: 'unused' });

/** What the official SDK's `unwrap` makes of a delivery (it throws on a bad signature). */
export function unwrap(received: Received, secret: string): unknown {
  return sdk.webhooks.unwrap(received.body, received.headers, secret);
}
