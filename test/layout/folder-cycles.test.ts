// The imports between capability folders under src/ run one way (issue 18):
// a cycle between two folders means neither can be understood, tested or moved
// without the other. Type-only imports count too: they are the same coupling.

import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/manager.ts';

const SRC = path.join(ROOT, 'src');

/** folder → the other folders its modules import from. */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const entry of fs.readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const from = path.relative(SRC, entry.parentPath);
    if (from === '') continue; // main.ts wires every folder and is imported by none
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const match of fs.readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)) {
      const to = path.relative(SRC, path.dirname(path.resolve(entry.parentPath, match[1])));
      if (to !== from) edges.add(to);
    }
  }
  return graph;
}

/** Every pair of folders that import each other, directly or through others. */
function cycles(graph: Map<string, Set<string>>): string[] {
  const reaches = (from: string, to: string): boolean => {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length > 0) {
      const folder = stack.pop()!;
      if (folder === to) return true;
      if (seen.has(folder)) continue;
      seen.add(folder);
      stack.push(...(graph.get(folder) ?? []));
    }
    return false;
  };
  const found: string[] = [];
  for (const [from, edges] of graph)
    for (const to of edges) if (reaches(to, from)) found.push(`${from} → ${to} → … → ${from}`);
  return found;
}

t.test('no two folders under src/ import each other', async (t) => {
  const graph = folderGraph();
  t.ok(graph.get('log')?.size !== undefined && graph.size >= 8, 'the folders were read');
  t.same(cycles(graph), []);
});
