import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../exit-codes.js';
import type { RunShape } from '../state/run-identity.js';
import { resolveFormat, type InputFormat } from '../input/format.js';
import { MAX_BATCH_SIZE } from '../batch/batch-body.js';
import { isKnownCountry } from '../recipient/phone.js';
import type { RecipientOptions } from '../recipient/recipient.js';
import { CHANNELS, type Channel } from '../template/channels.js';
import type { SmsOptions } from '../sms/sms-rows.js';

/** The options of `validate` and `send`, as commander hands them over (strings, flags). */
export interface RawCheckOptions {
  readonly template?: string;
  readonly format?: string;
  readonly delimiter?: string;
  readonly encoding?: string;
  readonly rename?: readonly string[];
  readonly identityColumn?: string;
  readonly channel?: string;
  readonly defaultCountry?: string;
  readonly allowDuplicates?: boolean;
  readonly allowEmpty?: boolean;
  readonly skipInvalid?: boolean;
  readonly json?: boolean;
  readonly journal?: string;
  readonly state?: string;
  readonly appId?: string;
  readonly batchSize?: string;
  readonly tracking?: boolean;
  readonly dryRun?: boolean;
  readonly out?: string;
  readonly maxSmsParts?: string;
  readonly smsPrice?: string;
  readonly gsmSafe?: boolean;
  readonly preview?: string;
}

/** The same options, checked and typed. */
export interface CheckOptions {
  readonly recipients: string;
  readonly template: string;
  readonly format: InputFormat;
  /** CSV/TSV: the field delimiter; undefined: detected from the header line. Part of the run's identity. */
  readonly delimiter: string | undefined;
  /** The input's text encoding as TextDecoder names it ('utf-8' reads UTF-8/UTF-16 with a BOM). Part of the run's identity. */
  readonly encoding: string;
  /** --rename: column name in the file → the name used, in the order given. Part of the run's identity. */
  readonly renames: ReadonlyMap<string, string>;
  readonly recipient: RecipientOptions;
  readonly allowDuplicates: boolean;
  readonly allowEmpty: boolean;
  readonly skipInvalid: boolean;
  readonly json: boolean;
  /** An explicit journal file (--journal); else the run is found in the state by its identity. */
  readonly journal: string | undefined;
  /** --state, when given (else BATCHSEND_STATE or the default). */
  readonly state: string | undefined;
  readonly appId: string | undefined;
  readonly batchSize: number;
  readonly tracking: boolean;
  readonly dryRun: boolean;
  readonly out: string | undefined;
  /** SMS measurement: --max-sms-parts, --sms-price, --gsm-safe (which changes what is sent: it shapes the batches). */
  readonly sms: SmsOptions;
  /** --preview N: rendered messages to print (0: none). */
  readonly preview: number;
}

/** A whole number flag from `min` to `max`, or undefined when not given. */
function wholeFlag(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} '${raw}' must be a whole number from ${min} to ${max}`);
  }
  return value;
}

function smsOptions(raw: RawCheckOptions): SmsOptions {
  let price: number | undefined;
  if (raw.smsPrice !== undefined) {
    price = Number(raw.smsPrice);
    if (raw.smsPrice.trim() === '' || !Number.isFinite(price) || price < 0) {
      throw new UsageError(`--sms-price '${raw.smsPrice}' must be a price per SMS part, a number of 0 or more`, 'e.g. --sms-price 0.045');
    }
  }
  return { maxParts: wholeFlag('--max-sms-parts', raw.maxSmsParts, 1, 255), price, gsmSafe: raw.gsmSafe === true };
}

function parseDelimiter(raw: string | undefined, format: InputFormat): string | undefined {
  if (raw === undefined) return format === 'tsv' ? '\t' : undefined;
  const named: Record<string, string> = { '\\t': '\t', tab: '\t', comma: ',', semicolon: ';', pipe: '|' };
  const delimiter = named[raw.toLowerCase()] ?? raw;
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new UsageError(`--delimiter '${raw}' must be one character other than a quote or newline`, "e.g. --delimiter ';' or --delimiter tab");
  }
  return delimiter;
}

/** --encoding: a label TextDecoder knows (windows-1252, latin1, utf-16le, …), in its canonical name. */
export function parseEncoding(raw: string | undefined): string {
  if (raw === undefined) return 'utf-8';
  let encoding: string;
  try {
    encoding = new TextDecoder(raw).encoding;
  } catch {
    throw new UsageError(`--encoding '${raw}' is not an encoding this Node.js knows`, 'e.g. --encoding windows-1252 (Excel on Windows), latin1, utf-16le');
  }
  return encoding;
}

/** --rename 'First Name=first_name', repeatable: the file's column name, then the name to use. */
export function parseRenames(raw: readonly string[] | undefined): Map<string, string> {
  const renames = new Map<string, string>();
  for (const spec of raw ?? []) {
    const at = spec.lastIndexOf('=');
    const from = at === -1 ? '' : spec.slice(0, at).trim();
    const to = at === -1 ? '' : spec.slice(at + 1).trim();
    if (from === '' || to === '') throw new UsageError(`--rename '${spec}' must be 'COLUMN=NAME'`, "e.g. --rename 'First Name=first_name'");
    if (renames.has(from)) throw new UsageError(`--rename names the column '${from}' twice`);
    renames.set(from, to);
  }
  return renames;
}

/** Check flag values and combinations. Pure: no files are touched. */
export function checkOptions(recipients: string, raw: RawCheckOptions, cwd: string): CheckOptions {
  if (raw.template === undefined) throw new UsageError('--template is required', 'e.g. batchsend validate recipients.csv --template t.json');
  const format = resolveFormat(recipients, raw.format);
  const delimiter = parseDelimiter(raw.delimiter, format);
  if ((raw.identityColumn === undefined) !== (raw.channel === undefined)) {
    throw new UsageError('--identity-column and --channel go together', 'e.g. --identity-column phone --channel SMS');
  }
  let channel: Channel | undefined;
  if (raw.channel !== undefined) {
    channel = CHANNELS.find((c) => c === raw.channel!.toUpperCase());
    if (channel === undefined) throw new UsageError(`--channel '${raw.channel}' is not a channel`, `use one of: ${CHANNELS.join(', ')}`);
  }
  let defaultCountry: string | undefined;
  if (raw.defaultCountry !== undefined) {
    defaultCountry = raw.defaultCountry.toUpperCase();
    if (!isKnownCountry(defaultCountry)) {
      throw new UsageError(`--default-country '${raw.defaultCountry}' is not a two-letter country code`, 'e.g. --default-country SE');
    }
  }
  const batchSize = raw.batchSize === undefined ? MAX_BATCH_SIZE : Number(raw.batchSize);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new UsageError(`--batch-size '${raw.batchSize}' must be a whole number from 1 to ${MAX_BATCH_SIZE}`);
  }
  if (raw.out !== undefined && !raw.dryRun) throw new UsageError('--out goes with --dry-run', 'e.g. batchsend send r.csv --template t.json --dry-run --out batches/');
  const absolute = (p: string): string => (isAbsolute(p) ? p : resolve(cwd, p));
  return {
    recipients,
    template: raw.template,
    format,
    delimiter,
    encoding: parseEncoding(raw.encoding),
    renames: parseRenames(raw.rename),
    recipient: { identityColumn: raw.identityColumn?.trim(), identityChannel: channel, defaultCountry },
    allowDuplicates: raw.allowDuplicates === true,
    allowEmpty: raw.allowEmpty === true,
    skipInvalid: raw.skipInvalid === true,
    json: raw.json === true,
    journal: raw.journal !== undefined ? absolute(raw.journal) : undefined,
    state: raw.state,
    appId: raw.appId,
    batchSize,
    tracking: raw.tracking !== false,
    dryRun: raw.dryRun === true,
    out: raw.out !== undefined ? absolute(raw.out) : undefined,
    sms: smsOptions(raw),
    preview: wholeFlag('--preview', raw.preview, 1, 100) ?? 0,
  };
}

/** The batch-shaping options and endpoint of a send: what makes it the same run or another. */
export function runShapeOf(options: CheckOptions, delimiter: string | undefined, appId: string, api: { readonly api: string; readonly projectId: string }): RunShape {
  return {
    format: options.format,
    delimiter: delimiter ?? '',
    encoding: options.encoding,
    renames: [...options.renames],
    identityColumn: options.recipient.identityColumn ?? null,
    channel: options.recipient.identityChannel ?? null,
    defaultCountry: options.recipient.defaultCountry ?? null,
    allowDuplicates: options.allowDuplicates,
    batchSize: options.batchSize,
    tracking: options.tracking,
    gsmSafe: options.sms.gsmSafe,
    api: api.api,
    projectId: api.projectId,
    appId,
  };
}

