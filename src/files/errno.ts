// The errno name (ENOENT, EACCES, ESRCH, ...) of whatever a system call threw,
// or undefined when it carries none. Callers decide by it which failure is
// expected (a file not there yet) and which is worth a reason in the status.

export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
