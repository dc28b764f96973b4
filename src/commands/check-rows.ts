import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { ExitCode, ExitError, UsageError } from '../exit-codes.js';
import { openInput } from '../input/open.js';
import type { RecipientEntry } from '../recipient/recipient.js';
import { SHOWN_PROBLEMS, type Reporter, type Summary } from '../report/reporter.js';
import { PreviewPicker } from '../preview/preview-picker.js';
import { renderedLines } from '../preview/rendered-message.js';
import { SmsRows, type InspectedRow, type SmsFigures } from '../sms/sms-rows.js';
import { substitute } from '../template/placeholders.js';
import { displayPath, type Io } from '../report/terminal.js';
import type { Template } from '../template/template.js';
import { RowsCsvWriter } from '../report/rows-csv-writer.js';
import { preflight, type PreflightCounts, type PreflightResult } from '../validate/preflight.js';
import type { CheckOptions } from './check-options.js';

export interface CheckedRows extends PreflightResult {
  /** Where invalid rows were written (--skip-invalid and there were some). */
  readonly invalidFile: string | undefined;
  /** The SMS figures of the rows that will be sent, when any may go as SMS. */
  readonly sms: SmsFigures | undefined;
}

/**
 * The pre-flight as a command step: every row read and checked, problems reported as they are
 * found, invalid rows written with --skip-invalid. Any invalid row without it: exit 3.
 */
export async function checkRows(
  options: CheckOptions,
  template: Template,
  io: Io,
  reporter: Reporter,
  onValid: (line: number, entry: RecipientEntry) => void | Promise<void>,
  hashInput: boolean,
  /** Where --skip-invalid writes the invalid rows. */
  invalidPath: string | undefined,
): Promise<CheckedRows> {
  const source = await openInput(options.recipients, io.stdin, io.cwd);
  const file = options.recipients === '-' ? 'stdin' : options.recipients;
  const invalid = options.skipInvalid && invalidPath !== undefined ? new RowsCsvWriter(invalidPath) : undefined;
  await invalid?.clearStale();
  const counts: PreflightCounts = { rows: 0, valid: 0, invalid: 0, duplicates: 0 };
  const sms = new SmsRows(template, options.sms);
  const cap = template.body.channel_properties?.SMS_MAX_NUMBER_OF_MESSAGE_PARTS;
  if (cap !== undefined && sms.templateMaxParts === undefined) {
    reporter.warning(`template ${template.path}: channel_properties.SMS_MAX_NUMBER_OF_MESSAGE_PARTS '${cap}' is not a whole number above 0: rows are not checked against it`);
  }
  const picker = options.preview > 0 ? new PreviewPicker(options.preview) : undefined;
  // The row just inspected: a row that is valid (not a duplicate) is counted when it is handed on.
  let inspectedEntry: RecipientEntry | undefined;
  let inspectedRow: InspectedRow | undefined;
  let aboveCap = 0;
  reporter.startProgress('Checking rows', () => counts);
  let result: PreflightResult;
  try {
    result = await preflight(
      source,
      template,
      {
        file,
        format: options.format,
        delimiter: options.delimiter,
        encoding: options.encoding,
        renames: options.renames,
        recipient: options.recipient,
        allowDuplicates: options.allowDuplicates,
        allowEmpty: options.allowEmpty,
        hashInput,
        spillDir: tmpdir(),
        duplicateSlots: duplicateSlotsKnob(io.env.BATCHSEND_DUPLICATE_SLOTS),
        inputBytes: options.recipients === '-' ? undefined : await fileSize(resolve(io.cwd, options.recipients)),
      },
      {
        header: (names) => invalid?.useHeader(names),
        rowError: (line, message, original) => {
          reporter.rowError(file, line, message);
          return invalid?.add(`${file}:${line}: ${message}`, original);
        },
        duplicate: (line, first) => reporter.duplicate(file, line, first),
        inspect: (_line, entry) => {
          const row = sms.inspect(entry);
          inspectedEntry = entry;
          inspectedRow = row;
          return row.sms === undefined ? undefined : sms.tooManyParts(row.sms);
        },
        valid: (line, entry) => {
          const row = inspectedEntry === entry ? inspectedRow : undefined;
          if (row !== undefined) sms.add(row);
          const measured = row?.sms;
          if (measured !== undefined) {
            const above = sms.aboveTemplateCap(measured);
            if (above !== undefined && ++aboveCap <= SHOWN_PROBLEMS) reporter.warning(`${file}:${line}: ${above}`);
          }
          picker?.offer(line, renderedLines(substitute(template.body.message, entry.parameters ?? {}) as Record<string, unknown>).join('\n'), measured);
          return onValid(line, entry);
        },
        warning: (message) => reporter.warning(message),
        notice: (message) => reporter.note(message),
      },
      counts,
    );
  } finally {
    reporter.stopProgress();
    await invalid?.close();
  }
  reporter.close();
  if (aboveCap > SHOWN_PROBLEMS) {
    reporter.warning(`… and ${aboveCap - SHOWN_PROBLEMS} more rows above the template's SMS_MAX_NUMBER_OF_MESSAGE_PARTS ${sms.templateMaxParts}`);
  }
  const figures = sms.result();
  if (options.sms.gsmSafe) {
    reporter.note(
      figures === undefined || figures.replaced === 0
        ? '--gsm-safe: no typographic characters to replace'
        : `--gsm-safe: replaced ${figures.replaced} typographic character${figures.replaced === 1 ? '' : 's'} in ${figures.replacedRows} row${figures.replacedRows === 1 ? '' : 's'}`,
    );
  }
  const previews = picker?.picked() ?? [];
  previews.forEach((preview, index) => reporter.preview(file, preview, index + 1, previews.length));
  const written = invalid !== undefined && invalid.count > 0 ? displayPath(io.cwd, invalidPath!) : undefined;
  return { ...result, invalidFile: written, sms: figures };
}

/** Test knob: a small duplicate table, so that tests reach the spill with a few hundred rows. */
function duplicateSlotsKnob(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const slots = Number(raw);
  if (!Number.isInteger(slots) || slots < 16) throw new UsageError(`BATCHSEND_DUPLICATE_SLOTS must be a whole number of at least 16, not '${raw}'`);
  return slots;
}

/** The summary of a run that sent nothing (validate, dry run). */
export function unsentSummary(
  kind: 'validate' | 'dry-run',
  result: CheckedRows,
  batches: number,
  started: number,
  outDir?: string,
): Summary {
  return {
    kind,
    rowsRead: result.rows,
    valid: result.valid,
    invalid: result.invalid,
    duplicates: result.duplicates,
    batches: { planned: batches, accepted: 0, rejected: 0, notSent: 0, inDoubt: 0 },
    recipientsAccepted: 0,
    elapsedMs: Date.now() - started,
    invalidFile: result.invalidFile,
    outDir,
    sms: result.sms,
  };
}

/** Exit 3 when rows are invalid and --skip-invalid was not given. */
export function failOnInvalid(result: Pick<PreflightResult, 'invalid' | 'rows'>, options: CheckOptions): void {
  if (result.invalid > 0 && !options.skipInvalid) {
    throw new ExitError(
      ExitCode.validation,
      `${result.invalid} of ${result.rows} rows are invalid: nothing was sent`,
      'fix the rows above, or pass --skip-invalid to send the valid rows and write the others to invalid.csv',
    );
  }
}

/** The size of a file, if it can be told (openInput has already said whether it can be read). */
async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}
