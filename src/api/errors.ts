// Errors leave the API in Elasticsearch's shape, so the same tooling reads
// both: {"error":{"type":"...","reason":"..."},"status":N}. The reason is
// written for the operator and never carries a stack trace or a file path.

export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 500 | 503,
    readonly type: string,
    reason: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(reason);
  }
}

export function errorBody(status: number, type: string, reason: string) {
  return { error: { type, reason }, status };
}
