// Builds the PKCS#10 certificate signing request with @peculiar/x509 over
// WebCrypto (both exist under Node and Deno). The library, its ASN.1 stack and
// tsyringe are loaded here, on first use, so a manager whose cert initializer
// is off or whose certificate is already in place never evaluates them.
// The original sent an empty subject; we name the host so an operator (or
// openssl req -text) can tell whose request it is.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { installReflectMetadata } from './reflect-metadata.ts';

export interface CsrNames {
  /** CN and a DNS subject alternative name. */
  readonly hostname: string;
  /** An IP subject alternative name when set (the operator reaches the pod there). */
  readonly podIp?: string;
}

const RSA_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

type X509 = typeof import('@peculiar/x509');
let loaded: Promise<X509> | undefined;

async function loadX509(): Promise<X509> {
  // tsyringe checks for Reflect.getMetadata while x509 is being evaluated.
  installReflectMetadata();
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(globalThis.crypto);
  return x509;
}

/** The CSR in PEM, signed SHA-256 with privateKey (RSA). */
export async function createCsrPem(privateKey: KeyObject, names: CsrNames): Promise<string> {
  const x509 = await (loaded ??= loadX509());
  const { subtle } = globalThis.crypto;
  // WebCrypto imports only PKCS#8, whatever the file held (PKCS#1 included).
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const keys: CryptoKeyPair = {
    privateKey: await subtle.importKey('pkcs8', pkcs8, RSA_SHA256, false, ['sign']),
    publicKey: await subtle.importKey('spki', spki, RSA_SHA256, true, ['verify']),
  };
  const alternativeNames = [
    { type: 'dns' as const, value: names.hostname },
    ...(names.podIp ? [{ type: 'ip' as const, value: names.podIp }] : []),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    // The JSON form, not a string: a host name is then never parsed as DN syntax.
    name: [{ CN: [names.hostname] }],
    keys,
    signingAlgorithm: RSA_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension(alternativeNames)],
  });
  return csr.toString('pem') + '\n';
}
