/** A failure to report in one line; `usage` ones exit 2, the rest 1. */
export class CliError extends Error {
  // Said by name too: the start-up bundle (CommonJS) and the commands' chunks each have this class.
  override name = 'CliError';
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
  }
}
