// `process-manager ctl --help` and `ctl COMMAND --help`: written for the
// person at a `kubectl exec` prompt, so each command says what it asks of the
// manager and how it exits. One table feeds both, and the parser's list of
// commands is checked against it by the type system.

import type { CtlAction } from './config.ts';
import { PASSABLE } from './signals.ts';

/** Exit statuses of `ctl`, after sysexits: 69 EX_UNAVAILABLE, 75 EX_TEMPFAIL (try again), 77 EX_NOPERM. */
export const CTL_EXIT = { OK: 0, REFUSED: 1, USAGE: 64, UNAVAILABLE: 69, TEMPFAIL: 75, NO_PERMISSION: 77 } as const;

/** `ctl wait` without --timeout. */
export const DEFAULT_WAIT_TIMEOUT = '5m';

const COMMANDS: Readonly<
  Record<CtlAction, { readonly usage: string; readonly summary: string; readonly details: string }>
> = {
  status: { usage: 'status', summary: 'the process: state, pid, since, last exit', details: 'GET /NAME/status.' },
  start: {
    usage: 'start [--config SHA]',
    summary: 'start the process',
    details: 'POST /NAME/start. With --config SHA, only if the mounted configuration (--config-path) has that sha256.',
  },
  stop: {
    usage: 'stop',
    summary: 'stop the process (SIGTERM, SIGKILL after --stop-timeout), waiting until it is gone',
    details: 'POST /NAME/stop.',
  },
  restart: {
    usage: 'restart [--config SHA]',
    summary: 'stop, then start',
    details: 'POST /NAME/restart. --config SHA as for start.',
  },
  kill: {
    usage: 'kill',
    summary: 'SIGKILL to its process group, ending a stop under way',
    details: 'POST /NAME/kill.',
  },
  health: {
    usage: 'health',
    summary: "the manager's health: ok or degraded, and why",
    details: 'GET /health. Exits 0 for degraded too: that is an answer.',
  },
  wait: {
    usage: 'wait started|stopped|ready [--timeout D]',
    summary: 'wait until the process is started, stopped or ready',
    details: `Asks GET /NAME/status (started, stopped) or GET /NAME/ready (ready) every 500 ms until it holds.
"stopped" means no process runs: stopped, killed, exited, failed or not started yet.
--timeout D (default ${DEFAULT_WAIT_TIMEOUT}; 500ms, 30s, 2m, ...): then exit 75 with the last state seen.
Exits 69 or 77 at once when no manager can be asked; an answer that does not come is asked again.`,
  },
  signal: {
    usage: 'signal SIG',
    summary: 'send SIG to the main process (QUIT: a JVM thread dump)',
    details: `POST /NAME/signal/SIG. SIG is one of ${PASSABLE.map((s) => s.slice(3)).join(' ')}, any case,
SIG optional: the signals --forward-signals accepts. TERM and KILL are what stop and kill are for.
Refused (exit 1) when the process does not run.`,
  },
  keystore: {
    usage: 'keystore',
    summary: "the keystore updater's status",
    details: 'GET /keystore/status. Exit 1 when the updater is off.',
  },
  metrics: {
    usage: 'metrics',
    summary: 'the Prometheus metrics, as they are',
    details: 'GET /metrics, printed raw (--json changes nothing).',
  },
};

const EXITS = `Exit status: 0 done; 1 the manager refused or failed it (the reason on stderr);
64 usage; 69 no manager answers on the socket; 75 busy or no answer (try again),
or the wait timed out; 77 permission denied on the socket.`;

const OPTIONS = `Options:
  --json            print the API's JSON body instead of a line for a person
  --socket PATH     the manager's socket (env PM_SOCKET; default: beside the state file)
  --state-file PATH, --name NAME
                    as given to the manager (env PM_STATE_FILE, PM_NAME): they place the socket
  -h, --help        this text; ctl COMMAND --help: that command's`;

export function ctlHelpText(action?: CtlAction): string {
  if (action) {
    const command = COMMANDS[action];
    return `Usage: process-manager ctl [--json] ${command.usage}

${command.summary[0].toUpperCase()}${command.summary.slice(1)}.
${command.details}

${OPTIONS}

${EXITS}
`;
  }
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length)) + 2;
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}${c.summary}`);
  return `Usage: process-manager ctl [OPTION...] COMMAND

Asks the running manager over its Unix socket (mode 0600; no certificate needed).

Commands:
${lines.join('\n')}

${OPTIONS}

${EXITS}
`;
}
