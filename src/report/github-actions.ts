import { isAbsolute, relative, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import type { Progress, Reporter, Summary } from './reporter.js';
import { formatCount, formatDuration } from './terminal.js';

/**
 * Under GitHub Actions: row errors as `::error file=…,line=…::` annotations (on stderr, so that
 * `--json` stdout stays NDJSON) and the summary appended to $GITHUB_STEP_SUMMARY as Markdown.
 */

export const ANNOTATED_ROW_ERRORS = 50;

/**
 * For TokenProvider's onToken: under GitHub Actions, register each token as a secret as it is
 * issued — on stderr, so that --json stdout stays NDJSON and an events file holds no token.
 */
export function tokenMask(stderr: Writable, underGitHubActions: boolean): ((token: string) => void) | undefined {
  return underGitHubActions ? (token) => void stderr.write(`::add-mask::${token}\n`) : undefined;
}

/** Workflow-command data: %, CR and LF escaped (GitHub's own toolkit escapes these). */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Workflow-command property values: also ':' and ','. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export interface GitHubActionsOptions {
  readonly stderr: Writable;
  /** Appends Markdown to the step summary file; undefined when GITHUB_STEP_SUMMARY is not set. */
  readonly appendSummary: ((markdown: string) => void) | undefined;
  /** GITHUB_WORKSPACE (annotation paths are relative to it) and the working directory. */
  readonly workspace: string | undefined;
  readonly cwd: string;
  /** What ran, for the summary's title, e.g. `send recipients.csv`. */
  readonly title: string;
}

/** Markdown table of the summary's counts. */
export function summaryMarkdown(title: string, s: Summary): string {
  const rows: Array<[string, string]> = [
    ['rows read', formatCount(s.rowsRead)],
    ['valid', formatCount(s.valid)],
    ['invalid', formatCount(s.invalid)],
    ['duplicates', formatCount(s.duplicates)],
  ];
  if (s.kind === 'send') {
    rows.push(
      ['batches accepted', formatCount(s.batches.accepted)],
      ['batches rejected', formatCount(s.batches.rejected)],
      ['batches not sent', formatCount(s.batches.notSent)],
      ['batches in doubt', formatCount(s.batches.inDoubt)],
      ['recipients accepted', formatCount(s.recipientsAccepted)],
    );
  } else {
    rows.push([s.kind === 'validate' ? 'batches that would be sent' : 'batches built', formatCount(s.batches.planned)]);
  }
  rows.push(['elapsed', formatDuration(s.elapsedMs)]);
  const mode = { validate: 'validation only: nothing sent', 'dry-run': 'dry run: nothing sent', send: 'sent' }[s.kind];
  const cell = (text: string): string => text.replace(/\|/g, '\\|');
  return [`### batchsend ${cell(title)} (${mode})`, '', '| | |', '|---|---:|', ...rows.map(([k, v]) => `| ${k} | ${v} |`), ''].join('\n') + '\n';
}

export class GitHubActionsReporter implements Reporter {
  private annotated = 0;
  private notAnnotated = 0;

  constructor(private readonly options: GitHubActionsOptions) {}

  private path(file: string): string {
    if (file === 'stdin' || this.options.workspace === undefined) return file;
    const rel = relative(this.options.workspace, resolve(this.options.cwd, file));
    return rel.startsWith('..') || isAbsolute(rel) ? file : rel;
  }

  startProgress(_label: string, _progress: () => Progress): void {}
  stopProgress(): void {}
  rowError(file: string, line: number, message: string): void {
    if (this.annotated >= ANNOTATED_ROW_ERRORS) {
      this.notAnnotated++;
      return;
    }
    this.annotated++;
    this.options.stderr.write(`::error file=${escapeProperty(this.path(file))},line=${line}::${escapeData(message)}\n`);
  }
  duplicate(): void {}
  warning(): void {}
  validated(): void {}
  batch(): void {}
  sentTwice(): void {}
  testSent(): void {}
  preview(): void {}
  note(): void {}
  close(): void {
    if (this.notAnnotated > 0) {
      this.options.stderr.write(`::error::${formatCount(this.notAnnotated)} more invalid rows (only the first ${ANNOTATED_ROW_ERRORS} are annotated; --json lists them all)\n`);
    }
  }
  summary(s: Summary): void {
    this.options.appendSummary?.(summaryMarkdown(this.options.title, s));
  }
}
