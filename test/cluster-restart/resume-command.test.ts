// The resume line is pasted into a shell by an operator: a shell must read it
// back as the very words of the run, hostile ones included, without --since,
// --dry-run or a repeated --manager.

import { execFileSync } from 'node:child_process';
import t from 'tap';
import { resumeCommand } from '../../src/cluster-restart/report.ts';

// What a POSIX shell makes of the line: one argument per output line (NUL-separated to keep newlines).
function wordsAsShellReadsThem(line: string): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

t.test('hostile words come back exactly', async (t) => {
  const hostile = ["it's", 'a b', '$(touch /nonexistent)', '`id`', 'line\nbreak', '"q"', '\\', '*', ''];
  const argv = ['--mode', 'full', '--es-password-file', ...hostile];
  const since = new Date('2026-12-06T01:02:03.000Z');
  const words = wordsAsShellReadsThem(resumeCommand(argv, since));
  t.same(words, ['process-manager', 'cluster-restart', ...argv, '--since', since.toISOString()]);
});

t.test('--since and --dry-run of the run are left out; managers are added once', async (t) => {
  const since = new Date('2026-12-06T01:02:03.000Z');
  const argv = ['--dry-run', '--since', 'old', '--since=older', '--manager', 'a=https://x:1', '--mode', 'rolling'];
  const line = resumeCommand(argv, since, [
    ['a', 'https://x:1'],
    ['b', 'https://y:2'],
  ]);
  t.same(wordsAsShellReadsThem(line), [
    'process-manager',
    'cluster-restart',
    '--manager',
    'a=https://x:1',
    '--mode',
    'rolling',
    '--manager',
    'b=https://y:2',
    '--since',
    since.toISOString(),
  ]);
});
