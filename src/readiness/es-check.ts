// How the manager asks whether Elasticsearch itself answers, once per check:
// `http` asks GET / on ENDPOINT as the keystore updater would (its CA, its
// credentials), as ECK's readiness script did with curl; `tcp` only connects
// to ES 8.2+'s readiness.port, which ES opens while the node is ready; `none`
// asks nothing. Nothing is spawned: a probe is a request from this process.

import net from 'node:net';
import type { KeystoreConfig, ReadyCheck } from '../config/config.ts';
import type { CheckResult, EsCheck } from './check.ts';
import { httpCheck } from './http-check.ts';

export type { CheckResult, EsCheck } from './check.ts';

/** What a ready answer says when the check does not say otherwise: `http`'s, ES answered `GET /`. */
export const ANSWERS = 'is started and answers';

/** `--ready-check none`: the process state alone decides. */
export const NO_CHECK: EsCheck = {
  run: async () => ({ ok: true }),
  close: async () => {},
  readyMessage: 'is started (Elasticsearch itself is not asked: --ready-check none)',
};

export function createEsCheck(check: ReadyCheck, es: KeystoreConfig, timeoutMs: number): EsCheck {
  switch (check.kind) {
    case 'none':
      return NO_CHECK;
    case 'tcp':
      return {
        run: () => connectOnce(check.port, timeoutMs),
        close: async () => {},
        readyMessage: `is started and its readiness port ${check.port} accepts connections`,
      };
    case 'http':
      return httpCheck(es, timeoutMs);
  }
}

function notAnswering(summary: string, detail = summary): CheckResult {
  return { ok: false, summary, detail };
}

function connectOnce(port: number, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (result: CheckResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => done(notAnswering(`port ${port} did not accept a connection within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('connect', () => done({ ok: true }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(
        notAnswering(
          error.code === 'ECONNREFUSED'
            ? `nothing listens on port ${port} (ES opens readiness.port once the node is ready)`
            : `port ${port}: ${error.code ?? error.message}`,
        ),
      ),
    );
  });
}
