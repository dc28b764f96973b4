import type { RecipientEntry } from '../recipient/recipient.js';
import type { Template } from '../template/template.js';
import { describeCharacter } from './character-names.js';
import { gsmSafe, gsmSafeReplaces } from './gsm-safe.js';
import { gsmWidth, measurePieces, SMS_LIMITS, type PieceMeasure } from './sms-encoding.js';

/** The SMS options of validate and send. */
export interface SmsOptions {
  /** `--max-sms-parts N`: a row needing more is invalid. */
  readonly maxParts: number | undefined;
  /** `--sms-price P`: the price of one part, for an estimated cost. */
  readonly price: number | undefined;
  /** `--gsm-safe`: replace typographic characters in parameter values. */
  readonly gsmSafe: boolean;
}

/** What the `validated` and `summary` events and the summary say about SMS. */
export interface SmsFigures {
  /** Rows measured: valid rows that may go out as SMS with a text message. */
  readonly rows: number;
  readonly gsm7: number;
  readonly ucs2: number;
  readonly parts: number;
  readonly largest: number;
  /** parts × --sms-price, when a price was given. */
  readonly cost: number | undefined;
  /** --gsm-safe: characters replaced, and in how many rows. */
  readonly replaced: number;
  readonly replacedRows: number;
}

/** The template's `text_message.text` as literal pieces and placeholders, in order. */
interface TextPlan {
  readonly literals: readonly string[];
  /** Placeholder name after literal i (one fewer than literals). */
  readonly names: readonly string[];
  /** Where literal i starts in the template text (0-based code units). */
  readonly offsets: readonly number[];
  readonly text: string;
}

function planText(text: string): TextPlan {
  const literals: string[] = [];
  const names: string[] = [];
  const offsets: number[] = [];
  let from = 0;
  let open: number;
  while ((open = text.indexOf('${', from)) !== -1) {
    const close = text.indexOf('}', open + 2);
    if (close === -1) break;
    literals.push(text.slice(from, open));
    offsets.push(from);
    names.push(text.slice(open + 2, close));
    from = close + 1;
  }
  literals.push(text.slice(from));
  offsets.push(from);
  return { literals, names, offsets, text };
}

/** 1-based position in code points of `index` (a code unit index) in `text`. */
function columnOf(text: string, index: number): number {
  let column = 1;
  for (let i = 0; i < index; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xd800 || code > 0xdbff) column++;
  }
  return column;
}

/** A row's SMS text, measured. */
export interface RowSms extends PieceMeasure {
  /** Where the first character outside GSM-7 came from, in words; undefined for GSM-7. */
  readonly forcedBy?: string;
}

/** A row after inspection: its SMS measure, and the characters --gsm-safe replaced in it. */
export interface InspectedRow {
  readonly sms: RowSms | undefined;
  readonly replaced: number;
}

const NOT_SMS: InspectedRow = { sms: undefined, replaced: 0 };

/**
 * Measures every row that may go out as SMS — an SMS identity, or SMS in the template's
 * `channel_priority_order` — and keeps the figures. A pure function of the rows it is shown.
 */
export class SmsRows {
  private readonly plan: TextPlan | undefined;
  private readonly smsByPriority: boolean;
  /** channel_properties.SMS_MAX_NUMBER_OF_MESSAGE_PARTS, when it is a whole number. */
  readonly templateMaxParts: number | undefined;
  private figures = { rows: 0, gsm7: 0, ucs2: 0, parts: 0, largest: 0, replaced: 0, replacedRows: 0 };
  /** The text's pieces, reused row after row: literals stay, values (odd indexes) are filled in. */
  private readonly pieces: string[];
  /** Septets of the template's literals when all are GSM-7 (measured once); undefined when not. */
  private readonly literalSeptets: number | undefined;

  constructor(
    template: Template,
    private readonly options: SmsOptions,
  ) {
    const text = (template.body.message.text_message as { text?: unknown } | undefined)?.text;
    this.plan = typeof text === 'string' ? planText(text) : undefined;
    this.pieces = this.plan === undefined ? [] : this.plan.literals.flatMap((literal, i) => (i === 0 ? [literal] : ['', literal]));
    const literals = this.plan === undefined ? undefined : measurePieces(this.plan.literals);
    this.literalSeptets = literals !== undefined && literals.firstNonGsm === undefined ? literals.units : undefined;
    this.smsByPriority = template.body.channel_priority_order?.includes('SMS') === true;
    const cap = template.body.channel_properties?.SMS_MAX_NUMBER_OF_MESSAGE_PARTS;
    this.templateMaxParts = cap !== undefined && /^\d+$/.test(cap.trim()) && Number(cap) > 0 ? Number(cap) : undefined;
  }

  /** True when the template's message is one SMS can carry as text (`text_message`). */
  get measures(): boolean {
    return this.plan !== undefined;
  }

  mayGoAsSms(entry: RecipientEntry): boolean {
    if (this.smsByPriority) return true;
    const r = entry.recipient;
    return 'identified_by' in r && r.identified_by.channel_identities.some((identity) => identity.channel === 'SMS');
  }

  /**
   * Prepare and measure one row that passed the other checks: with --gsm-safe its parameter
   * values are made GSM-safe (the entry is changed: it is what will be sent). `sms` is undefined
   * when the row will not go as SMS or the message is not a text.
   */
  inspect(entry: RecipientEntry): InspectedRow {
    if (!this.mayGoAsSms(entry)) return NOT_SMS;
    let replaced = 0;
    if (this.options.gsmSafe && entry.parameters !== undefined) {
      for (const name in entry.parameters) {
        const safe = gsmSafe(entry.parameters[name]!);
        if (safe.replaced === 0) continue;
        entry.parameters[name] = safe.value;
        replaced += safe.replaced;
      }
    }
    const plan = this.plan;
    if (plan === undefined) return { sms: undefined, replaced };
    const values = entry.parameters ?? {};
    const pieces = this.pieces;
    for (let i = 0; i < plan.names.length; i++) pieces[2 * i + 1] = values[plan.names[i]!] ?? `\${${plan.names[i]}}`;
    const measure = this.singleGsmPart(pieces) ?? measurePieces(pieces);
    const first = measure.firstNonGsm;
    // The common case, GSM-7, allocates nothing more (a spread here cost more than the measurement).
    if (first === undefined) return { sms: measure, replaced };
    const piece = pieces[first.piece]!;
    const where =
      first.piece % 2 === 1
        ? `in parameter '${plan.names[(first.piece - 1) / 2]}', column ${columnOf(piece, first.index)}`
        : `in the template text, column ${columnOf(plan.text, plan.offsets[first.piece / 2]! + first.index)}`;
    const hint = gsmSafeReplaces(first.codePoint) && !this.options.gsmSafe ? ' (--gsm-safe replaces it)' : '';
    const forcedBy = `${describeCharacter(first.codePoint)} ${where}${hint}`;
    return { sms: { encoding: measure.encoding, units: measure.units, parts: measure.parts, firstNonGsm: first, forcedBy }, replaced };
  }

  /**
   * The common case measured from the values alone (the literals were measured once): a GSM-7
   * text of one part. Undefined otherwise — then the whole text is measured.
   */
  private singleGsmPart(pieces: readonly string[]): PieceMeasure | undefined {
    let septets = this.literalSeptets;
    if (septets === undefined) return undefined;
    for (let p = 1; p < pieces.length; p += 2) {
      const value = pieces[p]!;
      for (let i = 0; i < value.length; i++) {
        const width = gsmWidth(value.charCodeAt(i));
        if (width === 0) return undefined;
        septets += width;
      }
    }
    return septets <= SMS_LIMITS['GSM-7'].single ? { encoding: 'GSM-7', units: septets, parts: 1, firstNonGsm: undefined } : undefined;
  }

  /** The row error of --max-sms-parts, if the row needs more parts. */
  tooManyParts(sms: RowSms): string | undefined {
    const max = this.options.maxParts;
    if (max === undefined || sms.parts <= max) return undefined;
    return `needs ${describeParts(sms)}, more than --max-sms-parts ${max}${sms.forcedBy === undefined ? '' : `: UCS-2 because of ${sms.forcedBy}`}`;
  }

  /** The warning of the template's SMS_MAX_NUMBER_OF_MESSAGE_PARTS, if the row needs more parts. */
  aboveTemplateCap(sms: RowSms): string | undefined {
    const cap = this.templateMaxParts;
    if (cap === undefined || sms.parts <= cap) return undefined;
    return `needs ${describeParts(sms)}, above the template's channel_properties.SMS_MAX_NUMBER_OF_MESSAGE_PARTS ${cap}${sms.forcedBy === undefined ? '' : ` (UCS-2 because of ${sms.forcedBy})`}`;
  }

  /** Count a row that will be sent. */
  add(row: InspectedRow): void {
    const f = this.figures;
    if (row.replaced > 0) {
      f.replaced += row.replaced;
      f.replacedRows++;
    }
    const sms = row.sms;
    if (sms === undefined) return;
    f.rows++;
    if (sms.encoding === 'GSM-7') f.gsm7++;
    else f.ucs2++;
    f.parts += sms.parts;
    if (sms.parts > f.largest) f.largest = sms.parts;
  }

  /** The figures so far; undefined when nothing could be measured and nothing was replaced. */
  result(): SmsFigures | undefined {
    const f = this.figures;
    if (f.rows === 0 && f.replaced === 0) return undefined;
    const price = this.options.price;
    return { ...f, cost: price === undefined ? undefined : Math.round(f.parts * price * 1e6) / 1e6 };
  }
}

/** `3 SMS parts (UCS-2, 141 units)`. */
export function describeParts(sms: { encoding: string; units: number; parts: number }): string {
  return `${sms.parts} SMS part${sms.parts === 1 ? '' : 's'} (${sms.encoding}, ${sms.units} ${sms.encoding === 'GSM-7' ? 'septets' : 'UCS-2 units'})`;
}
