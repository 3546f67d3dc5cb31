// Just enough of the Fetch API's Headers, Request and Response for Hono as
// this API uses it: text bodies, no streams, no request bodies. build.mjs
// injects these in place of the globals, in the bundle only. Node's own
// classes load its internal undici, http2 and zlib on first use, for a
// handful of tiny JSON answers: in the manager that was 1.8 MiB of private
// memory and 3.4 MiB of resident memory (test/bench, issue 8). Deno runs the
// source unbundled and keeps its native classes; node-bridge.ts works with
// either.

type HeaderValues = string | readonly string[] | undefined;
type HeadersInit = Headers | Readonly<Record<string, HeaderValues>> | Iterable<readonly [string, string]>;

export class Headers {
  readonly #values = new Map<string, string[]>();

  constructor(init?: HeadersInit) {
    if (init === undefined) return;
    if (init instanceof Headers) {
      for (const [name, values] of init.#values) this.#values.set(name, [...values]);
    } else if (Symbol.iterator in init) {
      for (const [name, value] of init as Iterable<readonly [string, string]>) this.append(name, value);
    } else {
      for (const [name, value] of Object.entries(init as Record<string, HeaderValues>)) {
        if (value === undefined) continue;
        for (const one of typeof value === 'string' ? [value] : value) this.append(name, one);
      }
    }
  }

  get(name: string): string | null {
    return this.#values.get(name.toLowerCase())?.join(', ') ?? null;
  }

  getSetCookie(): string[] {
    return [...(this.#values.get('set-cookie') ?? [])];
  }

  has(name: string): boolean {
    return this.#values.has(name.toLowerCase());
  }

  set(name: string, value: string): void {
    this.#values.set(name.toLowerCase(), [String(value)]);
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const values = this.#values.get(key);
    if (values) values.push(String(value));
    else this.#values.set(key, [String(value)]);
  }

  delete(name: string): void {
    this.#values.delete(name.toLowerCase());
  }

  forEach(callback: (value: string, name: string, headers: Headers) => void): void {
    for (const [name, value] of this) callback(value, name, this);
  }

  /** Sorted by name, Set-Cookie one entry per cookie, as the Fetch standard iterates. */
  *entries(): IterableIterator<[string, string]> {
    for (const name of [...this.#values.keys()].sort()) {
      if (name === 'set-cookie') for (const cookie of this.#values.get(name) ?? []) yield [name, cookie];
      else yield [name, this.get(name) ?? ''];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

interface RequestInit {
  readonly method?: string;
  readonly headers?: HeadersInit;
}

/** A request as the router sees it: the API takes no bodies (app.ts refuses them), so none is carried. */
export class Request {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly body = null;
  readonly bodyUsed = false;

  constructor(input: string | Request, init: RequestInit = {}) {
    this.url = typeof input === 'string' ? input : input.url;
    this.method = (init.method ?? (typeof input === 'string' ? 'GET' : input.method)).toUpperCase();
    this.headers = new Headers(init.headers ?? (typeof input === 'string' ? undefined : input.headers));
  }

  async text(): Promise<string> {
    throw new TypeError('request bodies are not read by this API');
  }
}

/** Hono's c.json and c.text give strings; nothing in this API streams. */
type BodyInit = string | null;

interface ResponseInit {
  readonly status?: number;
  readonly statusText?: string;
  readonly headers?: HeadersInit;
}

export class Response {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  /** The body as given: Hono copies a response by passing `res.body` back in. */
  readonly body: BodyInit;
  bodyUsed = false;

  constructor(body: BodyInit | undefined = null, init: ResponseInit = {}) {
    this.status = init.status ?? 200;
    if (!Number.isInteger(this.status) || this.status < 200 || this.status > 599)
      throw new RangeError(`invalid response status ${this.status}`);
    this.statusText = init.statusText ?? '';
    this.headers = new Headers(init.headers);
    if (body !== null && typeof body !== 'string') throw new TypeError('only text bodies are supported (fetch-lite)');
    this.body = body;
    if (typeof body === 'string' && !this.headers.has('content-type'))
      this.headers.set('content-type', 'text/plain;charset=UTF-8');
  }

  async text(): Promise<string> {
    this.bodyUsed = true;
    return this.body ?? '';
  }
}
