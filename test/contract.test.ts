// docs/contract.md is the page operators read; OPTIONS and the app's routes
// are what the executable does. This reads the contract's option table and its
// API table and fails on any flag, metavar, default or route that differs, so
// the page cannot drift from the code in either direction.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createApi } from '../src/api/app.ts';
import { envNameOf, OPTIONS, type OptionSpec } from '../src/config/options.ts';
import { HELPER_VARIABLES } from '../src/pid1/handoff.ts';
import { createSupervisor } from '../src/supervisor/supervisor.ts';
import { createFakeSystem, supervisorConfig } from './helpers/fake-system.ts';
import { ROOT } from './helpers/manager.ts';

const CONTRACT = fs.readFileSync(path.join(ROOT, 'docs/contract.md'), 'utf8');

/** The rows of the first table after the heading `heading`, as arrays of raw cells. */
function tableAfter(heading: string): string[][] {
  const start = CONTRACT.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`docs/contract.md has no heading '${heading}'`);
  const lines = CONTRACT.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    // Cells are split on unescaped pipes; `\|` inside a cell is a literal one.
    rows.push(
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim().replaceAll('\\|', '|')),
    );
  }
  return rows;
}

const plain = (cell: string) => cell.replaceAll('`', '');

/** `--tls-cert F`, `--tls-key F` → [['--tls-cert', 'F'], ['--tls-key', 'F']]. */
function flagsOf(cell: string): [string, string][] {
  return [...cell.matchAll(/`(--[a-z-]+) ([^`]+)`/g)].map((m) => [m[1], m[2]]);
}

t.test('the contract lists every option with the flag, metavar and default the parser uses', async (t) => {
  const rows = tableAfter('## Command line');
  const documented = new Map<string, { metavar: string; defaultCell: string }>();
  for (const [flagCell, defaultCell] of rows) {
    for (const [flag, metavar] of flagsOf(flagCell)) documented.set(flag, { metavar, defaultCell });
  }
  const specs: OptionSpec[] = Object.values(OPTIONS);
  t.same(
    [...documented.keys()].sort(),
    specs.map((spec) => spec.flag).sort(),
    'the same flags, none missing, none extra',
  );
  for (const spec of specs) {
    const row = documented.get(spec.flag);
    if (!row) continue;
    t.equal(row.metavar, spec.metavar, `${spec.flag}: metavar`);
    if (spec.defaultValue !== undefined)
      t.equal(row.defaultCell, '`' + spec.defaultValue + '`', `${spec.flag}: default`);
    else if (spec.defaultText !== undefined)
      t.equal(plain(row.defaultCell), spec.defaultText, `${spec.flag}: default (described)`);
    else t.match(row.defaultCell, /^(—|required)$/, `${spec.flag}: no default`);
  }
});

t.test('every PM_ variable the contract names is an option’s or the PID-1 helper’s', async (t) => {
  const optionVariables = new Set(Object.values(OPTIONS).map((spec) => envNameOf(spec)));
  // The helper's own variables, and the example of a typo the contract gives on purpose.
  const others = new Set<string>([...HELPER_VARIABLES, 'PM_SHUTDOWN_TIMOUT']);
  const named = new Set([...CONTRACT.matchAll(/\bPM_[A-Z][A-Z_]*[A-Z]\b/g)].map((m) => m[0]));
  for (const name of named)
    t.ok(optionVariables.has(name) || others.has(name), `${name} is something the manager reads`);
});

t.test('the contract’s API table lists exactly the routes the app serves', async (t) => {
  const fake = createFakeSystem();
  const config = supervisorConfig();
  const supervisor = createSupervisor(config, { log: fake.log, onExitRequested: () => {}, system: fake.system });
  const app = createApi({ name: config.name, supervisor, log: fake.log });
  // A path parameter (`:sig`) is written in capitals in the contract (`SIG`).
  const documentedForm = (path: string) =>
    path.replace(`/${config.name}/`, '/NAME/').replace(/:(\w+)/g, (_, param: string) => param.toUpperCase());
  const served = new Set(
    app.routes
      .filter((route) => route.method !== 'ALL')
      .map((route) => `${route.method} ${documentedForm(route.path)}`),
  );
  const documented = new Set<string>();
  for (const [request] of tableAfter('## HTTP API')) {
    // `POST /NAME/start?config=SHA` documents a parameter of a route, not another route.
    for (const m of request.matchAll(/`(GET|POST) ([^`?\s]+)[^`]*`/g)) documented.add(`${m[1]} ${m[2]}`);
  }
  t.same([...documented].sort(), [...served].sort());
});
