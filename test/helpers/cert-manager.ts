// Starts the built manager with its cert initializer on, in a scratch layout:
//
//   ROOT/secret/      the Secret volume where cert.pem appears (--cert-path)
//   ROOT/key/node.key the private key (--private-key-path)
//   ROOT/csr.pem      the CSR (--csr-path)
//   ROOT/state.json, ROOT/es.pids
//
// plus a TCP probe to tell an open port from a closed one.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FAKE_ES, startManager, tempDir, type RunningManager } from './manager.ts';

export interface CertLayout {
  readonly root: string;
  readonly secretDir: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly csrPath: string;
  readonly stateFile: string;
  /** Written by fake-es once it runs: its existence means the process was started. */
  readonly pidsFile: string;
}

export function certLayout(prefix = 'pm-certs-'): CertLayout {
  const root = tempDir(prefix);
  const secretDir = path.join(root, 'secret');
  fs.mkdirSync(secretDir);
  return {
    root,
    secretDir,
    certPath: path.join(secretDir, 'cert.pem'),
    keyPath: path.join(root, 'key', 'node.key'),
    csrPath: path.join(root, 'csr.pem'),
    stateFile: path.join(root, 'state.json'),
    pidsFile: path.join(root, 'es.pids'),
  };
}

export interface CertManagerOptions {
  readonly port?: number;
  readonly podIp?: string;
  /** Replace single flags, e.g. a --private-key-path that cannot be written. */
  readonly overrides?: Readonly<Record<string, string>>;
  readonly waitForApi?: boolean;
  /** Added to the manager's environment. */
  readonly env?: Readonly<Record<string, string>>;
}

export function startCertManager(layout: CertLayout, options: CertManagerOptions = {}): Promise<RunningManager> {
  const flags: Record<string, string> = {
    '--cmd': FAKE_ES,
    '--cert-path': layout.certPath,
    '--private-key-path': layout.keyPath,
    '--csr-path': layout.csrPath,
    '--port': String(options.port ?? 0),
    '--state-file': layout.stateFile,
    ...options.overrides,
  };
  return startManager({
    args: Object.entries(flags).flat(),
    env: { POD_IP: options.podIp, FAKE_ES_PIDS_FILE: layout.pidsFile, KEYSTORE_UPDATER: 'false', ...options.env },
    waitForApi: options.waitForApi,
  });
}

/** 'open' when something accepts a TCP connection on 127.0.0.1:port, 'refused' when nothing listens. */
export function probePort(port: number): Promise<'open' | 'refused'> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(5_000, () => socket.destroy(new Error(`connecting to port ${port} timed out`)));
    socket.once('connect', () => {
      socket.destroy();
      resolve('open');
    });
    socket.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNREFUSED' ? resolve('refused') : reject(error),
    );
  });
}
