/** The exit-code table of CONTRACT.md, in one place. */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  validation: 3,
  auth: 4,
  rejected: 5,
  inDoubt: 6,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * What an exit code means, in a line and a next step, for a run that ends with it without a more
 * particular message (the `error` event of --json).
 */
export const EXIT_MEANING: Readonly<Record<number, { message: string; hint: string }>> = {
  1: { message: 'internal error: this is a bug in batchsend', hint: 'please report it with the output of the run' },
  2: { message: 'usage, configuration or environment error', hint: 'see --help' },
  3: { message: 'validation failed: nothing was sent', hint: 'fix the rows, or pass --skip-invalid' },
  4: { message: 'authentication or permission failed', hint: 'check the key id, the key secret and the project id' },
  5: { message: 'some batches were rejected or not sent', hint: 'see the batch events; run the same command again to send the batches not sent' },
  6: { message: 'some batches are in doubt, or were sent twice', hint: 'see batchsend status --remote, then run the same command again' },
  130: { message: 'interrupted', hint: 'run the same command again to resume' },
};

/** An expected failure: carries the exit code, a one-line message and an optional hint. */
export class ExitError extends Error {
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExitError';
  }
}

/** Usage or configuration problem, or a problem with the file as a whole or the template: exit 2. */
export class UsageError extends ExitError {
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(ExitCode.usage, message, hint, options);
    this.name = 'UsageError';
  }
}

/** A problem with the input file as a whole, at a known place. Exit 2. */
export class InputFileError extends UsageError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(line === undefined ? `${file}: ${reason}` : `${file}:${line}: ${reason}`, undefined, options);
    this.name = 'InputFileError';
  }
}
