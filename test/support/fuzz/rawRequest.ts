/**
 * One HTTP request exactly as the fuzzer wants it sent: any method, an already-encoded path, any
 * headers, and the body as raw text (broken JSON and all). Keep-alive node:http, since fetch costs
 * several times more CPU per request and the service shares the machine. Never throws for an HTTP
 * answer; a transport failure (reset socket) is reported as status 0.
 */
import { Agent, request } from 'node:http';

export interface RawRequest {
  method: string;
  /** Path and query, percent-encoded as it should go on the wire. */
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface RawResponse {
  status: number;
  contentType: string;
  text: string;
  /** Set when the request failed below HTTP (socket reset, refused). */
  transportError?: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export function rawRequest(baseUrl: string, outgoing: RawRequest): Promise<RawResponse> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...outgoing.headers };
    if (outgoing.body !== undefined) headers['content-length'] = Buffer.byteLength(outgoing.body);
    let sent;
    try {
      sent = request(
        `${baseUrl}${outgoing.path}`,
        { method: outgoing.method, agent, headers },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              contentType: String(response.headers['content-type'] ?? ''),
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          response.on('error', (error) =>
            resolve({ status: 0, contentType: '', text: '', transportError: error.message }),
          );
        },
      );
    } catch (error) {
      // node:http refuses some requests before sending (invalid header characters): a fuzzer bug.
      resolve({
        status: 0,
        contentType: '',
        text: '',
        transportError: `not sent: ${(error as Error).message}`,
      });
      return;
    }
    sent.on('error', (error) =>
      resolve({ status: 0, contentType: '', text: '', transportError: error.message }),
    );
    sent.end(outgoing.body);
  });
}
