// The one watcher of mounted directories, in process on real directories:
// a Secret's `..data` swap as the kubelet's atomic writer does it, a file
// renamed over another, the directory created late, named through a symlink,
// deleted and made again (under one watch or two), a burst ending in one callback, a recursive
// watch's depth bound, the backstop check, and a close that leaves no inotify
// watch and no timer (a process that closed it can exit).

import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  MAX_DEPTH,
  type MountedDirectoryOptions,
  watchMountedDirectory,
} from '../../src/files/watch-mounted-directory.ts';
import { ROOT, tempDir } from '../helpers/manager.ts';
import { waitFor, within } from '../helpers/wait.ts';
import { createSecretVolume } from '../helpers/secret-volume.ts';

/** Counts callbacks; `next(n)` waits for the n-th. */
function watchFor(t: Test, dir: string, options: MountedDirectoryOptions = {}) {
  const calls: string[] = [];
  const watch = watchMountedDirectory(dir, (why) => calls.push(why), options);
  t.teardown(() => watch.close());
  return {
    watch,
    calls,
    next: (n: number, what: string) => waitFor(() => calls.length >= n, `callback ${n}: ${what}`, 10_000),
  };
}

/** inotify watches this process holds, over all its inotify descriptors (one line per watch in fdinfo). */
function inotifyWatches(): number {
  let count = 0;
  for (const fd of fs.readdirSync('/proc/self/fdinfo')) {
    try {
      count += fs
        .readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('inotify wd:')).length;
    } catch {
      // closed meanwhile (the readdir's own descriptor)
    }
  }
  return count;
}

t.test("a Secret's ..data swap, as the kubelet's atomic writer does it: one callback per update", async (t) => {
  const volume = createSecretVolume(path.join(tempDir('pm-watch-'), 'secret'));
  volume.update({ 'tls.crt': 'one', 'tls.key': 'one' });
  // Only the TLS files matter, as for the API: an update still names none of them, only `..data`.
  const w = watchFor(t, volume.dir, { accept: (name) => name === 'tls.crt' || name.startsWith('..') });
  await w.watch.ready;
  volume.update({ 'tls.crt': 'two', 'tls.key': 'two' });
  await w.next(1, 'the first swap');
  volume.update({ 'tls.crt': 'three', 'tls.key': 'three', extra: 'x' });
  await w.next(2, 'the second swap');
  t.equal(fs.readFileSync(path.join(volume.dir, 'tls.crt'), 'utf8'), 'three');
});

t.test('a file renamed over another is seen', async (t) => {
  const dir = tempDir('pm-watch-');
  fs.writeFileSync(path.join(dir, 'elasticsearch.keystore'), 'v1');
  const w = watchFor(t, dir, { accept: (name) => name === 'elasticsearch.keystore' });
  await w.watch.ready;
  fs.writeFileSync(path.join(dir, 'elasticsearch.keystore.tmp'), 'v2');
  fs.renameSync(path.join(dir, 'elasticsearch.keystore.tmp'), path.join(dir, 'elasticsearch.keystore'));
  await w.next(1, 'the rename over it');
  t.match(w.calls[0], /elasticsearch\.keystore$/, 'the callback names the event that ended the burst');
});

t.test('a directory created later (its parent missing too) is followed into', async (t) => {
  const root = tempDir('pm-watch-');
  const dir = path.join(root, 'volumes', 'secrets');
  const missing: (string | undefined)[] = [];
  const w = watchFor(t, dir, { onMissing: (ancestor) => missing.push(ancestor) });
  await w.watch.ready;
  t.same(missing, [root], 'the nearest ancestor that exists is watched meanwhile');
  fs.mkdirSync(path.join(root, 'volumes'));
  await w.next(1, 'the parent to appear');
  fs.mkdirSync(dir);
  await w.next(2, 'the directory to appear');
  fs.writeFileSync(path.join(dir, 'a'), 'A');
  await w.next(3, 'a file in the directory: the watch moved into it');
  t.ok(w.calls.length >= 3);
});

t.test('a directory named through a symlink, present or still missing, is watched where it leads', async (t) => {
  const root = tempDir('pm-watch-');
  fs.mkdirSync(path.join(root, 'real'));
  fs.symlinkSync(path.join(root, 'real'), path.join(root, 'link'));
  const present = watchFor(t, path.join(root, 'link'));
  const missing = watchFor(t, path.join(root, 'link', 'secrets'));
  await Promise.all([present.watch.ready, missing.watch.ready]);
  fs.mkdirSync(path.join(root, 'real', 'secrets'));
  await Promise.all([present.next(1, 'a subdirectory made'), missing.next(1, 'the missing directory to appear')]);
  await Promise.all([present.watch.refresh(), missing.watch.refresh()]);
  const [before1, before2] = [present.calls.length, missing.calls.length];
  fs.writeFileSync(path.join(root, 'real', 'x'), 'x');
  fs.writeFileSync(path.join(root, 'real', 'secrets', 'a'), 'A');
  await Promise.all([present.next(before1 + 1, 'a file in it'), missing.next(before2 + 1, 'a file in it')]);
});

t.test('a directory deleted and made again: the new one is watched', async (t) => {
  const dir = path.join(tempDir('pm-watch-'), 'secrets');
  fs.mkdirSync(dir);
  const w = watchFor(t, dir);
  await w.watch.ready;
  fs.rmSync(dir, { recursive: true });
  await w.next(1, 'the deletion');
  fs.mkdirSync(dir);
  await w.next(2, 'the directory made again');
  const before = w.calls.length;
  fs.writeFileSync(path.join(dir, 'a'), 'A');
  await w.next(before + 1, 'a write into the new directory');
  // Deleted and made again at once, before the burst ends (it may even get the same inode number).
  fs.rmSync(dir, { recursive: true });
  fs.mkdirSync(dir);
  await w.next(before + 2, 'the quick replacement');
  await w.watch.refresh();
  const after = w.calls.length;
  fs.writeFileSync(path.join(dir, 'b'), 'B');
  await w.next(after + 1, 'a write into the replacement');
  t.pass('followed through two replacements');
});

t.test('two watches of one directory both follow it when it is deleted and made again', async (t) => {
  // chokidar keeps one fs.watch per path for the whole process and shares it between its watchers.
  const dir = path.join(tempDir('pm-watch-'), 'config');
  fs.mkdirSync(dir);
  const one = watchFor(t, dir);
  const two = watchFor(t, dir, { quietMs: 300 });
  await Promise.all([one.watch.ready, two.watch.ready]);
  fs.rmSync(dir, { recursive: true });
  fs.mkdirSync(dir);
  await Promise.all([one.next(1, 'the first to see the replacement'), two.next(1, 'the second to see it')]);
  await Promise.all([one.watch.refresh(), two.watch.refresh()]);
  const [before1, before2] = [one.calls.length, two.calls.length];
  fs.writeFileSync(path.join(dir, 'a'), 'A');
  await Promise.all([
    one.next(before1 + 1, 'the first: a write into the new directory'),
    two.next(before2 + 1, 'the second: a write into the new directory'),
  ]);
  t.pass('both followed');
});

t.test('a burst of events ends in one callback', async (t) => {
  const dir = tempDir('pm-watch-');
  // A quiet time far longer than the burst, so that a busy machine cannot split it.
  const w = watchFor(t, dir, { quietMs: 1_000, longestQuietMs: 20_000 });
  await w.watch.ready;
  // Each step awaited, so that the events arrive over many turns of the event loop, not in one read.
  for (let i = 0; i < 50; i++) {
    await fs.promises.writeFile(path.join(dir, `file-${i}`), String(i));
    await fs.promises.rename(path.join(dir, `file-${i}`), path.join(dir, `moved-${i}`));
  }
  await w.next(1, 'the burst');
  // A fact that orders the callbacks: a later change ends in the second, so the burst gave exactly one.
  fs.writeFileSync(path.join(dir, 'marker'), 'm');
  await w.next(2, 'the marker');
  t.equal(w.calls.length, 2, '150 events, one callback; the marker another');
  t.match(w.calls[1], /marker$/);
});

t.test(
  'recursive: changes in subdirectories, made before or after the start, are seen; `..` ones are not watched',
  async (t) => {
    const dir = tempDir('pm-watch-');
    fs.mkdirSync(path.join(dir, 'sub', 'deeper'), { recursive: true });
    const before = inotifyWatches();
    const w = watchFor(t, dir, { recursive: true });
    await w.watch.ready;
    fs.mkdirSync(path.join(dir, '..2026_01_01'));
    t.equal(inotifyWatches() - before, 3, 'the directory and its two subdirectories');
    fs.writeFileSync(path.join(dir, 'sub', 'deeper', 'a'), 'A');
    await w.next(1, 'a file two levels down');
    fs.mkdirSync(path.join(dir, 'late'));
    await w.next(2, 'a subdirectory made');
    fs.writeFileSync(path.join(dir, 'late', 'b'), 'B');
    await w.next(3, 'a file in the new subdirectory');
    t.equal(inotifyWatches() - before, 4, 'the new subdirectory is watched; the `..` one is not');
  },
);

t.test(
  'recursive, bounded: MAX_DEPTH levels down are watched, deeper ones and symlinked directories are not',
  async (t) => {
    const dir = tempDir('pm-watch-');
    const levels = Array.from({ length: MAX_DEPTH + 2 }, (_, i) => `level-${i + 1}`);
    fs.mkdirSync(path.join(dir, ...levels), { recursive: true });
    fs.symlinkSync(tempDir('pm-watch-elsewhere-'), path.join(dir, 'link'));
    const errors: string[] = [];
    const before = inotifyWatches();
    const w = watchFor(t, dir, { recursive: true, onWatchError: (error) => errors.push(error.message) });
    await w.watch.ready;
    t.equal(inotifyWatches() - before, 1 + MAX_DEPTH, 'the directory and MAX_DEPTH levels below it, once');
    t.same(errors, [`directories more than ${MAX_DEPTH} levels down are not watched`], 'said once');
    fs.writeFileSync(path.join(dir, ...levels.slice(0, MAX_DEPTH), 'a'), 'A');
    await w.next(1, 'a file at the deepest watched level');
  },
);

t.test('the backstop check: a callback only when it says yes (or fails)', async (t) => {
  const dir = tempDir('pm-watch-');
  let answer: boolean | Error = false;
  let asked = 0;
  const w = watchFor(t, dir, {
    backstopMs: 20,
    hasChanged: async () => {
      asked++;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  });
  await w.watch.ready;
  await waitFor(() => asked >= 5, 'five checks');
  t.equal(w.calls.length, 0, 'five quiet checks, no callback');
  answer = true;
  await w.next(1, 'a yes');
  t.equal(w.calls[0], 'backstop poll');
  answer = false;
  const quiet = asked;
  await waitFor(() => asked >= quiet + 5, 'five more checks');
  const count = w.calls.length;
  answer = new Error('EIO');
  await w.next(count + 1, 'a failed check');
});

t.test(
  'the default backstop check: a change no event reports (behind a symlink) is found by its stat signature',
  async (t) => {
    const root = tempDir('pm-watch-');
    const dir = path.join(root, 'tls');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(root, 'elsewhere.crt'), 'one');
    fs.symlinkSync(path.join(root, 'elsewhere.crt'), path.join(dir, 'tls.crt'));
    fs.writeFileSync(path.join(dir, 'unrelated'), 'x');
    const w = watchFor(t, dir, { backstopMs: 50, accept: (name) => name === 'tls.crt' });
    await w.watch.ready;
    fs.writeFileSync(path.join(root, 'elsewhere.crt'), 'two, longer');
    await w.next(1, 'the backstop to see the change behind the symlink');
    t.equal(w.calls[0], 'backstop poll');
  },
);

t.test('close: no inotify watch is left, and a process that closed its watch exits by itself', async (t) => {
  const dir = path.join(tempDir('pm-watch-'), 'secrets');
  const before = inotifyWatches();
  const present = watchMountedDirectory(tempDir('pm-watch-'), () => {}, { backstopMs: 600_000, recursive: true });
  const missing = watchMountedDirectory(dir, () => {}, { backstopMs: 600_000 });
  await Promise.all([present.ready, missing.ready]);
  t.equal(inotifyWatches() - before, 2, 'one watch each: the directory, and the ancestor of the missing one');
  present.close();
  missing.close();
  t.equal(inotifyWatches(), before, 'none after close');

  // In a process of its own: a burst under way and the backstop armed when it closes; nothing else keeps it alive.
  const script = `
    import fs from 'node:fs';
    import { watchMountedDirectory } from ${JSON.stringify(path.join(ROOT, 'src/files/watch-mounted-directory.ts'))};
    const dir = ${JSON.stringify(tempDir('pm-watch-'))};
    const watch = watchMountedDirectory(dir, () => {
      fs.writeFileSync(dir + '/again', 'x'); // a new burst begins
      watch.close();
      console.log('closed');
    }, { backstopMs: 600_000 });
    await watch.ready;
    fs.writeFileSync(dir + '/a', 'A');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  const [code] = await within(
    new Promise<[number | null]>((resolve) => child.on('exit', (exitCode) => resolve([exitCode]))),
    'the process to exit after close()',
    20_000,
  );
  t.equal(code, 0);
  t.equal(output.trim(), 'closed');
});
