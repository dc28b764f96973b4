/** The API's error bodies, as the emulator answers them (reference §9.1 and §14). */

/** The wrapped form (google.rpc style), as the Beta Batch page and the Conversation API show it. */
export interface ApiErrorBody {
  error: {
    code: number;
    message: string;
    status: string;
    details: Array<Record<string, unknown>>;
  };
}

export interface FieldViolation {
  field: string;
  description: string;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  408: 'DEADLINE_EXCEEDED',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export function apiErrorBody(code: number, message: string, violations?: readonly FieldViolation[]): ApiErrorBody {
  const details: Array<Record<string, unknown>> = [];
  if (violations !== undefined && violations.length > 0) {
    details.push({ '@type': 'type.googleapis.com/google.rpc.BadRequest', field_violations: violations });
  }
  return { error: { code, message, status: STATUS_NAMES[code] ?? 'UNKNOWN', details } };
}

/**
 * An expired token as Sinch's error registry documents it: RFC 7807 (`application/problem+json`)
 * of type `access-token-expired`, sent with `WWW-Authenticate: Basic realm="Realm"` — no word
 * "expired" in the header, which is all the SDKs look at.
 */
export function expiredTokenProblem(instance: string): Record<string, unknown> {
  return {
    type: 'https://developers.sinch.com/docs/errors/registry/access-token-expired',
    title: 'Access token expired',
    status: 401,
    detail: 'The access token has expired. Request a new one.',
    instance,
  };
}
