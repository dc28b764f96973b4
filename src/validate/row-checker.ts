import { UsageError } from '../exit-codes.js';
import { channelOfHeader, normaliseIdentity, type ChannelIdentity, type RecipientEntry, type RecipientOptions } from '../recipient/recipient.js';
import type { Channel } from '../template/channels.js';
import { judgeForeignPlaceholders } from '../template/foreign-placeholders.js';
import { nearestName } from '../template/nearest-name.js';
import { substitute } from '../template/placeholders.js';
import { loadedSchemas } from '../template/schema-slot.js';
import { TRACKING_ROW_KEY, type Template } from '../template/template-core.js';

export type RowResult = { ok: true; entry: RecipientEntry } | { ok: false; message: string };

/** What each column of a header is for. */
export interface ColumnPlan {
  readonly header: readonly string[];
  readonly contactIndex: number;
  readonly identityIndexes: readonly number[];
  readonly identityChannels: readonly Channel[];
  /** Column index of each template placeholder, aligned with `template.placeholders`; -1 if none. */
  readonly parameterIndexes: readonly number[];
  /** Placeholders with no column. */
  readonly missing: readonly string[];
  /** Columns that are neither recipient nor a used parameter: not sent. */
  readonly unused: readonly string[];
}

export function planColumns(header: readonly string[], placeholders: readonly string[], options: RecipientOptions): ColumnPlan {
  let contactIndex = -1;
  const identityIndexes: number[] = [];
  const identityChannels: Channel[] = [];
  const used = new Set<number>();
  header.forEach((name, index) => {
    if (name === 'contact_id') {
      contactIndex = index;
      used.add(index);
      return;
    }
    const channel = name === options.identityColumn ? options.identityChannel : channelOfHeader(name);
    if (channel !== undefined) {
      identityIndexes.push(index);
      identityChannels.push(channel);
      used.add(index);
    }
  });
  const byName = new Map(header.map((name, index) => [name, index]));
  const parameterIndexes = placeholders.map((name) => byName.get(name) ?? -1);
  parameterIndexes.forEach((index) => index >= 0 && used.add(index));
  return {
    header,
    contactIndex,
    identityIndexes,
    identityChannels,
    parameterIndexes,
    missing: placeholders.filter((_, i) => parameterIndexes[i] === -1),
    unused: header.filter((_, index) => !used.has(index)),
  };
}

const RECIPIENT_HINT = 'add a contact_id column or a column named after a channel (SMS, WHATSAPP, …), or map one with --identity-column NAME --channel CH';

/**
 * Checks one row at a time and builds its `recipient_and_params` entry. Every check that does not
 * depend on the row (the header, the template) is made once, up front.
 */
export class RowChecker {
  private plan: ColumnPlan | undefined;
  private readonly jsonPlans = new Map<string, ColumnPlan>();
  /** The raw keys of the last JSON row that was planned, and their plan. */
  private lastJson: { readonly keys: readonly string[]; readonly plan: ColumnPlan } | undefined;
  private readonly reportedUnused = new Set<string>();
  private judgedForeign = false;

  constructor(
    private readonly template: Template,
    private readonly options: RecipientOptions,
    private readonly file: string,
    private readonly warn: (message: string) => void,
    /** --rename: column name in the file → the name batchsend uses. */
    private readonly renames: ReadonlyMap<string, string> = new Map(),
  ) {}

  /** CSV/TSV: plan the columns; header-level problems throw (exit 2). */
  useHeader(fileHeader: readonly string[]): ColumnPlan {
    for (const from of this.renames.keys()) {
      if (!fileHeader.includes(from)) {
        const near = nearestName(from, fileHeader);
        throw new UsageError(
          `${this.file}:1: --rename '${from}=${this.renames.get(from)}': there is no column '${from}'${near === undefined ? '' : ` (did you mean '${near}'?)`}`,
          `columns are: ${fileHeader.join(', ')} (names are case-sensitive)`,
        );
      }
    }
    const header = fileHeader.map((name) => this.renames.get(name) ?? name);
    const twice = header.find((name, index) => header.indexOf(name) !== index);
    if (twice !== undefined) throw new UsageError(`${this.file}:1: after --rename, two columns are named '${twice}'`);
    this.judgeForeign(header);
    const plan = planColumns(header, this.template.placeholders, this.options);
    if (this.options.identityColumn !== undefined && !header.includes(this.options.identityColumn)) {
      throw new UsageError(
        `${this.file}:1: --identity-column '${this.options.identityColumn}' is not a column (columns: ${header.join(', ')})`,
      );
    }
    if (plan.missing.length > 0) {
      const lines = plan.missing.map((name) => {
        const near = nearestName(name, header);
        return `placeholder \${${name}} has no column in ${this.file}${near === undefined ? '' : ` (did you mean '${near}'?)`}`;
      });
      throw new UsageError(`template ${this.template.path}: ${lines.join('; ')}`, `columns are: ${header.join(', ')} (names are case-sensitive)`);
    }
    if (plan.contactIndex === -1 && plan.identityIndexes.length === 0) {
      throw new UsageError(`${this.file}:1: no recipient column`, RECIPIENT_HINT);
    }
    this.reportUnused(plan.unused);
    this.plan = plan;
    return plan;
  }

  /** CSV/TSV: one data record. */
  checkFields(values: readonly string[]): RowResult {
    const plan = this.plan!;
    if (values.length !== plan.header.length) {
      return { ok: false, message: `has ${values.length} field${values.length === 1 ? '' : 's'}, the header has ${plan.header.length}` };
    }
    return this.checkPlanned(plan, values);
  }

  /** JSON/JSONL: one array element or line. */
  checkValue(value: unknown): RowResult {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { ok: false, message: 'must be a JSON object (flat columns, or {"recipient": …, "parameters": …})' };
    }
    const object = value as Record<string, unknown>;
    if ('recipient' in object && object.recipient !== null && typeof object.recipient === 'object') {
      return this.checkApiShaped(object);
    }
    // Rows of one file nearly always have the same keys in the same order: compare them with the
    // last row's keys as the values are collected, and plan the columns only when they differ.
    const last = this.lastJson;
    const values: string[] = [];
    let same = last !== undefined;
    let i = 0;
    for (const key in object) {
      const cell = object[key];
      if (cell === null || cell === undefined) values.push('');
      else if (typeof cell === 'string') values.push(cell);
      else if (typeof cell === 'number' || typeof cell === 'boolean') values.push(String(cell));
      else return { ok: false, message: `'${this.renames.get(key.trim()) ?? key.trim()}': a value must be a string, number or boolean (or use the API shape {"recipient": …, "parameters": …})` };
      if (same && last!.keys[i] !== key) same = false;
      i++;
    }
    return this.checkJsonColumns(same && i === last!.keys.length ? last!.plan : this.planJsonKeys(Object.keys(object)), values);
  }

  /**
   * JSON/JSONL: a flat object the reader's fast path read — its keys (the same array while the
   * keys stay the same) and values as column text, as `checkValue` would have collected them.
   */
  checkFlat(keys: readonly string[], values: readonly string[]): RowResult {
    const last = this.lastJson;
    return this.checkJsonColumns(last !== undefined && last.keys === keys ? last.plan : this.planJsonKeys(keys), values);
  }

  private checkJsonColumns(planned: ColumnPlan | string, values: readonly string[]): RowResult {
    if (typeof planned === 'string') return { ok: false, message: planned };
    const plan = planned;
    if (plan.missing.length > 0) {
      return { ok: false, message: plan.missing.map((name) => `no value for placeholder \${${name}} (no '${name}' key)`).join('; ') };
    }
    if (plan.contactIndex === -1 && plan.identityIndexes.length === 0) {
      return { ok: false, message: `no recipient: ${RECIPIENT_HINT}` };
    }
    return this.checkPlanned(plan, values);
  }

  /** The plan of a JSON row's keys (trimmed, renamed), from the cache or made now; a string is the row's problem. */
  private planJsonKeys(keys: readonly string[]): ColumnPlan | string {
    const header = keys.map((key) => {
      const trimmed = key.trim();
      return this.renames.get(trimmed) ?? trimmed;
    });
    if (header.includes('')) return 'has a key with no name';
    const signature = header.join('\u0000');
    let plan = this.jsonPlans.get(signature);
    if (plan === undefined) {
      if (new Set(header).size !== header.length) return 'names a key twice (after trimming spaces and --rename)';
      this.judgeForeign(header);
      plan = planColumns(header, this.template.placeholders, this.options);
      this.reportUnused(plan.unused);
      if (this.jsonPlans.size < 1000) this.jsonPlans.set(signature, plan);
    }
    this.lastJson = { keys, plan };
    return plan;
  }

  private checkPlanned(plan: ColumnPlan, values: readonly string[]): RowResult {
    let problems: string[] | undefined;
    const contact = plan.contactIndex >= 0 && !isBlank(values[plan.contactIndex]!) ? values[plan.contactIndex]!.trim() : '';
    let identities: ChannelIdentity[] | undefined;
    for (let i = 0; i < plan.identityIndexes.length; i++) {
      const cell = values[plan.identityIndexes[i]!]!;
      if (isBlank(cell)) continue;
      const channel = plan.identityChannels[i]!;
      const normalised = normaliseIdentity(channel, cell, this.options.defaultCountry);
      if (normalised.ok) (identities ??= []).push({ channel, identity: normalised.identity });
      else (problems ??= []).push(normalised.reason);
    }
    if (contact !== '' && identities !== undefined) {
      (problems ??= []).push('has both a contact_id and a channel identity: give one kind of recipient');
    } else if (contact === '' && identities === undefined && problems === undefined) {
      (problems ??= []).push('no recipient: contact_id and every channel column are empty');
    }
    let parameters: Record<string, string> | undefined;
    const names = this.template.placeholders;
    for (let i = 0; i < names.length; i++) {
      const value = values[plan.parameterIndexes[i]!]!;
      const problem = parameterProblem(names[i]!, value);
      if (problem !== undefined) (problems ??= []).push(problem);
      else (parameters ??= {})[names[i]!] = value;
    }
    if (problems !== undefined) return { ok: false, message: problems.join('; ') };
    const entry: RecipientEntry = {
      recipient: contact !== '' ? { contact_id: contact } : { identified_by: { channel_identities: identities! } },
    };
    if (parameters !== undefined) entry.parameters = parameters;
    return this.checkSubstituted(entry);
  }

  private checkApiShaped(object: Record<string, unknown>): RowResult {
    const { apiShapedRowSchema, describeIssues } = loadedSchemas();
    const parsed = apiShapedRowSchema().safeParse(object);
    if (!parsed.success) return { ok: false, message: describeIssues(parsed.error, '').join('; ') };
    const row = parsed.data;
    const problems: string[] = [];
    let recipient = row.recipient;
    if ('identified_by' in recipient) {
      const identities: ChannelIdentity[] = [];
      for (const { channel, identity } of recipient.identified_by.channel_identities) {
        const normalised = normaliseIdentity(channel, identity, this.options.defaultCountry);
        if (normalised.ok) identities.push({ channel, identity: normalised.identity });
        else problems.push(normalised.reason);
      }
      recipient = { identified_by: { channel_identities: identities } };
    }
    const given = row.parameters ?? {};
    const parameters: Record<string, string> = {};
    for (const name of this.template.placeholders) {
      const value = given[name];
      if (value === undefined) {
        problems.push(`parameters: no value for placeholder \${${name}}`);
        continue;
      }
      const problem = parameterProblem(name, value);
      if (problem !== undefined) problems.push(problem);
      else parameters[name] = value;
    }
    this.reportUnused(Object.keys(given).filter((key) => !this.template.placeholders.includes(key)).map((key) => `parameters.${key}`));
    for (const field of ['message_metadata', 'conversation_metadata'] as const) {
      if (row[field] !== undefined && '_batch_id' in row[field]) problems.push(`${field}._batch_id is reserved by the API`);
    }
    if (row.message_metadata !== undefined && TRACKING_ROW_KEY in row.message_metadata) {
      problems.push(`message_metadata.${TRACKING_ROW_KEY} is reserved: batchsend writes it`);
    }
    if (problems.length > 0) return { ok: false, message: problems.join('; ') };
    const entry: RecipientEntry = { recipient };
    if (this.template.placeholders.length > 0) entry.parameters = parameters;
    if (row.message_metadata !== undefined) entry.message_metadata = row.message_metadata;
    if (row.conversation_metadata !== undefined) entry.conversation_metadata = row.conversation_metadata;
    return this.checkSubstituted(entry);
  }

  /**
   * The checks of the whole entry: Dispatch mode takes channel identities only, and a placeholder in
   * a formatted field (a URL, say) is checked in the row's message after substitution.
   */
  private checkSubstituted(entry: RecipientEntry): RowResult {
    if (this.template.body.processing_strategy === 'DISPATCH_ONLY' && 'contact_id' in entry.recipient) {
      return { ok: false, message: 'has a contact_id, but processing_strategy DISPATCH_ONLY allows only channel identities (identified_by): give a channel column instead' };
    }
    if (!this.template.needsRowSchemaCheck) return { ok: true, entry };
    const { strictMessageSchema, describeIssues } = loadedSchemas();
    const message = substitute(this.template.body.message, entry.parameters ?? {});
    const checked = strictMessageSchema().safeParse(message);
    if (checked.success) return { ok: true, entry };
    return { ok: false, message: `after substitution, ${describeIssues(checked.error, 'message').join('; ')}` };
  }

  /** Once, with the first header seen: another tool's placeholder naming a column stops the run (exit 2). */
  private judgeForeign(columns: readonly string[]): void {
    if (this.judgedForeign) return;
    this.judgedForeign = true;
    const verdict = judgeForeignPlaceholders(this.template.foreignPlaceholders, columns);
    for (const warning of verdict.warnings) this.warn(`template ${this.template.path}: ${warning}`);
    if (verdict.errors.length > 0) {
      throw new UsageError(`template ${this.template.path}: ${verdict.errors.join('\n  ')}`, 'placeholders are written ${name}, with the column name exactly as in the header');
    }
  }

  private reportUnused(columns: readonly string[]): void {
    for (const column of columns) {
      if (this.reportedUnused.has(column)) continue;
      this.reportedUnused.add(column);
      if (this.reportedUnused.size > 100) return;
      this.warn(`${this.file}: column '${column}' is not used by the template: it is not sent`);
    }
  }
}

/** Empty or only whitespace; the common case (a printable ASCII first character) without trim(). */
function isBlank(value: string): boolean {
  if (value.length === 0) return true;
  const first = value.charCodeAt(0);
  if (first > 0x20 && first < 0x7f) return false;
  return value.trim() === '';
}

function parameterProblem(name: string, value: string): string | undefined {
  if (isBlank(value)) return `parameter '${name}' is ${value === '' ? 'empty' : 'only whitespace'}`;
  if (value.includes('${')) return `parameter '${name}' contains '\${', which the API could substitute again`;
  return undefined;
}
