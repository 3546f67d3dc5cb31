// HTTPS requests to the API with a chosen trust anchor and client identity,
// on a fresh connection each time (so a rotated server certificate is seen).

import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { createKeyAndCsr, createTestCa, type TestCa } from './openssl.ts';

export interface Identity {
  readonly keyPem: string;
  readonly certPem: string;
}

export interface TlsReply {
  readonly status: number;
  readonly json: any;
  readonly peerFingerprint: string;
}

/** A key and a certificate for it signed by ca; days: -1 gives one that has already expired. */
export function issue(ca: TestCa, dir: string, commonName: string, options: { days?: number } = {}): Identity {
  const { keyPem, csrPem } = createKeyAndCsr(dir, commonName);
  return { keyPem, certPem: ca.sign(csrPem, options) };
}

export interface MutualTlsFiles {
  readonly serverCa: TestCa;
  readonly clientCa: TestCa;
  /** --tls-cert, --tls-key and --tls-client-ca with their files. */
  readonly args: readonly string[];
}

/**
 * A server CA and a client CA under dir, and in tlsDir (created; dir by
 * default) the server's tls.crt and tls.key for localhost and the client CA
 * as client-ca.crt: what a Pod mounts from its Secret.
 */
export function mutualTlsFiles(dir: string, tlsDir = dir): MutualTlsFiles {
  const serverCa = createTestCa(path.join(dir, 'server-ca'));
  const clientCa = createTestCa(path.join(dir, 'client-ca'));
  const server = issue(serverCa, path.join(dir, 'issued'), 'localhost');
  fs.mkdirSync(tlsDir, { recursive: true });
  fs.writeFileSync(path.join(tlsDir, 'tls.crt'), server.certPem);
  fs.writeFileSync(path.join(tlsDir, 'tls.key'), server.keyPem);
  fs.writeFileSync(path.join(tlsDir, 'client-ca.crt'), clientCa.certPem);
  const args = [
    '--tls-cert',
    path.join(tlsDir, 'tls.crt'),
    '--tls-key',
    path.join(tlsDir, 'tls.key'),
    '--tls-client-ca',
    path.join(tlsDir, 'client-ca.crt'),
  ];
  return { serverCa, clientCa, args };
}

export function tlsRequest(
  port: number,
  route: string,
  options: { method?: string; trust: string; client?: Identity },
): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path: route,
        method: options.method ?? 'GET',
        ca: options.trust,
        cert: options.client?.certPem,
        key: options.client?.keyPem,
        agent: false,
        timeout: 30_000,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk) => (text += chunk));
        response.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          const peer = (response.socket as import('node:tls').TLSSocket).getPeerCertificate();
          resolve({ status: response.statusCode ?? 0, json, peerFingerprint: peer.fingerprint256 });
        });
      },
    );
    request.on('error', reject);
    request.end();
  });
}
