// Cert initializer: makes the node's private key and CSR, serves the CSR, and
// waits for the signed certificate before Elasticsearch may start.
//
//   key + valid matching certificate on disk -> ready at once (no port opened)
//   otherwise: key (kept, or generated) -> CSR file -> GET /csr on --port
//              -> watch and poll --cert-path -> close the port -> ready
//
// The work runs in the background so the API can answer (503 on start,
// /health saying why) while it goes on; `ready` carries the outcome.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import os from 'node:os';
import type { CertificatesState, CertificatesStatus } from './status.ts';
import type { CertInitializerConfig } from '../config/config.ts';
import { configError, StartupError } from '../config/errors.ts';
import { EXIT } from '../config/options.ts';
import type { Logger } from '../log/logger.ts';
import { writeFileAtomic } from '../files/atomic-write.ts';
import { checkCertificate } from './certificate-check.ts';
import { createCsrPem } from './csr.ts';
import { serveCsr, type CsrServer } from './csr-server.ts';
import { generatePrivateKey, looseKeyMode, readPrivateKey } from './private-key.ts';
import { waitForCertificate, type AcceptedCertificate, type RejectedCertificate } from './wait-for-certificate.ts';
import { trackRepeats } from '../log/repeats.ts';
import { monotonicMs } from '../clock/clock.ts';

export type { CertificatesState, CertificatesStatus } from './status.ts';

export interface CertInitializer {
  /** Resolves once a valid certificate matching the key is in place; rejects with a StartupError when it never can be (78 for configuration, 70 for anything unexpected); stays pending after close(). */
  readonly ready: Promise<void>;
  /** Why the process may not start yet; undefined once ready. */
  blockedReason(): string | undefined;
  status(): CertificatesStatus;
  close(): Promise<void>;
}

export interface CertDeps {
  readonly log: Logger;
  /** Where POD_IP is read; process.env by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

// Only while bootstrapping; the directory watch usually answers first.
const POLL_MS = 2_000;
const CSR_FILE_MODE = 0o644;
const CSR_DIRECTORY_MODE = 0o755;

export async function createCertInitializer(config: CertInitializerConfig, deps: CertDeps): Promise<CertInitializer> {
  const { log } = deps;
  const abort = new AbortController();
  let state: CertificatesState = 'waiting';
  let reason = 'looking for an existing key and certificate';
  let since = new Date().toISOString();
  /** The same moment on the monotonic clock, for how long the state has lasted. */
  let sinceMs = monotonicMs();
  let notAfter: string | undefined;
  let server: CsrServer | undefined;

  const enter = (to: CertificatesState, why: string): void => {
    if (to !== state) {
      since = new Date().toISOString();
      sinceMs = monotonicMs();
    }
    state = to;
    reason = why;
  };

  const serveUntilCertified = async (
    key: KeyObject,
    publicKeyDer: Buffer,
    podIp: string | undefined,
  ): Promise<AcceptedCertificate> => {
    const pem = await createCsrPem(key, { hostname: os.hostname(), podIp });
    // The default --csr-path sits beside --cert-path, inside a Secret volume that
    // the kubelet mounts read-only: the file is a convenience, GET /csr is the contract.
    await writeFileAtomic(config.csrPath, pem, { mode: CSR_FILE_MODE, directoryMode: CSR_DIRECTORY_MODE }).then(
      () =>
        log.info(`CSR written to ${config.csrPath}`, { 'event.action': 'csr-written', 'file.path': config.csrPath }),
      (error: Error) =>
        log.warn(
          `--csr-path ${config.csrPath}: cannot write the CSR (${error.message}); it is still served at GET /csr`,
          { 'event.action': 'csr-written', 'file.path': config.csrPath },
        ),
    );
    abort.signal.throwIfAborted();

    // The first fetch is news for the operator; the rest (a flood, a retry loop) would flood the log.
    let served = 0;
    server = await serveCsr(pem, config.port, (client) =>
      (served++ === 0 ? log.info : log.debug)(`CSR fetched by ${client}`, {
        'event.action': 'csr-served',
        'client.address': client,
      }),
    ).catch((error: Error) => {
      throw configError(`--port ${config.port}: cannot serve the CSR: ${error.message}`);
    });
    log.info(`serving the CSR at GET /csr on port ${server.port}`, {
      'event.action': 'csr-listening',
      'server.port': server.port,
    });
    enter('waiting', `no certificate at ${config.certPath} yet; the CSR is served on port ${server.port}`);

    const reported = trackRepeats<string>();
    const accepted = await waitForCertificate({
      certPath: config.certPath,
      publicKeyDer,
      pollMs: POLL_MS,
      signal: abort.signal,
      onRejected: (verdict: RejectedCertificate) => {
        enter('waiting', verdict.reason);
        // Each distinct problem is logged once; the poll would repeat it every 2 s.
        if (verdict.missing || !reported.isNew(verdict.reason)) return;
        log.warn(`certificate ignored: ${verdict.reason}`, {
          'event.action': 'certificate-rejected',
          'file.path': config.certPath,
        });
      },
      onWatchFailed: (error) =>
        log.warn(`cannot watch for ${config.certPath} (${error.message}); polling every ${POLL_MS / 1000} s`, {
          'event.action': 'certificate-watch',
        }),
    });
    await closeServer();
    log.info(`CSR port closed`, { 'event.action': 'csr-closed' });
    return accepted;
  };

  const closeServer = async (): Promise<void> => {
    const closing = server;
    server = undefined;
    await closing?.close();
  };

  const initialize = async (): Promise<void> => {
    // Checked first: a wrong value is a configuration error whether or not a CSR is needed this time.
    const podIp = podIpFrom(deps.env ?? process.env);
    const existingKey = await readPrivateKey(config.privateKeyPath);
    if (existingKey) {
      const mode = await looseKeyMode(config.privateKeyPath);
      if (mode)
        log.warn(`${config.privateKeyPath} has mode ${mode}; others than its owner can read the private key`, {
          'event.action': 'private-key-mode',
        });
      const verdict = await checkCertificate(config.certPath, publicKeyDerOf(existingKey));
      if (verdict.ok) return becomeReady(verdict, 'reused');
      log.info(`keeping the existing private key at ${config.privateKeyPath}; ${verdict.reason}`, {
        'event.action': 'private-key-reused',
      });
    }
    abort.signal.throwIfAborted();
    enter('waiting', existingKey ? 'making the CSR' : 'generating the private key');
    const key = existingKey ?? (await generatePrivateKey(config.privateKeyPath));
    if (!existingKey)
      log.info(`generated an RSA 2048 private key at ${config.privateKeyPath}`, {
        'event.action': 'private-key-generated',
        'file.path': config.privateKeyPath,
      });
    abort.signal.throwIfAborted();
    becomeReady(await serveUntilCertified(key, publicKeyDerOf(key), podIp), 'accepted');
  };

  const becomeReady = (certificate: AcceptedCertificate, how: 'reused' | 'accepted'): void => {
    notAfter = certificate.notAfter.toISOString();
    enter(
      'ready',
      `${how === 'reused' ? 'existing' : 'signed'} certificate ${certificate.subject} matches the private key, valid until ${notAfter}`,
    );
    log.info(`certificate ${how}: ${reason}`, { 'event.action': `certificate-${how}`, 'file.path': config.certPath });
  };

  const running = initialize();
  const ready = running.catch(async (error: unknown) => {
    await closeServer();
    // close() was called: the manager is exiting, nobody is left to start.
    if (abort.signal.aborted) return new Promise<void>(() => {});
    if (!(error instanceof StartupError))
      log.error(`cert initializer failed: ${(error as Error).stack ?? String(error)}`, {
        'event.action': 'cert-initializer-error',
      });
    // Anything unexpected exits 70, so Kubernetes restarts the container instead of it waiting forever.
    const failure =
      error instanceof StartupError
        ? error
        : new StartupError(`cert initializer failed: ${(error as Error).message ?? String(error)}`, EXIT.INTERNAL);
    enter('failed', failure.message);
    throw failure;
  });
  // main awaits `ready` only after the API is up; an early failure must not count as unhandled meanwhile.
  ready.catch(() => {});

  return {
    ready,
    blockedReason: () => {
      if (state === 'ready') return undefined;
      // Answered to API clients, so no file path: GET /health and the log say which file.
      if (state === 'failed') return 'the cert initializer failed; see GET /health and the log';
      return 'waiting for the signed certificate (--cert-path)';
    },
    status: () => ({
      state,
      reason,
      csrPath: config.csrPath,
      certPath: config.certPath,
      ...(server ? { port: server.port } : {}),
      ...(notAfter ? { notAfter } : {}),
      since,
      forMs: Math.round(monotonicMs() - sinceMs),
    }),
    close: async () => {
      abort.abort();
      await running.catch(() => {});
      await closeServer();
    },
  };
}

function publicKeyDerOf(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
}

function podIpFrom(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const podIp = env.POD_IP?.trim();
  if (!podIp) return undefined;
  if (isIP(podIp) === 0)
    throw configError(
      `POD_IP ${JSON.stringify(podIp)}: not an IP address (expected the pod's IPv4 or IPv6 address, e.g. from fieldRef status.podIP)`,
    );
  return podIp;
}
