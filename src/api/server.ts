// Serves the API app over HTTP with Node's server (Deno runs it through its
// node:http compatibility).

import { createAdaptorServer } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';

export interface ApiServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function serveApi(app: Hono, options: { host: string; port: number }): Promise<ApiServer> {
  const server = createAdaptorServer({ fetch: app.fetch, hostname: options.host, port: options.port });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
