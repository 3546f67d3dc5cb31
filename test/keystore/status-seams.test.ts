// The keystore's side of GET /health, in process: its status is typed and
// says for itself how long the sync it reports has lasted, the first pass
// included while it has not begun (the watcher gets ready first), so /health
// needs no clock of its own to see a first sync that never comes.

import t from 'tap';
import { systemClock } from '../../src/clock/clock.ts';
import { emptyRecord } from '../../src/keystore/applied-record.ts';
import type { Applier } from '../../src/keystore/apply-diff.ts';
import { KEYSTORE_SYNC_LIMIT_MS, keystoreHealthReasons } from '../../src/keystore/health-reasons.ts';
import { describeStatus, type KeystoreStatus } from '../../src/keystore/status.ts';
import { createSyncLoop } from '../../src/keystore/sync-loop.ts';
import type { KeystoreConfig } from '../../src/config/config.ts';
import type { Logger } from '../../src/log/logger.ts';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;

t.test('before the first pass begins: syncing, and for how long, on the clock it is given', async (t) => {
  let monotonic = 5_000;
  const loop = createSyncLoop({
    files: {
      saveRecord: () => Promise.reject(new Error('no pass runs here')),
      openWorkspace: () => Promise.reject(new Error('no pass runs here')),
    },
    clock: { ...systemClock, monotonicMs: () => monotonic },
    config: { sourceDir: '/nonexistent/source', keystorePath: '/nonexistent/keystore' } as KeystoreConfig,
    log: silent,
    applier: { supportsMultiPair: () => null } as unknown as Applier,
    record: emptyRecord(),
    recordFile: '/nonexistent/record',
    digest: (hash) => hash,
    beforeScan: async () => {},
    onScanned: () => {},
    afterPass: () => {},
    onKeystoreChanged: () => {},
  });
  monotonic += 1_234;
  const status = describeStatus(loop.facts(), undefined, { sourceDir: 's', keystorePath: 'k' });
  t.equal(status.state, 'syncing');
  t.equal(status.syncingSince, null, 'no pass has begun');
  t.equal(status.syncingForMs, 1_234, 'awaited as long as the monotonic clock moved');
  await loop.close();
});

t.test('its health reasons come from its status alone', async (t) => {
  const base = { reason: 'reading SOURCE_DIR', syncingSince: null } as unknown as KeystoreStatus;
  t.same(keystoreHealthReasons({ ...base, state: 'syncing', syncingForMs: KEYSTORE_SYNC_LIMIT_MS }), []);
  t.match(keystoreHealthReasons({ ...base, state: 'syncing', syncingForMs: KEYSTORE_SYNC_LIMIT_MS + 1_000 }), [
    /^a keystore sync has run for 301 s \(stuck\?\)$/,
  ]);
  t.same(keystoreHealthReasons({ ...base, state: 'synced', syncingForMs: null }), []);
  t.same(keystoreHealthReasons({ ...base, state: 'failed', reason: 'the CLI exited with 1', syncingForMs: null }), [
    'the keystore updater failed: the CLI exited with 1',
  ]);
});
