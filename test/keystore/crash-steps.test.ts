// Issue 19 item 1, in process: wherever a sync that adds a setting stops dead,
// that setting never stays in the keystore for good. Once it is removed from
// the Secret, a fresh updater on the same files removes it. The stop is a
// step of the injected system (src/keystore/system.ts) that never returns:
// nothing after it runs, no `finally`, no clean-up, as after a SIGKILL there.
// The real CLI (the fake elasticsearch-keystore) and real files do the rest.
// crash.test.ts kills the built executable at one of these steps for real.

import t from 'tap';
import fs from 'node:fs';
import type { CliResult, CliRunner } from '../../src/keystore/keystore-cli.ts';
import type { KeystoreSystem } from '../../src/keystore/system.ts';
import type { SourceWatcher } from '../../src/keystore/source-watcher.ts';
import { keystoreLayout, settingsOf, writeSecret } from '../helpers/keystore.ts';
import { inProcessStatusWhere, startInProcess, type InProcessUpdater } from '../helpers/keystore-in-process.ts';
import { within } from '../helpers/manager.ts';

const STEPS = [
  'before the call',
  'during the call',
  'after the CLI saved, before it exited',
  'after the swap, before the record write',
] as const;
type Step = (typeof STEPS)[number];

/** A system whose `armed` step, once, halts for good; `halted` resolves when it has. */
function haltingSystem() {
  const control = {
    armed: null as Step | null,
    /** The call left running by a halt during it: the orphaned CLI finishes on its own. */
    orphanedCall: null as Promise<CliResult> | null,
    watchers: [] as SourceWatcher[],
    halted: null as Promise<void> | null,
  };
  let markHalted: () => void = () => {};
  const haltAt = (step: Step): Promise<never> | null => {
    if (control.armed !== step) return null;
    control.armed = null;
    markHalted();
    return new Promise<never>(() => {});
  };
  const arm = (step: Step): void => {
    control.armed = step;
    control.halted = new Promise<void>((resolve) => (markHalted = resolve));
  };
  const wrap = (real: KeystoreSystem): Partial<KeystoreSystem> => {
    const runCli: CliRunner = async (configDir, args, stdin, fds) => {
      if (args[0] !== 'add-file') return real.runCli(configDir, args, stdin, fds);
      const before = haltAt('before the call');
      if (before) return before;
      const call = real.runCli(configDir, args, stdin, fds);
      if (control.armed === 'during the call') {
        control.orphanedCall = call;
        return haltAt('during the call')!;
      }
      const result = await call;
      return haltAt('after the CLI saved, before it exited') ?? result;
    };
    return {
      runCli,
      files: {
        ...real.files,
        async openWorkspace(keystorePath, expectedSha256) {
          const workspace = await real.files.openWorkspace(keystorePath, expectedSha256);
          if ('conflict' in workspace) return workspace;
          return {
            ...workspace,
            async commit() {
              const committed = await workspace.commit();
              return haltAt('after the swap, before the record write') ?? committed;
            },
          };
        },
      },
      watchSource: (...args) => {
        const watcher = real.watchSource(...args);
        control.watchers.push(watcher);
        return watcher;
      },
    };
  };
  return { control, arm, wrap };
}

async function synced(running: InProcessUpdater, names: string[], what: string): Promise<any> {
  return inProcessStatusWhere(
    running,
    (s) => s.state === 'synced' && JSON.stringify(s.settings) === JSON.stringify(names),
    what,
  );
}

for (const step of STEPS) {
  t.test(`halted ${step}: a setting removed from the Secret meanwhile leaves the keystore`, async (t) => {
    const layout = keystoreLayout();
    const { control, arm, wrap } = haltingSystem();
    writeSecret(layout.sourceDir, { a: 'A1' });
    const first = await startInProcess(t, layout, { system: wrap });
    await synced(first, ['a'], 'the first sync');

    arm(step);
    writeSecret(layout.sourceDir, { a: 'A1', b: 'B1' });
    await within(control.halted!, `the sync to halt ${step}`, 20_000);
    // What the kernel does to a killed manager: its watches go (and, at garbage collection, the descriptors the
    // halted pass held). Nothing else of it runs again.
    first.abandon();
    for (const watcher of control.watchers) await watcher.close();
    if (control.orphanedCall) await within(control.orphanedCall, 'the orphaned CLI to finish', 20_000);
    t.comment(`keystore after the halt: ${JSON.stringify(settingsOf(layout.keystorePath))}`);
    if (step === 'after the swap, before the record write')
      t.same(settingsOf(layout.keystorePath), { a: 'A1', b: 'B1' }, 'b is in the keystore, the record not updated');

    writeSecret(layout.sourceDir, { a: 'A1' });
    const second = await startInProcess(t, layout);
    await synced(second, ['a'], 'the sync of a fresh updater');
    t.same(settingsOf(layout.keystorePath), { a: 'A1' }, 'b is not in the keystore');
    t.same(
      fs.readdirSync(layout.configDir).filter((name) => name.endsWith('.tmp')),
      [],
      'no temporary keystore left in the config directory',
    );

    // And the way back: the same name added again is applied and managed as usual.
    writeSecret(layout.sourceDir, { a: 'A1', b: 'B2' });
    await synced(second, ['a', 'b'], 'b added again');
    t.same(settingsOf(layout.keystorePath), { a: 'A1', b: 'B2' });
  });
}
