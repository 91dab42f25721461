/**
 * A `fetch` for the SDK that records every response it receives, with its body as sent (plain
 * JSON.parse), so that a test can validate the wire bodies the SDK itself only sees parsed.
 */
export interface Recorded {
  method: string;
  path: string;
  status: number;
  body: unknown;
}

export function recordingFetch(
  recorded: Recorded[],
): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const response = await fetch(input, init);
    const text = await response.clone().text();
    const url = new URL(input instanceof Request ? input.url : String(input));
    recorded.push({
      method: (init?.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      status: response.status,
      body: text ? JSON.parse(text) : undefined,
    });
    return response;
  };
}
