// The configuration checksum against the contract's algorithm, written out
// here on its own: for each tree, the expected lines are spelled by hand
// (relative path, sha256 of the content) and hashed, so a walk that skips,
// adds, orders or names a file differently from the contract fails.

import '../helpers/fetch-lite-globals.ts';
import { liteRequest } from '../helpers/fetch-lite-globals.ts';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createApi } from '../../src/api/app.ts';
import { configChecksum, MAX_CONFIG_FILE_BYTES, MAX_CONFIG_FILES } from '../../src/mounted-config/checksum.ts';
import { createMountedConfig, type MountedConfig } from '../../src/mounted-config/mounted-config.ts';
import { createSupervisor } from '../../src/supervisor/supervisor.ts';
import { createFakeSystem, supervisorConfig } from '../helpers/fake-system.ts';
import { readAnswer, tempDir, waitFor } from '../helpers/manager.ts';
import { createSecretVolume } from '../helpers/secret-volume.ts';

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
/** The contract's checksum of these (relative path, content) lines, in the order given. */
const expected = (lines: readonly (readonly [string, string | Buffer])[]) =>
  sha(lines.map(([name, content]) => `${name} ${sha(content)}\n`).join(''));

function write(root: string, files: Record<string, string | Buffer>): void {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), content);
  }
}

interface Case {
  readonly name: string;
  /** Builds the tree under dir; returns the --config-path values. */
  readonly build: (dir: string) => string[];
  /** The lines the contract gives, or a pattern for the refusal. */
  readonly lines?: readonly (readonly [string, string | Buffer])[];
  readonly refused?: RegExp;
}

const outside = tempDir('pm-outside-');
fs.writeFileSync(path.join(outside, 'secret.yml'), 'not ours');

const CASES: Case[] = [
  {
    name: 'a file path is `.`',
    build: (d) => (write(d, { 'es.yml': 'a: 1\n' }), [path.join(d, 'es.yml')]),
    lines: [['.', 'a: 1\n']],
  },
  {
    name: 'nested directories, byte order of the relative path (a-b before a/b, B before a), hidden files counted',
    build: (d) => (write(d, { 'a/b': '1', 'a-b': '2', B: '3', '.hidden': '4', 'a/c/d.yml': '5' }), [d]),
    lines: [
      ['.hidden', '4'],
      ['B', '3'],
      ['a-b', '2'],
      ['a/b', '1'],
      ['a/c/d.yml', '5'],
    ],
  },
  {
    name: 'several paths: in the order given, each sorted on its own',
    build: (d) => (write(d, { 'z/x': '1', 'a/y': '2', 'a/b': '3' }), [path.join(d, 'z'), path.join(d, 'a')]),
    lines: [
      ['x', '1'],
      ['b', '3'],
      ['y', '2'],
    ],
  },
  {
    name: 'a Secret volume: the visible names, never ..data or ..<timestamp>',
    build: (d) => {
      const volume = createSecretVolume(d);
      volume.update({ 'elasticsearch.yml': 'v1', 'jvm.options': '-Xmx1g' });
      return [d];
    },
    lines: [
      ['elasticsearch.yml', 'v1'],
      ['jvm.options', '-Xmx1g'],
    ],
  },
  {
    name: 'symlinks inside the path are followed (file and directory); out of the path, dangling or looping ones are not',
    build: (d) => {
      write(d, { 'real/a.yml': 'A' });
      fs.symlinkSync('real/a.yml', path.join(d, 'alias.yml'));
      fs.symlinkSync('real', path.join(d, 'linked'));
      fs.symlinkSync(path.join(outside, 'secret.yml'), path.join(d, 'escape.yml'));
      fs.symlinkSync(outside, path.join(d, 'escape-dir'));
      fs.symlinkSync('nowhere', path.join(d, 'dangling'));
      fs.symlinkSync('..', path.join(d, 'real', 'loop'));
      return [d];
    },
    lines: [
      ['alias.yml', 'A'],
      ['linked/a.yml', 'A'],
      ['real/a.yml', 'A'],
    ],
  },
  {
    name: 'not regular files (a FIFO) are not counted',
    build: (d) => {
      write(d, { 'a.yml': 'A' });
      execFileSync('mkfifo', [path.join(d, 'pipe')]);
      return [d];
    },
    lines: [['a.yml', 'A']],
  },
  {
    name: 'a file of exactly 1 MiB is read',
    build: (d) => (write(d, { big: Buffer.alloc(MAX_CONFIG_FILE_BYTES, 1) }), [d]),
    lines: [['big', Buffer.alloc(MAX_CONFIG_FILE_BYTES, 1)]],
  },
  {
    name: 'a file over 1 MiB: no checksum',
    build: (d) => (write(d, { big: Buffer.alloc(MAX_CONFIG_FILE_BYTES + 1) }), [d]),
    refused: /larger than 1 MiB/,
  },
  {
    name: `more than ${MAX_CONFIG_FILES} files: no checksum`,
    build: (d) => (
      write(d, Object.fromEntries(Array.from({ length: MAX_CONFIG_FILES + 1 }, (_, i) => [`f${i}`, '']))), [d]
    ),
    refused: /more than 1,000 files/,
  },
  { name: 'a missing path: no checksum', build: (d) => [path.join(d, 'missing')], refused: /no such file/ },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const dir = tempDir('pm-config-');
    const paths = c.build(dir);
    const result = await configChecksum(paths);
    if (c.lines) t.same(result, { ok: true, sha256: expected(c.lines), files: c.lines.length });
    else {
      t.equal(result.ok, false);
      if (!result.ok) {
        t.match(result.reason, c.refused);
        t.notMatch(result.reason, dir, 'the reason for /health names no path');
      }
    }
  });
}

t.test(`exactly ${MAX_CONFIG_FILES} files are read`, async (t) => {
  const dir = tempDir('pm-config-');
  write(dir, Object.fromEntries(Array.from({ length: MAX_CONFIG_FILES }, (_, i) => [`f${i}`, ''])));
  t.match(await configChecksum([dir]), { ok: true, files: MAX_CONFIG_FILES });
});

t.test('watched: a ..data swap changes status().sha256 and changedAt; a problem shows in /health', async (t) => {
  const dir = tempDir('pm-config-');
  const volume = createSecretVolume(path.join(dir, 'secret'));
  volume.update({ 'elasticsearch.yml': 'v1' });
  const fake = createFakeSystem();
  const mounted = await createMountedConfig([volume.dir], fake.log);
  t.teardown(() => mounted.close());
  const first = mounted.status();
  t.equal(first.sha256, expected([['elasticsearch.yml', 'v1']]));

  volume.update({ 'elasticsearch.yml': 'v2' });
  const second = await waitFor(
    () => (mounted.status().sha256 === expected([['elasticsearch.yml', 'v2']]) ? mounted.status() : undefined),
    'the swap to be seen',
  );
  t.ok(Date.parse(second.changedAt!) >= Date.parse(first.changedAt!));

  const { request: get } = apiOver(fake, mounted, 'GET');
  t.same((await get('/es/status')).json.config, second);

  volume.update({ 'elasticsearch.yml': 'x'.repeat(MAX_CONFIG_FILE_BYTES + 1) });
  await waitFor(() => mounted.status().sha256 === null, 'the over-size file to be seen');
  const health = await get('/health');
  t.equal(health.json.status, 'degraded');
  t.match(health.json.reasons, [/the mounted configuration has no checksum: a file cannot be read: larger than 1 MiB/]);
});

t.test('watched: a file in a subdirectory, and a path that appears only after the start', async (t) => {
  const dir = tempDir('pm-config-');
  write(dir, { 'tree/nested/a.yml': 'a1' });
  const late = path.join(dir, 'not-yet', 'es.yml');
  const fake = createFakeSystem();
  const mounted = await createMountedConfig([path.join(dir, 'tree'), late], fake.log);
  t.teardown(() => mounted.close());
  t.equal(mounted.status().sha256, null, 'a missing path: no checksum');

  write(dir, { 'not-yet/es.yml': 'e1' });
  const both = (a: string) =>
    expected([
      ['nested/a.yml', a],
      ['.', 'e1'],
    ]);
  await waitFor(() => mounted.status().sha256 === both('a1'), 'the late file to be seen, through its ancestor');
  fs.writeFileSync(path.join(dir, 'tree/nested/a.yml'), 'a2');
  await waitFor(() => mounted.status().sha256 === both('a2'), 'a change two levels down to be seen');
});

t.test('start?config=SHA and restart?config=SHA: 409 and nothing happens on a mismatch', async (t) => {
  const dir = tempDir('pm-config-');
  write(dir, { 'es.yml': 'a' });
  const right = expected([['es.yml', 'a']]);
  const wrong = 'f'.repeat(64);
  const fake = createFakeSystem();
  const mounted = await createMountedConfig([dir], fake.log);
  t.teardown(() => mounted.close());
  const { supervisor, request: post } = apiOver(fake, mounted, 'POST');

  const refused = await post(`/es/start?config=${wrong}`);
  t.equal(refused.status, 409);
  t.same(refused.json, {
    error: { type: 'config_mismatch_exception', reason: `the mounted configuration is ${right}, not ${wrong}` },
    status: 409,
  });
  t.equal(fake.spawnCalls.length, 0, 'nothing started');
  t.match(
    fake.log.records.find((r) => r.fields['event.action'] === 'config-mismatch'),
    { level: 'warn', message: /POST \/es\/start refused: the mounted configuration is/ },
  );
  t.equal(supervisor.status().desired, 'started', 'nor the intent changed');
  t.equal((await post('/es/start?config=abc')).status, 400, 'not a sha256');

  t.equal((await post(`/es/start?config=${right.toUpperCase()}`)).status, 202, 'hex in either case');
  t.equal(fake.spawnCalls.length, 1);

  // Changed since the last watch event: the guard computes again.
  write(dir, { 'es.yml': 'b' });
  const stale = await post(`/es/restart?config=${right}`);
  t.equal(stale.status, 409);
  t.equal(fake.signals.length, 0, 'the running process was not touched');
  t.equal((await post(`/es/restart?config=${expected([['es.yml', 'b']])}`)).status, 202);
  t.equal(fake.spawnCalls.length, 2);

  const without = createApi({ name: 'es', supervisor, log: fake.log });
  const answer = await readAnswer(
    await without.fetch(liteRequest(`http://api.invalid/es/start?config=${right}`, { method: 'POST', headers: [] })),
  );
  t.equal(answer.status, 409, 'no --config-path: nothing to match');
  t.match(answer.json.error.reason, /unknown \(no --config-path\)/);
});

/** The API over a supervisor of the fake system, with `mounted` as its configuration: `method` requests in process. */
function apiOver(fake: ReturnType<typeof createFakeSystem>, mounted: MountedConfig, method: 'GET' | 'POST') {
  const supervisor = createSupervisor(supervisorConfig(), {
    log: fake.log,
    onExitRequested: () => {},
    system: fake.system,
  });
  // As the manager does before it serves: until then the API waits on state writes that never begin.
  supervisor.takeOverStateFile();
  const app = createApi({ name: 'es', supervisor, log: fake.log, mountedConfig: mounted });
  const request = async (target: string) =>
    readAnswer(await app.fetch(liteRequest(`http://api.invalid${target}`, { method, headers: [] })));
  return { supervisor, request };
}
