/** The API's error body (reference §9.1, the wrapped form). */
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
