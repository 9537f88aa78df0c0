/** A failure to report in one line; `usage` ones exit 2, the rest 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
  }
}
