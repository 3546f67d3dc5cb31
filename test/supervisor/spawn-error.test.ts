// One describer of a failed spawn (issue 18) for both commands the manager
// runs: the supervised process (--cmd) and elasticsearch-keystore
// (KEYSTORE_BINARY) say the same errno with the same words, each naming the
// option that holds the path. Real spawns of a missing and of a non-executable
// file, through the real spawners.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { createCliRunner } from '../../src/keystore/keystore-cli.ts';
import { describeSpawnError } from '../../src/supervisor/spawn-error.ts';
import { spawnProcess } from '../../src/supervisor/spawn-process.ts';
import { recordingLogger } from '../helpers/keystore-in-process.ts';
import { tempDir } from '../helpers/manager.ts';

const errno = (code: string, message = `spawn x ${code}`) => Object.assign(new Error(message), { code });

t.test('each expected errno in words; the reason names no path, the detail names the file', async (t) => {
  t.same(describeSpawnError('--cmd', '/x/es', errno('ENOENT')), {
    code: 'ENOENT',
    reason: 'cannot run --cmd: ENOENT (no such file)',
    detail: '--cmd /x/es not found',
  });
  t.same(describeSpawnError('KEYSTORE_BINARY', '/x/ks', errno('EACCES')), {
    code: 'EACCES',
    reason: 'cannot run KEYSTORE_BINARY: EACCES (not executable)',
    detail: 'KEYSTORE_BINARY /x/ks is not executable (permission denied)',
  });
  t.equal(
    describeSpawnError('--cmd', '/x/es', errno('ENOEXEC')).reason,
    'cannot run --cmd: ENOEXEC (not a valid executable)',
  );
  t.equal(
    describeSpawnError('KEYSTORE_BINARY', '/x/ks', errno('EMFILE')).detail,
    'cannot run KEYSTORE_BINARY /x/ks: out of file descriptors (EMFILE)',
  );
  t.same(describeSpawnError('--cmd', '/x/es', errno('E2BIG', 'spawn E2BIG')), {
    code: 'E2BIG',
    reason: 'cannot run --cmd: E2BIG (spawn failed)',
    detail: 'cannot run --cmd /x/es: spawn E2BIG',
  });
  t.equal(describeSpawnError('--cmd', '/x/es', undefined).code, 'UNKNOWN');
});

t.test('the supervisor and the keystore CLI runner say the same failure alike', async (t) => {
  const dir = tempDir('pm-spawn-error-');
  const missing = path.join(dir, 'missing');
  const notExecutable = path.join(dir, 'not-executable');
  fs.writeFileSync(notExecutable, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  const runCli = (binary: string) => createCliRunner(binary, recordingLogger([]))(dir, ['list'], '');

  for (const [file, code, words] of [
    [missing, 'ENOENT', 'not found'],
    [notExecutable, 'EACCES', 'is not executable (permission denied)'],
  ] as const) {
    const supervised = await spawnProcess(file, [], 'test-marker');
    t.match(supervised, { ok: false, code, detail: `--cmd ${file} ${words}` }, `the supervised process: ${code}`);
    t.equal(supervised.ok === false && supervised.reason.includes(file), false, 'its reason names no path');
    t.same(
      await runCli(file),
      { kind: 'spawnFailed', reason: `KEYSTORE_BINARY ${file} ${words}` },
      `elasticsearch-keystore: ${code}`,
    );
  }
});
