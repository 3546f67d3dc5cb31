import { EXIT } from './options.ts';

/** A problem with how the manager was invoked or configured; main prints it and exits. */
export class StartupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'StartupError';
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
