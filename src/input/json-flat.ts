/**
 * The JSON readers' fast path: a row that is a flat object with the same keys, in the same order,
 * as the row before it is read straight from the text into its column values — no JSON.parse, no
 * object, no walk over its keys. One sticky regular expression per set of keys does the reading;
 * anything it does not match (an escape or a control character in a string, JSON whitespace
 * other than spaces, a nested value, other keys) goes to JSON.parse as before, so the fast path
 * gives the same values as the careful path, or none.
 */

/**
 * A value: a string without escapes or control characters (group 1), or a number, true, false
 * or null (group 2). Neither can run past a newline, so a match never spans two lines.
 */
const VALUE = '(?:"([^"\\\\\\x00-\\x1f]*)"|(-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null))';

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The keys of a flat row, learnt from a row JSON.parse read, and how a row of them is matched. */
export class FlatShape {
  readonly keys: readonly string[];
  /** Undefined once the regular expression engine refused it: every row goes to JSON.parse. */
  private pattern: RegExp | undefined;

  constructor(keys: readonly string[]) {
    this.keys = keys;
    // Each key as JSON.stringify writes it: text that holds it there parses to that very key.
    const pairs = keys.map((key, i) => `${i === 0 ? '' : ' *,'} *${escapeRegExp(JSON.stringify(key))} *: *${VALUE}`);
    try {
      this.pattern = new RegExp(`\\{${pairs.join('')} *\\}`, 'y');
    } catch {
      this.pattern = undefined;
    }
  }

  /** Does `keys` (a parsed row's) name the same keys in the same order? */
  sameKeys(keys: readonly string[]): boolean {
    if (keys.length !== this.keys.length) return false;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== this.keys[i]) return false;
    return true;
  }

  /**
   * Read a flat object of these keys starting at `start` in `text`. Returns where the object
   * ends (just after its `}`) with its values in `values` as the row checker turns JSON values
   * into column text (a string as it is, a number as `String(n)` writes it, `true`/`false`, null
   * as empty), or -1 when the text there is anything else.
   */
  match(text: string, start: number, values: string[]): number {
    const pattern = this.pattern;
    if (pattern === undefined) return -1;
    pattern.lastIndex = start;
    let found: RegExpExecArray | null;
    try {
      found = pattern.exec(text);
    } catch {
      // V8 compiles a pattern on its first exec and may give up there (a pattern too large for
      // its stack: "Invalid regular expression … Stack overflow"). The fast path is only a
      // shortcut: such a shape matches nothing and JSON.parse reads its rows.
      this.pattern = undefined;
      return -1;
    }
    if (found === null) return -1;
    for (let k = 0; k < this.keys.length; k++) {
      const string = found[2 * k + 1];
      values[k] = string ?? columnText(found[2 * k + 2]!);
    }
    return pattern.lastIndex;
  }
}

/** A number, true, false or null (valid JSON) as the row checker writes it. */
function columnText(literal: string): string {
  const first = literal.charCodeAt(0);
  if (first === 0x6e) return ''; // null
  if (first === 0x74 || first === 0x66) return literal; // true, false
  return isAsStringWrites(literal) ? literal : String(Number(literal));
}

/**
 * Is a JSON number already as `String(n)` writes it? Up to 15 digits (any such decimal is the
 * shortest text of its double), no exponent, no trailing zero in a fraction, not `-0`, and not
 * below 1e-6 (written with an exponent). Anything else goes through Number, as JSON.parse would.
 */
function isAsStringWrites(number: string): boolean {
  const n = number.length;
  let digits = 0;
  let dot = -1;
  for (let i = 0; i < n; i++) {
    const c = number.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digits++;
    else if (c === 0x2e) dot = i;
    else if (c !== 0x2d) return false; // an exponent
  }
  if (digits > 15) return false;
  const lead = number.charCodeAt(0) === 0x2d ? 1 : 0;
  if (dot === -1) return !(lead === 1 && number.charCodeAt(1) === 0x30); // -0
  if (number.charCodeAt(n - 1) === 0x30) return false;
  if (number.charCodeAt(lead) !== 0x30) return true;
  let zeros = 0;
  while (number.charCodeAt(dot + 1 + zeros) === 0x30) zeros++;
  return zeros <= 5;
}
