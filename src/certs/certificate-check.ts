// Decides whether the file at --cert-path holds a certificate Elasticsearch
// can use with our key: some certificate in it (leaf plus CA is the usual
// chain) carries the key's public key and is valid now. The original checked
// the key match but never the dates.

import { X509Certificate } from 'node:crypto';
import { describeReadError, MiB, readBoundedFile } from '../files/bounded-read.ts';
import { errnoCode } from '../files/errno.ts';

export type CertificateVerdict =
  | { readonly ok: true; readonly subject: string; readonly notAfter: Date }
  /** missing: nothing there yet, which is the normal state while waiting, not a problem to report. */
  | { readonly ok: false; readonly missing: boolean; readonly reason: string };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
/** A leaf and its chain are a few KiB. */
const MAX_CERTIFICATE_FILE_BYTES = MiB;

export async function checkCertificate(
  file: string,
  publicKeyDer: Buffer,
  now: Date = new Date(),
): Promise<CertificateVerdict> {
  let text: string;
  try {
    text = (await readBoundedFile(file, { maxBytes: MAX_CERTIFICATE_FILE_BYTES })).toString('utf8');
  } catch (error) {
    const code = errnoCode(error);
    // ENOENT: not issued yet, or read during a Secret's ..data swap; either way, look again later.
    if (code === 'ENOENT') return { ok: false, missing: true, reason: `no certificate at ${file} yet` };
    return { ok: false, missing: false, reason: `cannot read ${file}: ${describeReadError(error)}` };
  }
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0)
    return { ok: false, missing: text.trim() === '', reason: `${file} holds no PEM certificate` };

  const problems: string[] = [];
  for (const [index, block] of blocks.entries()) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(block);
    } catch (error) {
      problems.push(`certificate ${index + 1} cannot be parsed (${(error as Error).message})`);
      continue;
    }
    const subject = oneLine(certificate.subject);
    if (!publicKeyDer.equals(certificate.publicKey.export({ type: 'spki', format: 'der' }))) {
      problems.push(`${subject} is for another key`);
      continue;
    }
    const notBefore = new Date(certificate.validFrom);
    const notAfter = new Date(certificate.validTo);
    if (now < notBefore) problems.push(`${subject} matches the key but is not valid before ${notBefore.toISOString()}`);
    else if (now > notAfter) problems.push(`${subject} matches the key but expired at ${notAfter.toISOString()}`);
    else return { ok: true, subject, notAfter };
  }
  return { ok: false, missing: false, reason: `no usable certificate in ${file}: ${problems.join('; ')}` };
}

// X509Certificate#subject is one attribute per line.
function oneLine(subject: string): string {
  return subject.trim().split('\n').join(', ') || '(empty subject)';
}
