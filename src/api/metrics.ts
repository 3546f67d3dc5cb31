// GET /metrics in the Prometheus text format (version 0.0.4).

import type { Supervisor } from '../supervisor/supervisor.ts';
import { STATES } from '../supervisor/states.ts';
import type { KeystoreMetrics } from '../keystore/status.ts';

type Sample = readonly [labels: string, value: number];

function family(name: string, type: 'gauge' | 'counter', help: string, samples: readonly Sample[]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  return lines.join('\n');
}

/** `ready`: what GET /NAME/ready would say from what is known, without a new check. */
export function renderMetrics(
  name: string,
  supervisor: Supervisor,
  keystore?: KeystoreMetrics,
  logLinesDropped = 0,
  ready: 0 | 1 = 0,
): string {
  const status = supervisor.status();
  const { counters } = supervisor;
  const process = `name="${name}"`;
  const families = [
    family(
      'pm_process_state',
      'gauge',
      'Current state of the supervised process (1 for the current state).',
      STATES.map((s) => [`{${process},state="${s}"}`, s === status.state ? 1 : 0]),
    ),
    family('pm_process_desired_started', 'gauge', '1 when the persisted intent is started, 0 when stopped.', [
      [`{${process}}`, status.desired === 'started' ? 1 : 0],
    ]),
    family('pm_process_starts_total', 'counter', 'Processes spawned by this manager.', [
      [`{${process}}`, counters.starts],
    ]),
    family('pm_process_spawn_failures_total', 'counter', 'Starts that failed to run the command.', [
      [`{${process}}`, counters.spawnFailures],
    ]),
    family(
      'pm_process_exits_total',
      'counter',
      'Process exits by cause.',
      Object.entries(counters.exits).map(([cause, n]) => [`{${process},cause="${cause}"}`, n]),
    ),
    family('pm_process_restarts', 'gauge', 'Starts after the first, across container restarts.', [
      [`{${process}}`, status.restarts],
    ]),
    family(
      'pm_log_lines_dropped_total',
      'counter',
      'Log lines dropped because stdout was full (its reader stalled) or gone.',
      [['', logLinesDropped]],
    ),
    family('pm_ready', 'gauge', '1 while GET /NAME/ready answers 200 by the last check (no check is run for this).', [
      [`{${process}}`, ready],
    ]),
  ];
  if (keystore) {
    families.push(
      family('pm_keystore_syncs_total', 'counter', 'Keystore updates applied.', [['', keystore.syncs]]),
      family('pm_keystore_sync_failures_total', 'counter', 'Keystore updates that failed.', [
        ['', keystore.syncFailures],
      ]),
      family('pm_keystore_reloads_total', 'counter', 'Successful reload_secure_settings calls.', [
        ['', keystore.reloads],
      ]),
      family('pm_keystore_reload_failures_total', 'counter', 'Failed reload_secure_settings calls.', [
        ['', keystore.reloadFailures],
      ]),
      family(
        'pm_keystore_last_sync_timestamp_seconds',
        'gauge',
        'Time of the last successful keystore update (0: none yet).',
        [['', keystore.lastSyncAt ? Date.parse(keystore.lastSyncAt) / 1000 : 0]],
      ),
    );
  }
  return families.join('\n') + '\n';
}
