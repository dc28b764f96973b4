/**
 * Placeholders written in another tool's syntax — `{{name}}` (mustache: Twilio, Mailgun, most
 * mail-merge tools), `{name}`, `$name`, `%name%`, `%recipient.name%` (Mailgun). The API would send
 * them literally to every recipient, so they are found in the template and judged against the
 * columns once the header is known.
 */
import { stringsWithin } from './placeholders.js';

export interface ForeignPlaceholder {
  /** Exactly as written, e.g. `{{ first_name }}`. */
  readonly written: string;
  /** The name inside it, e.g. `first_name`. */
  readonly name: string;
  /** JSON path of the string it sits in, e.g. `message.text_message.text`. */
  readonly at: string;
}

// One alternation, tried left to right at each position, so `{{name}}` is not also seen as `{name}`
// and `%recipient.name%` not as `%name%`. `${…}` is skipped: it is ours.
const FOREIGN = /\$\{[^}]*\}|\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}|\{([A-Za-z_][\w.-]*)\}|%recipient\.([A-Za-z_][\w-]*)%|%([A-Za-z_][\w.-]*)%|\$([A-Za-z_]\w*)/g;

/** Every foreign-syntax placeholder in the strings inside `value`; `path` names where value sits. */
export function scanForeignPlaceholders(value: unknown, path: string): ForeignPlaceholder[] {
  const found: ForeignPlaceholder[] = [];
  for (const [at, text] of stringsWithin(value, path)) {
    for (const match of text.matchAll(FOREIGN)) {
      const name = match[1] ?? match[2] ?? match[3] ?? match[4] ?? match[5];
      if (name !== undefined) found.push({ written: match[0], name, at });
    }
  }
  return found;
}

export interface ForeignVerdict {
  /** Placeholders whose name is a column (ignoring case): template errors. */
  readonly errors: string[];
  /** Placeholders that match no column: warnings (they may be meant literally). */
  readonly warnings: string[];
}

/** Judge the foreign placeholders against the columns: a match is surely a mistake, no match may be text. */
export function judgeForeignPlaceholders(found: readonly ForeignPlaceholder[], columns: readonly string[]): ForeignVerdict {
  const byLowerName = new Map(columns.map((column) => [column.toLowerCase(), column]));
  const errors: string[] = [];
  const warnings: string[] = [];
  const said = new Set<string>();
  for (const placeholder of found) {
    const key = `${placeholder.at}\u0000${placeholder.written}`;
    if (said.has(key)) continue;
    said.add(key);
    const column = byLowerName.get(placeholder.name.toLowerCase());
    if (column !== undefined) {
      errors.push(`${placeholder.at}: '${placeholder.written}' is not a batchsend placeholder and would be sent as written: write '\${${column}}'`);
    } else {
      warnings.push(
        `${placeholder.at}: '${placeholder.written}' looks like a placeholder in another tool's syntax but no column is named '${placeholder.name}': it is sent as written (batchsend placeholders are \${name})`,
      );
    }
  }
  return { errors, warnings };
}
