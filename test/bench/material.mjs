// What the measured manager is given: TLS material made by openssl, a Secret
// volume updated the way kubelet does it, and a timing wrapper around the fake
// elasticsearch-keystore.

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { epochNs } from './clock.mjs';
import { FAKE_KEYSTORE_CLI, NODE_RUNTIME } from './launch.mjs';

/**
 * One CA (EC P-256) signing a server certificate for 127.0.0.1 (the API and
 * the fake ES reload endpoint) and a client certificate (mutual TLS).
 */
export function makeTlsMaterial(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=process-manager bench CA',
  );
  fs.writeFileSync(
    path.join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  fs.writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', 'es-0'],
    ['client', 'bench-operator'],
  ]) {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  }
  const file = (name) => path.join(dir, name);
  const read = (name) => fs.readFileSync(file(name), 'utf8');
  return {
    caFile: file('ca.crt'),
    serverCertFile: file('server.crt'),
    serverKeyFile: file('server.key'),
    ca: read('ca.crt'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    /** Options for node:https requests to the API as an operator. */
    client: { ca: read('ca.crt'), cert: read('client.crt'), key: read('client.key') },
  };
}

/**
 * Updates dir as kubelet's AtomicWriter does: payload into a fresh
 * `..<timestamp>.<random>` directory, a `..data_tmp` link renamed over `..data`,
 * one `key -> ..data/key` link per key, the old version removed.
 * Returns the epoch ns right after the rename: the moment the update is visible.
 */
export function writeSecret(dir, payload) {
  fs.mkdirSync(dir, { recursive: true });
  const dataLink = path.join(dir, '..data');
  let oldVersion = null;
  try {
    oldVersion = fs.readlinkSync(dataLink);
  } catch {
    // first write
  }
  const oldKeys = oldVersion ? fs.readdirSync(path.join(dir, oldVersion)) : [];
  const keys = Object.keys(payload);
  const version = `..${new Date().toISOString().replace(/[-T:]/g, '_').replace(/\..*$/, '')}.${crypto.randomInt(1e9)}`;
  fs.mkdirSync(path.join(dir, version), { mode: 0o755 });
  for (const key of keys) fs.writeFileSync(path.join(dir, version, key), payload[key], { mode: 0o644 });
  fs.symlinkSync(version, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), dataLink);
  const renamedNs = epochNs();
  for (const key of keys) {
    try {
      fs.symlinkSync(path.join('..data', key), path.join(dir, key));
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
  }
  for (const key of oldKeys) if (!keys.includes(key)) fs.unlinkSync(path.join(dir, key));
  if (oldVersion) fs.rmSync(path.join(dir, oldVersion), { recursive: true, force: true });
  return renamedNs;
}

/**
 * A KEYSTORE_BINARY that runs the fake CLI and appends "startNs endNs exit subcommand"
 * to timesFile: the CLI's own wall time as a process (its Node start-up included,
 * which the fake's durationMs leaves out), measured around it.
 */
export function writeCliWrapper(file, timesFile) {
  const q = (text) => `'${text.replaceAll("'", "'\\''")}'`;
  fs.writeFileSync(
    file,
    `#!/bin/sh
start=$(date +%s%N)
${q(NODE_RUNTIME)} ${q(FAKE_KEYSTORE_CLI)} "$@"
code=$?
end=$(date +%s%N)
echo "$start $end $code $1" >> ${q(timesFile)}
exit $code
`,
    { mode: 0o755 },
  );
  return file;
}

/** Lines of the wrapper's times file: [{startNs, endNs, exit, command}]. */
export function readCliTimes(timesFile) {
  if (!fs.existsSync(timesFile)) return [];
  return fs
    .readFileSync(timesFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [start, end, exit, command] = line.split(' ');
      return { startNs: BigInt(start), endNs: BigInt(end), exit: Number(exit), command };
    });
}

/** The fake CLI's own invocation log (FAKE_KEYSTORE_LOG): [{argv, durationMs, time, end, exit}]. */
export function readCliLog(logFile) {
  if (!fs.existsSync(logFile)) return [];
  return fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}
