import { KEYSTORE_VARIABLES, type KeystoreVariable } from './keystore-env.ts';
import { envNameOf, OPTIONS, type OptionSpec } from './options.ts';

declare const __PM_VERSION__: string | undefined;

/** Replaced at bundle time; a run from source (deno run, tsx) says so. */
export const VERSION: string = typeof __PM_VERSION__ === 'string' ? __PM_VERSION__ : '0.0.0-source';

export function helpText(): string {
  const options = Object.values(OPTIONS as Record<string, OptionSpec>).map((spec) => {
    const head = `  ${spec.flag} ${spec.metavar}`;
    const shown = spec.defaultValue ?? spec.defaultText;
    const defaultText = shown ? ` (default: ${shown})` : '';
    return `${head.padEnd(32)} ${spec.help}${defaultText}\n${''.padEnd(33)}env ${envNameOf(spec)}`;
  });
  const variables = Object.values(KEYSTORE_VARIABLES as Record<string, KeystoreVariable>).map((v) => {
    const names = v.alias ? `${v.name} | ${v.alias}` : v.name;
    const defaultText = v.defaultValue ? ` (default: ${v.defaultValue})` : '';
    return `  ${names.padEnd(46)} ${v.help}${defaultText}`;
  });
  return `process-manager ${VERSION}: PID 1 and process manager for an Elasticsearch container

Usage:
  process-manager [options] [-- ARG...]   supervise --cmd (ARGs are passed to it)
  process-manager install DIR [--owner UID[:GID]|none]
                                          lay down DIR/process-manager (the PID-1 helper, the
                                          Pod's command) and this runtime beside it, mode 0755;
                                          run as root, give DIR to the user ES runs as (1000:0)
  process-manager ctl [--json] COMMAND [ARG]
                                          ask the running manager, over its Unix socket:
                                          status, start, stop, restart, kill, health,
                                          wait started|stopped|ready, signal SIG, keystore,
                                          metrics (process-manager ctl --help)
  process-manager config-checksum PATH... the checksum of the configuration at PATHs, as
                                          GET /NAME/status reports it for --config-path
  process-manager cluster-restart [--mode rolling|full] [OPTION...]
                                          restart the nodes of a cluster in place through
                                          their managers (see docs/contract.md)
  process-manager --help | --version

Options (each also read from the environment variable shown; the flag wins;
durations accept 500ms, 5s, 2m, 1h, 2m30s or plain seconds, up to 24 days):
${options.join('\n')}

Keystore updater (environment only):
${variables.join('\n')}

Exit status: the process's last status (its code, or 128+signal); 0 when it was
not running; 64 usage error; 78 configuration error; 70 internal error.
config-checksum: 0 printed; 65 the paths cannot be checksummed (stderr says why).
ctl: 0 done; 1 refused or failed; 64 usage; 69 no manager answers on the socket;
75 busy, no answer, or a wait timed out; 77 permission denied on the socket.
cluster-restart: 0 done; 1 a step failed (the message says how to resume); 64 usage;
69 ES or a manager unreachable at the start; 75 the cluster's health refused the start.
`;
}
