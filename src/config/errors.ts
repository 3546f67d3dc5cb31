import { EXIT } from './options.ts';

/** A problem with how the manager was invoked or configured; main prints it and exits. */
// No parameter properties: tests import the parser straight from src/, and Node strips types only.
export class StartupError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = 'StartupError';
    this.exitCode = exitCode;
  }
}

/** The command line cannot be understood (exit 64). */
export function usageError(message: string): StartupError {
  return new StartupError(message, EXIT.USAGE);
}

/** A value was understood but is not acceptable (exit 78); the message names its source. */
export function configError(message: string): StartupError {
  return new StartupError(message, EXIT.CONFIG);
}
