// The keystore follows a Kubernetes Secret volume through add, change,
// remove, two changes at once and bursts, with few CLI calls, leaving
// keystore.seed and foreign settings alone. Runs over both CLI variants:
// >= 7.7 (one multi-pair add-file) and older (one pair per call), with the
// updater in process (the fake CLI, real files and watches); the last case
// checks the wiring in the built executable: the first sync before the
// process starts, the status over HTTP.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { startManager, stopManager, waitFor } from '../helpers/manager.ts';
import { inProcessStatusWhere, startInProcess, type InProcessUpdater } from '../helpers/keystore-in-process.ts';
import {
  cliCalls,
  keystoreLayout,
  keystoreStatus,
  readKeystore,
  runCli,
  secretRevision,
  settingsOf,
  writeSecret,
  type CliCall,
} from '../helpers/keystore.ts';

const VARIANTS = [
  { version: '8.15.0', isLegacy: false },
  { version: '7.6.2', isLegacy: true },
];

/** Waits until the keystore holds exactly `expected` (seed aside) and the updater is idle and synced. */
async function converged(
  updater: { status(): any },
  keystorePath: string,
  expected: Record<string, string>,
  what: string,
): Promise<any> {
  await waitFor(
    () => JSON.stringify(settingsOf(keystorePath)) === JSON.stringify(sorted(expected)),
    `keystore to hold ${what}`,
    20_000,
  );
  return waitFor(async () => {
    const status = await updater.status();
    return status.state === 'synced' && status.reason === 'keystore matches SOURCE_DIR' ? status : undefined;
  }, `the updater to settle after ${what}`);
}

function sorted(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** CLI calls made since `before` calls, as compact "command names..." strings. */
function callsSince(logFile: string, before: number): CliCall[] {
  return cliCalls(logFile).slice(before);
}

for (const variant of VARIANTS) {
  t.test(`Secret updates reach the keystore (elasticsearch-keystore ${variant.version})`, async (t) => {
    const layout = keystoreLayout();
    const cliEnv = { FAKE_KEYSTORE_VERSION: variant.version, FAKE_KEYSTORE_DELAY_MS: '150' };
    // The image's keystore: a seed and a bootstrap.password put there by the entrypoint, not by us.
    runCli(layout.configDir, ['create'], '', cliEnv);
    runCli(layout.configDir, ['add', '-x', 'bootstrap.password'], 'from-entrypoint\n', cliEnv);
    const seed = readKeystore(layout.keystorePath)!['keystore.seed'];
    const foreign = { 'bootstrap.password': 'from-entrypoint' };
    t.ok(seed, 'the keystore has a seed to begin with');

    writeSecret(layout.sourceDir, { 'a.secure': 'A1', 'b.secure': 'B1' });
    fs.writeFileSync(path.join(layout.sourceDir, '.hidden'), 'never a setting');
    fs.mkdirSync(path.join(layout.sourceDir, 'subdir'));

    const manager = await startInProcess(t, layout, { env: cliEnv });

    let status = await converged(
      manager,
      layout.keystorePath,
      { ...foreign, 'a.secure': 'A1', 'b.secure': 'B1' },
      'the first sync',
    );
    t.same(
      status.settings,
      ['a.secure', 'b.secure'],
      'status lists the managed names, hidden entries and ..data aside',
    );
    t.same(
      status.ignored.map((entry: { name: string }) => entry.name),
      ['subdir'],
      'a directory entry is ignored, and said so',
    );
    t.equal(status.secretRevision, secretRevision(layout.sourceDir), 'secretRevision is the ..data target');
    t.notMatch(JSON.stringify(status), /A1|B1|from-entrypoint/, 'the status never carries a value');

    const first = cliCalls(layout.cliLog); // the set-up calls above were not logged
    if (variant.isLegacy) {
      t.same(
        first.map((c) => [c.argv.length, c.exit]),
        [
          [7, 64],
          [5, 0],
          [5, 0],
        ],
        'pre-7.7: the two-pair call is refused, then one pair per call',
      );
    } else {
      t.same(
        first.map((c) => c.argv.slice(0, 2)),
        [['add-file', '-f']],
        'one add-file call for the whole first sync',
      );
      t.equal(first[0].argv.length, 7, 'carrying both pairs after --');
    }

    const steps: { what: string; payload: Record<string, string>; maxCalls: number; linksBeforeSwap?: boolean }[] = [
      {
        what: 'an added key (links made before the swap, as older kubelets do)',
        payload: { 'a.secure': 'A1', 'b.secure': 'B1', 'c.secure': 'C1' },
        maxCalls: 1,
        linksBeforeSwap: true,
      },
      { what: 'a changed key', payload: { 'a.secure': 'A2', 'b.secure': 'B1', 'c.secure': 'C1' }, maxCalls: 1 },
      { what: 'a removed key', payload: { 'a.secure': 'A2', 'c.secure': 'C1' }, maxCalls: 1 },
      {
        what: 'two keys changed at once',
        payload: { 'a.secure': 'A3', 'c.secure': 'C2' },
        maxCalls: variant.isLegacy ? 2 : 1,
      },
      { what: 'a change plus a removal', payload: { 'c.secure': 'C3' }, maxCalls: 2 },
    ];
    for (const step of steps) {
      const before = cliCalls(layout.cliLog).length;
      t.ok(
        writeSecret(layout.sourceDir, step.payload, { linksBeforeSwap: step.linksBeforeSwap }),
        `Secret updated: ${step.what}`,
      );
      status = await converged(manager, layout.keystorePath, { ...foreign, ...step.payload }, step.what);
      const calls = callsSince(layout.cliLog, before);
      t.ok(
        calls.length >= 1 && calls.length <= step.maxCalls,
        `${step.what}: ${calls.length} CLI call(s), at most ${step.maxCalls}: ${JSON.stringify(calls.map((c) => c.argv.slice(0, 3)))}`,
      );
      t.ok(
        calls.every((c) => c.exit === 0),
        'every call succeeded',
      );
      t.same(status.settings, Object.keys(step.payload).sort());
      t.equal(status.secretRevision, secretRevision(layout.sourceDir));
    }
    const removal = cliCalls(layout.cliLog).filter((c) => c.argv[0] === 'remove');
    t.same(
      removal.map((c) => c.argv),
      [
        ['remove', '--', 'b.secure'],
        ['remove', '--', 'a.secure'],
      ],
      'each removal names only what left the Secret',
    );
    if (!variant.isLegacy) {
      const both = cliCalls(layout.cliLog)
        .filter((c) => c.argv[0] === 'add-file')
        .at(-2)!;
      t.same(
        [both.argv[3], both.argv[5]],
        ['a.secure', 'c.secure'],
        'the two-key change is one add-file call with both pairs',
      );
    }

    // A burst: many swaps faster than the debounce, ending in a state none of them passed through twice.
    const before = cliCalls(layout.cliLog).length;
    let last: Record<string, string> = {};
    for (let i = 0; i < 15; i++) {
      last =
        i % 2 === 0
          ? { 'c.secure': `C-burst-${i}`, 'd.secure': `D-${i}` }
          : { 'c.secure': `C-burst-${i}`, 'e.secure': `E-${i}` };
      writeSecret(layout.sourceDir, last);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    status = await converged(manager, layout.keystorePath, { ...foreign, ...last }, 'the end of a burst of 15 swaps');
    const burstCalls = callsSince(layout.cliLog, before);
    // One debounced sync applies the end state: one add-file (one per pair before 7.7) and one remove.
    t.ok(
      burstCalls.length <= (variant.isLegacy ? 3 : 2) * 2,
      `the burst cost ${burstCalls.length} CLI calls, not one per swap`,
    );
    t.same(status.settings, Object.keys(last).sort());

    // A swap that changes nothing is looked at, and costs no CLI call.
    const quiet = cliCalls(layout.cliLog).length;
    const scannedBefore = status.lastScanAt;
    t.ok(writeSecret(layout.sourceDir, last, { force: true }), 'a new ..data revision with the same content');
    status = await inProcessStatusWhere(
      manager,
      (s) => s.lastScanAt !== scannedBefore && s.secretRevision === secretRevision(layout.sourceDir),
      'a rescan after the no-op swap',
    );
    t.equal(cliCalls(layout.cliLog).length, quiet, 'no CLI call for an unchanged Secret');
    t.equal(status.state, 'synced');

    const final = readKeystore(layout.keystorePath)!;
    t.equal(final['keystore.seed'], seed, 'keystore.seed survived every update');
    t.equal(final['bootstrap.password'], 'from-entrypoint', 'the foreign bootstrap.password survived every update');
    t.notOk(
      '.hidden' in final || 'subdir' in final || '..data' in final,
      'hidden entries and directories never reach the keystore',
    );
  });
}

t.test('a plain directory edited in place, and a restart that remembers what it manages', async (t) => {
  const layout = keystoreLayout();
  fs.mkdirSync(layout.sourceDir);
  fs.writeFileSync(path.join(layout.sourceDir, 'x'), 'X1');
  fs.writeFileSync(path.join(layout.sourceDir, 'y'), 'Y1');
  let manager: InProcessUpdater = await startInProcess(t, layout);
  await converged(manager, layout.keystorePath, { x: 'X1', y: 'Y1' }, 'the first sync');

  fs.writeFileSync(path.join(layout.sourceDir, 'x'), 'X2');
  await converged(manager, layout.keystorePath, { x: 'X2', y: 'Y1' }, 'x rewritten in place');
  fs.rmSync(path.join(layout.sourceDir, 'y'));
  await converged(manager, layout.keystorePath, { x: 'X2' }, 'y deleted');

  // A setting added by someone else while the manager is down, and y coming back.
  await manager.close();
  runCli(layout.configDir, ['add', '-x', 'bootstrap.password'], 'foreign\n');
  fs.writeFileSync(path.join(layout.sourceDir, 'y'), 'Y2');
  fs.rmSync(path.join(layout.sourceDir, 'x'));
  const before = cliCalls(layout.cliLog).length;
  manager = await startInProcess(t, layout);
  await converged(
    manager,
    layout.keystorePath,
    { 'bootstrap.password': 'foreign', y: 'Y2' },
    'the first sync after a restart',
  );
  const calls = callsSince(layout.cliLog, before);
  t.same(
    calls.map((c) => c.argv[0]),
    ['add-file', 'remove'],
    'after a restart: one add-file and one remove',
  );
  t.same(calls[1].argv, ['remove', '--', 'x'], 'x is still known as ours after the restart, bootstrap.password is not');
});

t.test('the built executable: the first sync ends before the process starts; the status over HTTP', async (t) => {
  const layout = keystoreLayout();
  writeSecret(layout.sourceDir, { 'a.secure': 'A1' });
  const manager = await startManager({ args: layout.args, env: { ...layout.env, FAKE_KEYSTORE_DELAY_MS: '150' } });
  t.teardown(() => stopManager(manager));
  const status = await converged(
    { status: () => keystoreStatus(manager) },
    layout.keystorePath,
    { 'a.secure': 'A1' },
    'the first sync',
  );
  t.same(status.settings, ['a.secure']);
  t.notMatch(JSON.stringify(status), /A1/, 'the status never carries a value');
  const syncedAt = manager.logs.findIndex(
    (r) => r['event.action'] === 'keystore-sync' && r['event.outcome'] === 'success',
  );
  await waitFor(async () => (await manager.status()).state === 'started', 'the process to start after the first sync');
  const startedAt = manager.logs.findIndex(
    (r) => r['event.action'] === 'state-change' && r['process.state'] === 'starting',
  );
  t.ok(
    syncedAt >= 0 && syncedAt < startedAt,
    `the first sync ends before the process starts (log lines ${syncedAt} < ${startedAt})`,
  );
  writeSecret(layout.sourceDir, { 'a.secure': 'A2' });
  await converged({ status: () => keystoreStatus(manager) }, layout.keystorePath, { 'a.secure': 'A2' }, 'a change');
  t.equal(
    (await manager.request('GET', '/health')).json.keystore.state,
    'synced',
    '/health carries the keystore status',
  );
});
