// Why a command could not be started, said the same way for every command the
// manager runs (the supervised process, elasticsearch-keystore): the errno
// code, what it means for a command, and the option that named it.

/** What each expected errno of spawn(2)/execve(2) means for the command named. */
const MEANINGS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'not executable',
  ENOEXEC: 'not a valid executable',
  EMFILE: 'out of file descriptors',
  ENFILE: 'out of file descriptors',
};

export interface SpawnErrorDescription {
  /** The errno code, or UNKNOWN. */
  readonly code: string;
  /** Names no path, for what may reach API clients: "cannot run --cmd: ENOENT (no such file)". */
  readonly reason: string;
  /** Names the file, for the log and the keystore's status: "KEYSTORE_BINARY /x not found". */
  readonly detail: string;
}

/** `option`: what named the command (`--cmd`, `KEYSTORE_BINARY`); `file`: the command as given. */
export function describeSpawnError(
  option: string,
  file: string,
  error: NodeJS.ErrnoException | undefined,
): SpawnErrorDescription {
  const code = error?.code ?? 'UNKNOWN';
  const meaning = MEANINGS[code];
  const reason = `cannot run ${option}: ${code} (${meaning ?? 'spawn failed'})`;
  const named = `${option} ${file}`;
  let detail: string;
  if (code === 'ENOENT') detail = `${named} not found`;
  else if (code === 'EACCES') detail = `${named} is not executable (permission denied)`;
  else if (meaning !== undefined) detail = `cannot run ${named}: ${meaning} (${code})`;
  else detail = `cannot run ${named}: ${error?.message ?? 'no process was created'}`;
  return { code, reason, detail };
}
