// The other side of the cert initializer, played by the real openssl: a test
// CA that signs CSRs, keys and CSRs made independently of our code, and
// readers that turn keys, requests and certificates into comparable public keys.

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface OpensslResult {
  readonly status: number | null;
  /** stdout and stderr together: openssl reports verification results on stderr. */
  readonly output: string;
}

export function openssl(args: readonly string[], input?: string): OpensslResult {
  const result = spawnSync('openssl', args, { input, encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

export interface TestCa {
  readonly keyPath: string;
  readonly certPath: string;
  readonly certPem: string;
  /** Signs a PEM CSR, copying its extensions (the SANs), and returns the certificate PEM. days < 0 gives an expired one. */
  sign(csrPem: string, options?: { days?: number }): string;
}

export function createTestCa(dir: string): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  const keyPath = path.join(dir, 'ca.key');
  const certPath = path.join(dir, 'ca.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-subj',
      '/CN=process-manager test CA',
      '-days',
      '2',
    ],
    {
      stdio: 'ignore',
    },
  );
  return {
    keyPath,
    certPath,
    certPem: fs.readFileSync(certPath, 'utf8'),
    sign(csrPem, { days = 1 } = {}) {
      const id = randomBytes(6).toString('hex');
      const csrFile = path.join(dir, `${id}.csr`);
      const certFile = path.join(dir, `${id}.crt`);
      fs.writeFileSync(csrFile, csrPem);
      const args = [
        'x509',
        '-req',
        '-in',
        csrFile,
        '-CA',
        certPath,
        '-CAkey',
        keyPath,
        '-set_serial',
        `0x${id}`,
        '-days',
        String(days),
        '-copy_extensions',
        'copy',
        '-out',
        certFile,
      ];
      execFileSync('openssl', args, { stdio: 'ignore' });
      return fs.readFileSync(certFile, 'utf8');
    },
  };
}

/** An RSA key and a CSR for it, made by openssl alone. traditional: PKCS#1 ("BEGIN RSA PRIVATE KEY") instead of PKCS#8. */
export function createKeyAndCsr(
  dir: string,
  commonName: string,
  options: { traditional?: boolean } = {},
): { keyPath: string; keyPem: string; csrPem: string } {
  fs.mkdirSync(dir, { recursive: true });
  const id = randomBytes(6).toString('hex');
  const keyPath = path.join(dir, `${id}.key`);
  const genrsa = ['genrsa', ...(options.traditional ? ['-traditional'] : []), '-out', keyPath, '2048'];
  execFileSync('openssl', genrsa, { stdio: 'ignore' });
  const csrPem = execFileSync('openssl', ['req', '-new', '-key', keyPath, '-subj', `/CN=${commonName}`], {
    encoding: 'utf8',
  });
  return { keyPath, keyPem: fs.readFileSync(keyPath, 'utf8'), csrPem };
}

/** The SubjectPublicKeyInfo PEM of a private key, CSR or certificate, as openssl reads it. */
export function publicKeyOf(kind: 'key' | 'csr' | 'cert', pem: string): string {
  const args = { key: ['pkey', '-pubout'], csr: ['req', '-pubkey', '-noout'], cert: ['x509', '-pubkey', '-noout'] }[
    kind
  ];
  const result = openssl(args, pem);
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.output}`);
  return result.output.trim();
}

/** The same CSR with one bit of its signature flipped, for negative controls. */
export function corruptSignature(csrPem: string): string {
  const base64 = csrPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const der = Buffer.from(base64, 'base64');
  der[der.length - 1] ^= 0x01;
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}
