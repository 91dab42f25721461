/**
 * What the fuzzer demands of the answer to a malformed request: a 4xx whose body is an Orb RFC 7807
 * problem document (`application/problem+json`, a known Orb `type` URI whose status is the HTTP
 * status, a title, a detail, `validation_errors` for request validation), matching Orb's published
 * `<status>Error` schema where it has one. Ingest answers 200 with refused events listed one by
 * one, so there every event sent must be listed. Answers the problem with the answer, or undefined.
 */
import { ERROR_TYPES } from '../../../api/errors.ts';
import { validateSchema } from '../openApiValidator.ts';
import type { RawResponse } from './rawRequest.ts';
import type { MalformedRequest } from './malformedRequests.ts';

const TYPE_STATUS = new Map<string, number>(
  Object.values(ERROR_TYPES).map(({ type, status }) => [type, status]),
);
/** Orb's subset has these `<status>Error` schemas; others (url_not_found's 404 is one) are checked by shape only. */
const ORB_ERROR_SCHEMAS = new Set([400, 401, 404, 409, 413, 429]);

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function problemShape(response: RawResponse): string | undefined {
  if (!response.contentType.startsWith('application/problem+json'))
    return `content-type is ${response.contentType || 'missing'}, not application/problem+json`;
  const body = parse(response.text) as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') return 'the body is not a JSON object';
  const status = TYPE_STATUS.get(String(body.type));
  if (status === undefined) return `type ${String(body.type)} is not one of Orb's error types`;
  if (body.status !== response.status)
    return `body.status ${String(body.status)} differs from the HTTP status`;
  if (typeof body.title !== 'string' || body.title === '') return 'title is missing';
  if (body.detail !== null && typeof body.detail !== 'string')
    return 'detail is neither a string nor null';
  if (
    body.type === ERROR_TYPES.request_validation.type &&
    !(
      Array.isArray(body.validation_errors) &&
      body.validation_errors.every((item) => typeof item === 'string')
    )
  ) {
    return 'a request validation error without validation_errors';
  }
  if (ORB_ERROR_SCHEMAS.has(response.status) && body.type !== ERROR_TYPES.url_not_found.type) {
    const errors = validateSchema(`${response.status}Error`, body);
    if (errors.length > 0)
      return `does not match Orb's ${response.status}Error schema: ${errors.slice(0, 3).join('; ')}`;
  }
  return undefined;
}

export function checkResponse(
  request: MalformedRequest,
  response: RawResponse,
): string | undefined {
  if (response.transportError) return `no HTTP answer: ${response.transportError}`;
  if (response.status >= 500) return `server error ${response.status}`;
  if (request.events !== undefined && response.status === 200) {
    const failed = (parse(response.text) as { validation_failed?: unknown[] } | undefined)
      ?.validation_failed;
    if (!Array.isArray(failed)) return 'ingest answered 200 without validation_failed';
    return failed.length === request.events
      ? undefined
      : `ingest accepted ${request.events - failed.length} of ${request.events} malformed events`;
  }
  if (response.status < 400) return `accepted with ${response.status}`;
  const shape = problemShape(response);
  return shape ? `${response.status} is not an RFC 7807 problem: ${shape}` : undefined;
}
