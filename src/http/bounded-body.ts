// An answer's body read whole, up to a cap: a peer that sends more (a broken
// proxy, a hostile endpoint) never makes the manager hold it in memory.

import { Buffer } from 'node:buffer';

/** A body as undici and node:http give it: chunks, and a way to stop reading. */
export type Body = AsyncIterable<Buffer> & { destroy(): unknown };

/** The body as text, or undefined once it passes maxBytes (then the rest is never read). */
export async function readBoundedBody(body: Body, maxBytes: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
