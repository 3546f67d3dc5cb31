// Puts src/http/fetch-lite.ts's classes in place of the Fetch API globals, as
// build.mjs's `inject` does in the bundle, so an in-process test runs Hono on
// exactly what the executable gives it. Import this before anything that
// loads Hono. Responses and requests are strict: reading a member that
// fetch-lite lacks throws at once, where the bundle would read undefined and
// misbehave quietly (a Hono upgrade that starts using one shows up here).

import * as lite from '../../src/http/fetch-lite.ts';

/** `await` probes any value for a `then`; that read is not a use. */
const PROBES = new Set(['then']);

function strict<T extends object>(instance: T, kind: string): T {
  return new Proxy(instance, {
    get(target, member, receiver) {
      if (typeof member === 'string' && !(member in target) && !PROBES.has(member)) {
        throw new TypeError(
          `fetch-lite's ${kind} has no member '${member}', which Hono reads: add it to src/http/fetch-lite.ts`,
        );
      }
      return Reflect.get(target, member, receiver);
    },
  });
}

class StrictRequest extends lite.Request {
  constructor(...args: ConstructorParameters<typeof lite.Request>) {
    super(...args);
    // biome-ignore lint/correctness/noConstructorReturn: `new` must give the proxy that refuses what fetch-lite lacks
    return strict(this, 'Request');
  }
}

class StrictResponse extends lite.Response {
  constructor(...args: ConstructorParameters<typeof lite.Response>) {
    super(...args);
    // biome-ignore lint/correctness/noConstructorReturn: `new` must give the proxy that refuses what fetch-lite lacks
    return strict(this, 'Response');
  }
}

Object.assign(globalThis, { Headers: lite.Headers, Request: StrictRequest, Response: StrictResponse });

/** A request as node-bridge.ts makes one, typed as the global Hono expects. */
export function liteRequest(url: string, init: { method: string; headers: [string, string][] }): globalThis.Request {
  return new StrictRequest(url, init) as unknown as globalThis.Request;
}
