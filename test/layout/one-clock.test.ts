// One clock (issue 18): every module reads monotonic time through
// src/clock/clock.ts, so a test can hand a system a clock of its own and no
// module measures a duration or a deadline on the wall clock (Date.now), which
// an NTP step moves.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/manager.ts';

const SRC = path.join(ROOT, 'src');
const CLOCK = path.join('clock', 'clock.ts');
function readersOfTime(): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = path.relative(SRC, path.join(entry.parentPath, entry.name));
    if (file === CLOCK) continue;
    const text = fs.readFileSync(path.join(SRC, file), 'utf8');
    for (const [line, n] of text.split('\n').map((line, i) => [line, i + 1] as const)) {
      if (/performance\.now\(|process\.hrtime|Date\.now\(/.test(line)) found.push(`${file}:${n}: ${line.trim()}`);
    }
  }
  return found;
}

t.test('monotonic time is read in src/clock/ only; no module reads Date.now()', async (t) => {
  t.ok(fs.existsSync(path.join(SRC, CLOCK)), 'the clock module is where this test looks for it');
  t.same(readersOfTime(), [], 'every other module takes its time from src/clock/clock.ts');
});
