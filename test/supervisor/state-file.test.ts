// The state file: atomic, validated, kept aside when corrupt, and its
// transitional states resolved at boot.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startOnFakeEs } from '../helpers/fake-es.ts';
import { stopManager, tempDir } from '../helpers/manager.ts';

const VALID = { version: 1, name: 'es', lastExit: null, restarts: 0, updatedAt: '2026-01-01T00:00:00.000Z' };

for (const [what, content] of [
  ['truncated', '{"version":1,"name":"es","desired":"sto'],
  ['garbage', '\u0000\u0001 not json at all'],
  ['wrong shape', JSON.stringify({ ...VALID, desired: 'paused', state: 'stopped' })],
  ['empty', ''],
] as const) {
  t.test(`a ${what} state file is kept aside and treated as absent: the process starts`, async (t) => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'state.json'), content);
    const run = await startOnFakeEs({ dir });
    t.teardown(() => stopManager(run.manager));
    await run.pids();
    t.equal((await run.manager.status()).state, 'started');
    const kept = fs.readdirSync(dir).filter((name) => name.startsWith('state.json.corrupt-'));
    t.equal(kept.length, 1, 'the bad file is kept under another name');
    t.equal(fs.readFileSync(path.join(dir, kept[0]), 'utf8'), content, 'byte for byte');
    t.ok(run.manager.logs.some((r) => r['log.level'] === 'warn' && /ignoring the state file/.test(r.message)));
    const rewritten = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
    t.match(rewritten, { version: 1, state: 'started', desired: 'started' }, 'a valid file replaced it');
  });
}

t.test('a state file left in stopping by an API stop resolves to stopped, and nothing starts', async (t) => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ ...VALID, desired: 'stopped', state: 'stopping' }));
  const run = await startOnFakeEs({ dir });
  t.teardown(() => stopManager(run.manager));
  t.match(await run.manager.status(), { state: 'stopped', desired: 'stopped' });
  t.equal((await run.manager.request('POST', '/es/start')).status, 202, 'and it can be started');
});

t.test('a state file left in killing resolves to killed', async (t) => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ ...VALID, desired: 'stopped', state: 'killing' }));
  const run = await startOnFakeEs({ dir });
  t.teardown(() => stopManager(run.manager));
  t.match(await run.manager.status(), { state: 'killed', desired: 'stopped' });
});

t.test('a state file left in stopping by a shutdown (desired started) starts the process', async (t) => {
  const dir = tempDir();
  fs.writeFileSync(
    path.join(dir, 'state.json'),
    JSON.stringify({ ...VALID, desired: 'started', state: 'stopping', restarts: 4 }),
  );
  const run = await startOnFakeEs({ dir });
  t.teardown(() => stopManager(run.manager));
  const [launcher] = await run.pids();
  t.match(await run.manager.status(), { state: 'started', pid: launcher, restarts: 5 });
});

t.test('the file is replaced atomically: no temporary file remains and every version parses', async (t) => {
  const dir = tempDir();
  const run = await startOnFakeEs({ dir });
  t.teardown(() => stopManager(run.manager));
  await run.pids();
  for (const route of ['/es/stop', '/es/start', '/es/restart', '/es/kill']) {
    await run.manager.request('POST', route);
    t.doesNotThrow(() => JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')), `valid after ${route}`);
  }
  t.same(
    fs.readdirSync(dir).filter((name) => name.startsWith('.state.json.')),
    [],
    'no temporary file of ours (the fake ES has its own)',
  );
});

// Each of these crash-looped or hung the manager at every boot (issue 12 item 9).
for (const [what, plant, reason] of [
  [
    'a symlink to /dev/zero',
    (file: string) => fs.symlinkSync('/dev/zero', file),
    /refused: not a regular file \(a character device\)/,
  ],
  [
    'a FIFO nobody writes to',
    (file: string) => execFileSync('mkfifo', [file]),
    /refused: not a regular file \(a FIFO\)/,
  ],
  ['a 25 MB file', (file: string) => fs.writeFileSync(file, Buffer.alloc(25e6, ' ')), /refused: larger than 64 KiB/],
  [
    'a deeply nested JSON document',
    (file: string) => fs.writeFileSync(file, '['.repeat(30_000) + ']'.repeat(30_000)),
    /JSON nested 30000 levels deep/,
  ],
] as const) {
  t.test(`${what} as the state file is refused, kept aside, and the process starts`, async (t) => {
    const dir = tempDir();
    const file = path.join(dir, 'state.json');
    plant(file);
    const run = await startOnFakeEs({ dir });
    t.teardown(() => stopManager(run.manager));
    await run.pids();
    t.equal((await run.manager.status()).state, 'started');
    const warning = run.manager.logs.find((r) => /ignoring the state file/.test(r.message));
    t.match(warning?.message, reason, 'the warning says why');
    t.equal(
      fs.readdirSync(dir).filter((name) => name.startsWith('state.json.corrupt-')).length,
      1,
      'the refused file is kept aside',
    );
    t.equal(fs.lstatSync(file).isFile(), true, 'a valid state file replaced it');
  });
}

t.test(
  'temporary files left by interrupted writes are swept at start; anything else that looks like one is left alone',
  async (t) => {
    const dir = tempDir();
    const victim = path.join(tempDir(), 'victim');
    fs.writeFileSync(victim, 'keep me');
    const ours = [
      '.state.json.0123456789abcdef.tmp',
      '.state.json.fedcba9876543210.tmp',
      '.state.json.00000000deadbeef.tmp',
    ];
    for (const name of ours) fs.writeFileSync(path.join(dir, name), '{"version":1,"na');
    const foreign = [
      '.state.json.0123456789abcdef.tmp.keep', // not the whole name
      '.state.json.0123456789ABCDEF.tmp', // the writer draws lowercase hex
      '.state.json.0123456789abcde.tmp', // 15 digits
      'state.json.0123456789abcdef.tmp', // not hidden
      '.other.json.0123456789abcdef.tmp', // another file's
      '.state.jsonX0123456789abcdef.tmp', // the dot is a dot
    ];
    for (const name of foreign) fs.writeFileSync(path.join(dir, name), 'not ours');
    fs.symlinkSync(victim, path.join(dir, '.state.json.1111111111111111.tmp')); // the right name, not a regular file
    fs.mkdirSync(path.join(dir, '.state.json.2222222222222222.tmp'));
    const run = await startOnFakeEs({ dir });
    t.teardown(() => stopManager(run.manager));
    await run.pids();
    const left = fs.readdirSync(dir);
    for (const name of ours) t.notOk(left.includes(name), `${name} removed`);
    for (const name of [...foreign, '.state.json.1111111111111111.tmp', '.state.json.2222222222222222.tmp'])
      t.ok(left.includes(name), `${name} left alone`);
    t.equal(fs.readFileSync(victim, 'utf8'), 'keep me');
    const line = run.manager.logs.find((r) =>
      /^removed 3 temporary files left by interrupted state-file writes/.test(r.message),
    );
    t.ok(line, 'the sweep is logged');
  },
);
