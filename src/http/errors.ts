// Errors leave the API in Elasticsearch's shape, so the same tooling reads
// both: {"error":{"type":"...","reason":"..."},"status":N}. The reason is
// written for the operator and never carries a stack trace or a file path.

type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 409 | 413 | 500 | 503;

// Fields declared apart, not as parameter properties: Node runs the sources with type stripping only (the in-process tests).
export class ApiError extends Error {
  readonly status: ErrorStatus;
  readonly type: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: ErrorStatus, type: string, reason: string, headers: Readonly<Record<string, string>> = {}) {
    super(reason);
    this.status = status;
    this.type = type;
    this.headers = headers;
  }
}

export function errorBody(status: number, type: string, reason: string) {
  return { error: { type, reason }, status };
}
