/**
 * One delivery attempt: POST the body to the endpoint and report what came back. A 2xx is
 * delivered; anything else (another status, a redirect, which is never followed, a timeout, a
 * refused address, a network error) is a failed attempt with its reason.
 *
 * The address check happens on the address actually connected to, at each attempt: the hostname
 * is resolved here (node:http's `lookup` hook), the address checked, and the connection made to
 * that very address, so a name that resolved to a public address when the endpoint was created
 * and to 127.0.0.1 now (DNS rebinding) is refused. The Host header and TLS server name stay the
 * URL's. An IP literal in the URL skips `lookup` and is checked directly.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { isPrivateAddress } from '../runtime/privateAddress.ts';

/** What is read of a receiver's answer before it is dropped: its body means nothing to us. */
const RESPONSE_BYTES_MAX = 64 * 1024;

export interface PostOptions {
  timeoutMs: number;
  allowPrivate: boolean;
  /** Aborts the attempt (the loop is closing). */
  signal?: AbortSignal;
}

export interface PostResult {
  ok: boolean;
  responseCode: number | null;
  latencyMs: number;
  error: string | null;
}

class RefusedAddressError extends Error {}

function refusal(address: string): RefusedAddressError {
  return new RefusedAddressError(`refused: ${address} is a private or loopback address`);
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

function checkedLookup(allowPrivate: boolean) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
    dnsLookup(hostname, { all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const chosen = addresses[0];
      if (!chosen) return callback(new Error(`no address for ${hostname}`), '');
      if (!allowPrivate && isPrivateAddress(chosen.address))
        return callback(refusal(chosen.address), '');
      if (options.all) return callback(null, [chosen]);
      return callback(null, chosen.address, chosen.family);
    });
  };
}

export function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  options: PostOptions,
): Promise<PostResult> {
  const started = performance.now();
  const finish = (responseCode: number | null, error: string | null): PostResult => ({
    ok: error === null,
    responseCode,
    latencyMs: performance.now() - started,
    error,
  });
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve(finish(null, 'invalid URL'));
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    return Promise.resolve(finish(null, `unsupported scheme ${target.protocol}`));
  const literal = target.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && !options.allowPrivate && isPrivateAddress(literal))
    return Promise.resolve(finish(null, refusal(literal).message));
  const signals = [AbortSignal.timeout(options.timeoutMs)];
  if (options.signal) signals.push(options.signal);
  const signal = AbortSignal.any(signals);
  return new Promise((resolve) => {
    const client = target.protocol === 'https:' ? https : http;
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'credits-ledger-webhooks',
        },
        lookup: checkedLookup(options.allowPrivate) as never,
        signal,
      },
      (response) => {
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > RESPONSE_BYTES_MAX) response.destroy();
        });
        const status = response.statusCode ?? 0;
        const done = () => {
          if (status >= 200 && status < 300) resolve(finish(status, null));
          else if (status >= 300 && status < 400)
            resolve(finish(status, `redirect not followed (HTTP ${status})`));
          else resolve(finish(status, `HTTP ${status}`));
        };
        response.on('end', done);
        response.on('close', done);
        response.on('error', done);
      },
    );
    request.on('error', (error) => {
      if (signal.aborted && !(options.signal?.aborted ?? false))
        resolve(finish(null, `timed out after ${options.timeoutMs} ms`));
      else if (options.signal?.aborted) resolve(finish(null, 'aborted: delivery closing'));
      else resolve(finish(null, error.message));
    });
    request.end(body);
  });
}
