/**
 * Where readers deliver what they read. `line` is always the physical line where the record
 * starts (the header is line 1). A returned promise is awaited before the reader goes on.
 */
export interface RecordSink {
  /** CSV/TSV: the trimmed, checked header names. */
  header(names: readonly string[]): void;
  /** CSV/TSV: one data record (its field count is not checked by the reader). */
  fields(line: number, values: string[]): void | Promise<void>;
  /** JSON/JSONL: one element that parsed; it may be any JSON value. */
  value(line: number, value: unknown): void | Promise<void>;
  /**
   * JSON/JSONL, optional: one element that is a flat object, read by the fast path — its keys
   * (the same array while rows keep the same keys), its values as column text, and its text.
   * Without it, every element goes to `value`.
   */
  flat?(line: number, keys: readonly string[], values: string[], text: string): void | Promise<void>;
  /** JSON/JSONL: one element that did not parse. */
  unreadable(line: number, reason: string): void | Promise<void>;
}
