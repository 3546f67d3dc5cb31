// Turns a diff into as few elasticsearch-keystore calls as the CLI allows:
// one `add-file -f` carrying every changed pair (ES >= 7.7), one `remove`
// carrying every deleted name. Older CLIs take one pair per call; that is
// detected from their usage error and remembered.
//
// Names and paths come after `--`: a Secret key such as `--help` or `-f` is a
// valid setting name ([A-Za-z0-9_-.]+), and joptsimple, which parses the CLI's
// options anywhere on the line, would otherwise take it for an option (every
// ES version's parser ends options at `--`).
//
// The CLI never gets a path to resolve: each file goes as a descriptor we
// opened and re-checked (pin-source), named /dev/fd/N on its command line.

import type { Logger } from '../log/logger.ts';
import { cliErrorLine, type CliResult, type CliRunner } from './keystore-cli.ts';
import { pinSourceFiles, type PinnedFile } from './pin-source.ts';
import { descriptorBudget, isOutOfDescriptors, type DescriptorBudget } from './descriptor-budget.ts';
import type { SourceEntry } from './scan-source.ts';
import { trackRepeats } from '../log/repeats.ts';

export interface ApplyRequest {
  readonly upserts: readonly SourceEntry[];
  /** SOURCE_DIR's realpath as the scan saw it: each file must still lie beneath it. */
  readonly sourceRoot: string;
  readonly removals: readonly string[];
  /** ES_PATH_CONF for every call: the directory of the keystore copy being changed (keystore-swap). */
  readonly configDir: string;
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
  /** A source file moved or changed since the scan (a Secret swap, or worse): nothing of it was applied; look again. */
  readonly isSourceChanged: boolean;
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
/**
 * Most pairs per add-file call, so descriptors per call; fewer when the
 * RLIMIT_NOFILE in force leaves less room (descriptor-budget). Every pair holds one open
 * descriptor in us and in the CLI for the call's length. Node raises its soft
 * RLIMIT_NOFILE to the hard one, which the CLI inherits, but some container
 * runtimes still set the hard limit at 1,024 (most at 1,048,576): 256 leaves
 * room below that for our own sockets and watchers and for the JVM's jars, and
 * exceeds by far the handful of keys a secure-settings Secret holds: only a
 * huge Secret (1 MiB fits thousands of small keys) pays one more JVM launch
 * per further 256 changed keys.
 */
const MAX_PAIRS_PER_CALL = 256;
/** The CLI's fd of the first inherited descriptor: 0-2 are its stdio. */
const FIRST_INHERITED_FD = 3;
const INHERITED_PATH = /\/dev\/fd\/(\d+)/g;
const SOURCE_FILE_MISSING = /File \[.*\] does not exist/;
const SETTING_MISSING = /Setting \[([^\]]+)\] does not exist in the keystore/;

export function createApplier(
  runCli: CliRunner,
  log: Logger,
  budget: (cap: number) => Promise<DescriptorBudget> = descriptorBudget,
): Applier {
  let multiPair: boolean | null = null;
  /** Lowered whenever a call runs out of descriptors anyway (a CLI needing more of its own than we allowed for). */
  let learnedCap = MAX_PAIRS_PER_CALL;
  const saidPairs = trackRepeats(MAX_PAIRS_PER_CALL);
  let lastBudget: DescriptorBudget | null = null;

  /** Smaller calls from now on, and the limit named in the reason. */
  const outOfDescriptors = (failedBatch: number, reason: string): string => {
    learnedCap = Math.max(1, Math.min(learnedCap, Math.floor(failedBatch / 2)));
    if (lastBudget === null || lastBudget.limit === null) return reason;
    return `${reason} (RLIMIT_NOFILE ${lastBudget.limit}, ${lastBudget.open} descriptors open in the manager before the call; raise the limit: ${failedBatch} setting${failedBatch === 1 ? '' : 's'} per call did not fit)`;
  };

  /** Sized to the descriptors free now; said once per new size when it is below the fixed cap. */
  const pairsPerCall = async (wanted: number): Promise<number> => {
    const found = await budget(learnedCap);
    lastBudget = found;
    if (saidPairs.isNew(found.pairs) && found.pairs < wanted) {
      log.info(
        `at most ${found.pairs} setting${found.pairs === 1 ? '' : 's'} per add-file call: RLIMIT_NOFILE ${found.limit ?? 'unlimited'}, ${found.open} descriptors open`,
        {
          'event.action': 'keystore-sync',
        },
      );
    }
    return found.pairs;
  };

  return {
    supportsMultiPair: () => multiPair,
    async apply(request) {
      const progress = { upserted: [] as string[], removed: [] as string[], hasWritten: false, calls: 0 };
      // The password line comes first on stdin; an unprotected keystore never reads it.
      const passwordLine = request.password === undefined ? '' : `${request.password}\n`;
      const call = async (
        args: string[],
        stdin = passwordLine,
        inheritFds: readonly number[] = [],
      ): Promise<CliResult> => {
        progress.calls++;
        return runCli(request.configDir, args, stdin, inheritFds);
      };
      const failed = (command: string, result: CliResult, pinned: readonly PinnedFile[] = []): ApplyOutcome => ({
        ok: false,
        reason: describeFailure(command, result, pinned),
        isSourceChanged: false,
        ...progress,
      });

      if (request.upserts.length > 0) {
        // add-file -f would create an unprotected keystore: a protected one is created first.
        if (!request.keystoreExists && request.password !== undefined) {
          const created = await call(['create', '-p'], `${request.password}\n${request.password}\n`);
          if (!succeeded(created)) return failed('create -p', created);
          progress.hasWritten = true;
        }
        const perCall = await pairsPerCall(request.upserts.length);
        let batches = multiPair === false ? request.upserts.map((entry) => [entry]) : chunk(request.upserts, perCall);
        for (let i = 0; i < batches.length; i++) {
          const batch = batches[i];
          // Opened per call, just before it: a huge Secret never holds more than one call's worth of descriptors.
          const pinned = await pinSourceFiles(request.sourceRoot, batch);
          if (!pinned.ok) {
            const reason = isOutOfDescriptors(pinned.reason)
              ? outOfDescriptors(batch.length, pinned.reason)
              : pinned.reason;
            return { ok: false, reason, isSourceChanged: pinned.isSourceChanged, ...progress };
          }
          let result: CliResult;
          try {
            const pairs = pinned.files.flatMap((file, n) => [file.name, `/dev/fd/${FIRST_INHERITED_FD + n}`]);
            result = await call(
              ['add-file', '-f', END_OF_OPTIONS, ...pairs],
              passwordLine,
              pinned.files.map((file) => file.fd),
            );
          } finally {
            // Whatever the call's end (exit, failure, deadline, spawn error): the CLI is gone, ours are closed.
            await pinned.release();
          }
          if (batch.length > 1 && isPre77UsageError(result)) {
            // Pre-7.7 checks its arguments after auto-creating the keystore, before saving any setting.
            multiPair = false;
            progress.hasWritten ||= !request.keystoreExists;
            log.info(
              'elasticsearch-keystore predates 7.7 (one setting per add-file call); adding settings one by one',
              { 'event.action': 'keystore-sync' },
            );
            batches = [...batches.slice(0, i), ...batch.map((entry) => [entry]), ...batches.slice(i + 1)];
            i--;
            continue;
          }
          if (!succeeded(result)) {
            const failure = failed('add-file', result, pinned.files);
            if (!isOutOfDescriptors(result.kind === 'spawnFailed' ? result.reason : result.stderr)) return failure;
            return { ...failure, reason: outOfDescriptors(batch.length, failure.reason!) };
          }
          if (batch.length > 1) multiPair = true;
          progress.upserted.push(...batch.map((entry) => entry.name));
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
        const missing =
          result.kind === 'exited' && result.code === EXIT_CONFIG
            ? SETTING_MISSING.exec(result.stderr)?.[1]
            : undefined;
        if (missing === undefined || !removals.includes(missing)) return failed('remove', result);
        log.info(`${missing} was already gone from the keystore`, { 'event.action': 'keystore-sync' });
        progress.removed.push(missing);
        removals = removals.filter((name) => name !== missing);
      }
      return { ok: true, isSourceChanged: false, ...progress };
    },
  };
}

function succeeded(result: CliResult): boolean {
  return result.kind === 'exited' && result.code === 0;
}

function isPre77UsageError(result: CliResult): boolean {
  return result.kind === 'exited' && result.code === EXIT_USAGE && PRE_77_EXTRA_ARGUMENTS.test(result.stderr);
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

function describeFailure(command: string, result: CliResult, pinned: readonly PinnedFile[]): string {
  if (result.kind === 'spawnFailed') return result.reason;
  if (result.kind === 'timedOut') {
    return `elasticsearch-keystore ${command} gave no answer within ${result.deadlineMs / 1000} s; its process group was killed (last error output: ${nameDescriptors(cliErrorLine(result.stderr), pinned)})`;
  }
  const status = result.code !== null ? `exit code ${result.code}` : `signal ${result.signal}`;
  let reason = `elasticsearch-keystore ${command} failed with ${status}: ${nameDescriptors(cliErrorLine(result.stderr), pinned)}`;
  if (/unable to read from standard input/.test(result.stderr))
    reason += ' (is the keystore password-protected? set KEYSTORE_PASSWORD or KEYSTORE_PASSWORD_FILE)';
  // The descriptor was open when the CLI started, and /dev/fd/N holds even a deleted file: this is no Secret swap.
  if (pinned.length > 0 && SOURCE_FILE_MISSING.test(result.stderr))
    reason +=
      ' (the CLI did not get the descriptor we passed: is /dev/fd missing, or does a wrapper close inherited descriptors?)';
  return reason;
}

/** "/dev/fd/5" means nothing to an operator: say which setting and source file it carried. */
function nameDescriptors(line: string, pinned: readonly PinnedFile[]): string {
  return line.replace(INHERITED_PATH, (text, fd: string) => {
    const file = pinned[Number(fd) - FIRST_INHERITED_FD];
    return file === undefined ? text : `${text} (${file.name} from ${file.file})`;
  });
}
