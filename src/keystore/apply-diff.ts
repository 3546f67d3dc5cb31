// Turns a diff into as few elasticsearch-keystore calls as the CLI allows:
// one `add-file -f` carrying every changed pair (ES >= 7.7), one `remove`
// carrying every deleted name. Older CLIs take one pair per call; that is
// detected from their usage error and remembered.
//
// Names and paths come after `--`: a Secret key such as `--help` or `-f` is a
// valid setting name ([A-Za-z0-9_-.]+), and joptsimple, which parses the CLI's
// options anywhere on the line, would otherwise take it for an option (every
// ES version's parser ends options at `--`).

import type { Logger } from '../log/logger.ts';
import { cliErrorLine, type CliResult, type CliRunner } from './keystore-cli.ts';
import type { SourceEntry } from './scan-source.ts';

export interface ApplyRequest {
  readonly upserts: readonly SourceEntry[];
  readonly removals: readonly string[];
  readonly keystoreExists: boolean;
  /** undefined: the keystore has no password. */
  readonly password: string | undefined;
}

export interface ApplyOutcome {
  readonly ok: boolean;
  readonly reason?: string;
  /** Names whose new value is saved; all or nothing per CLI call. */
  readonly upserted: readonly string[];
  /** Names no longer in the keystore (removed, or found already gone). */
  readonly removed: readonly string[];
  /** True once a call saved anything, the keystore's creation included. */
  readonly hasWritten: boolean;
  /** The CLI could not find a source file: the Secret was swapped under us, look again. */
  readonly isSourceGone: boolean;
  readonly calls: number;
}

export interface Applier {
  apply(request: ApplyRequest): Promise<ApplyOutcome>;
  /** null until a multi-pair add-file has been tried. */
  supportsMultiPair(): boolean | null;
}

const END_OF_OPTIONS = '--';
const EXIT_USAGE = 64;
const EXIT_CONFIG = 78;
const PRE_77_EXTRA_ARGUMENTS = /Unrecognized extra arguments/;
const SOURCE_FILE_MISSING = /File \[.*\] does not exist/;
const SETTING_MISSING = /Setting \[([^\]]+)\] does not exist in the keystore/;

export function createApplier(runCli: CliRunner, log: Logger): Applier {
  let multiPair: boolean | null = null;

  return {
    supportsMultiPair: () => multiPair,
    async apply(request) {
      const progress = { upserted: [] as string[], removed: [] as string[], hasWritten: false, calls: 0 };
      // The password line comes first on stdin; an unprotected keystore never reads it.
      const passwordLine = request.password === undefined ? '' : `${request.password}\n`;
      const call = async (args: string[], stdin = passwordLine): Promise<CliResult> => {
        progress.calls++;
        return runCli(args, stdin);
      };
      const failed = (command: string, result: CliResult): ApplyOutcome => ({
        ok: false,
        reason: describeFailure(command, result),
        isSourceGone: result.kind === 'exited' && SOURCE_FILE_MISSING.test(result.stderr),
        ...progress,
      });

      if (request.upserts.length > 0) {
        // add-file -f would create an unprotected keystore: a protected one is created first.
        if (!request.keystoreExists && request.password !== undefined) {
          const created = await call(['create', '-p'], `${request.password}\n${request.password}\n`);
          if (!succeeded(created)) return failed('create -p', created);
          progress.hasWritten = true;
        }
        const pairs = request.upserts.map((entry) => [entry.name, entry.file]);
        let batches = multiPair === false ? pairs.map((pair) => [pair]) : [pairs];
        for (let i = 0; i < batches.length; i++) {
          const batch = batches[i];
          const result = await call(['add-file', '-f', END_OF_OPTIONS, ...batch.flat()]);
          if (batch.length > 1 && isPre77UsageError(result)) {
            // Pre-7.7 checks its arguments after auto-creating the keystore, before saving any setting.
            multiPair = false;
            progress.hasWritten ||= !request.keystoreExists;
            log.info('elasticsearch-keystore predates 7.7 (one setting per add-file call); adding settings one by one', { 'event.action': 'keystore-sync' });
            batches = [...batches.slice(0, i), ...batch.map((pair) => [pair]), ...batches.slice(i + 1)];
            i--;
            continue;
          }
          if (!succeeded(result)) return failed('add-file', result);
          if (batch.length > 1) multiPair = true;
          progress.upserted.push(...batch.map(([name]) => name));
          progress.hasWritten = true;
        }
      }

      let removals = [...request.removals];
      while (removals.length > 0) {
        const result = await call(['remove', END_OF_OPTIONS, ...removals]);
        if (succeeded(result)) {
          progress.removed.push(...removals);
          progress.hasWritten = true;
          break;
        }
        // Someone removed one of ours already; remove stopped there without saving. Drop it, go on.
        const missing = result.kind === 'exited' && result.code === EXIT_CONFIG ? SETTING_MISSING.exec(result.stderr)?.[1] : undefined;
        if (missing === undefined || !removals.includes(missing)) return failed('remove', result);
        log.info(`${missing} was already gone from the keystore`, { 'event.action': 'keystore-sync' });
        progress.removed.push(missing);
        removals = removals.filter((name) => name !== missing);
      }
      return { ok: true, isSourceGone: false, ...progress };
    },
  };
}

function succeeded(result: CliResult): boolean {
  return result.kind === 'exited' && result.code === 0;
}

function isPre77UsageError(result: CliResult): boolean {
  return result.kind === 'exited' && result.code === EXIT_USAGE && PRE_77_EXTRA_ARGUMENTS.test(result.stderr);
}

function describeFailure(command: string, result: CliResult): string {
  if (result.kind === 'spawnFailed') return result.reason;
  if (result.kind === 'timedOut') {
    return `elasticsearch-keystore ${command} gave no answer within ${result.deadlineMs / 1000} s; its process group was killed (last error output: ${cliErrorLine(result.stderr)})`;
  }
  const status = result.code !== null ? `exit code ${result.code}` : `signal ${result.signal}`;
  let reason = `elasticsearch-keystore ${command} failed with ${status}: ${cliErrorLine(result.stderr)}`;
  if (/unable to read from standard input/.test(result.stderr)) reason += ' (is the keystore password-protected? set KEYSTORE_PASSWORD or KEYSTORE_PASSWORD_FILE)';
  return reason;
}
