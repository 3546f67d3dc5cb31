#!/usr/bin/env node
// exec -> first /health for several builds side by side, each round running
// every build and the bare-node baseline once, in a rotating order, so that a
// busy moment of a shared machine falls on all of them alike (issue 20). Bench
// figure 6 measures one build; this compares two or more in one run.
//
//   node test/bench/startup-ab.mjs [--runs=N] [--pod] NAME=EXECUTABLE ...
//
// EXECUTABLE is the entry point an install laid down (DIR/process-manager);
// the runtime itself (DIR/.process-manager-runtime) measures the hand-off of
// an executable started as PID 1 without the install (it writes the helper
// out and execs it; PID 1 is then DIR/.process-manager-helper).
//
// --pod: the manager as a pod runs it (the keystore updater on over a Secret
// directory with the fake elasticsearch-keystore, the cert initializer on
// with a key and a valid certificate already in place); without it, as
// figure 6 runs it (both off, plain HTTP). Prints one line per run and, per
// build, the median, its range and the ratio of the medians to the baseline.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FAKE_KEYSTORE_CLI, NODE_RUNTIME, UNSHARE, managerArgv, tempDir } from './launch.mjs';
import { timeToHealth, writeBareServer } from './timing.mjs';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice('--runs='.length) ?? 10);
const pod = args.includes('--pod');
const builds = args
  .filter((a) => !a.startsWith('--'))
  .map((a) => {
    const at = a.indexOf('=');
    if (at < 1) throw new Error(`expected NAME=EXECUTABLE, got ${a}`);
    return { name: a.slice(0, at), executable: path.resolve(a.slice(at + 1)) };
  });
if (builds.length === 0 || !Number.isInteger(runs) || runs < 1) {
  process.stderr.write('usage: node test/bench/startup-ab.mjs [--runs=N] [--pod] NAME=EXECUTABLE ...\n');
  process.exit(2);
}

const shared = tempDir('pm-startup-ab-');
let podArgs = () => [];
let podEnv = () => ({});
if (pod) {
  // The cert initializer wants an RSA key; a self-signed certificate for it is valid for it.
  const key = path.join(shared, 'node.key');
  const cert = path.join(shared, 'node.crt');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=es-0'],
    { stdio: 'ignore' },
  );
  const secret = path.join(shared, 'secret');
  fs.mkdirSync(secret);
  fs.writeFileSync(path.join(secret, 'bootstrap.password'), 'changeme');
  fs.chmodSync(key, 0o600);
  podArgs = () => ['--cert-path', cert, '--private-key-path', key, '--port', '0'];
  podEnv = (dir) => ({
    KEYSTORE_UPDATER: 'true',
    SOURCE_DIR: secret,
    KEYSTORE_BINARY: FAKE_KEYSTORE_CLI,
    KEYSTORE_PATH: path.join(dir, 'elasticsearch.keystore'),
    FAKE_KEYSTORE_DELAY_MS: '0',
  });
}

const samples = new Map([['bare node', []], ...builds.map((b) => [b.name, []])]);
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const contenders = [
  { name: 'bare node', argvOf: (dir, port) => [...UNSHARE, NODE_RUNTIME, writeBareServer(dir, port)], options: {} },
  ...builds.map(({ name, executable }) => ({
    name,
    argvOf: (dir, port) => [...UNSHARE, ...managerArgv(executable, dir, port, podArgs())],
    options: {
      expectEntryPoint: path.basename(executable) === '.process-manager-runtime' ? undefined : executable,
      env: podEnv,
    },
  })),
];
process.stdout.write(
  `${runs} rounds, ${pod ? 'pod-like (keystore updater and cert initializer on)' : 'figure 6 setup'}, load ${os.loadavg()[0].toFixed(2)}\n`,
);
for (let round = 0; round < runs; round++) {
  const line = [];
  for (let i = 0; i < contenders.length; i++) {
    const { name, argvOf, options } = contenders[(round + i) % contenders.length];
    const { ms } = await timeToHealth(argvOf, options);
    samples.get(name).push(ms);
    line.push(`${name} ${ms.toFixed(1)}`);
  }
  process.stdout.write(`  round ${round + 1}: ${line.join(', ')} ms\n`);
}
const base = median(samples.get('bare node'));
for (const [name, values] of samples) {
  const m = median(values);
  process.stdout.write(
    `${name}: median ${m.toFixed(1)} ms (${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}), ${(m / base).toFixed(2)}× bare node\n`,
  );
}
process.stdout.write(`load at the end ${os.loadavg()[0].toFixed(2)}\n`);
