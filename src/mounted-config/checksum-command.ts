// `process-manager config-checksum PATH...`: the checksum the manager would
// report for these paths, for an orchestrator or a person to compare with
// `start?config=SHA`; the same function as the manager's, not a second copy.

import { configChecksum } from './checksum.ts';

/** Exit statuses (sysexits.h): 65 when the files cannot be checksummed as they are. */
const EXIT = { OK: 0, DATA: 65 } as const;

export async function printConfigChecksum(
  paths: readonly string[],
  out = process.stdout,
  err = process.stderr,
): Promise<number> {
  const result = await configChecksum(paths);
  if (!result.ok) {
    err.write(`process-manager config-checksum: ${result.detail}\n`);
    return EXIT.DATA;
  }
  out.write(`${result.sha256}\n`);
  return EXIT.OK;
}
