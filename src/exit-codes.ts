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
