import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { csvLine } from './csv-text.js';
import type { OriginalRow } from '../validate/preflight.js';

export const ERROR_COLUMN = 'batchsend_error';

/**
 * Writes input rows back out with their original columns plus a few of ours — `batchsend_error`
 * for invalid.csv, `status, reason` for a report's failed rows — as a CSV that `send` accepts once
 * fixed. CSV/TSV rows stream straight out; JSON rows are kept until the end, because their columns
 * are known only then.
 */
export class RowsCsvWriter {
  private header: readonly string[] | undefined;
  private stream: WriteStream | undefined;
  private opening: Promise<WriteStream> | undefined;
  /** The stream's next 'drain', while a write waits for it. */
  private draining: Promise<void> | undefined;
  private readonly objects: Array<{ value: unknown; extra: readonly string[] }> = [];
  count = 0;

  /** `extraColumns` follow the original ones: `batchsend_error` here, `status, reason` for failed rows. */
  constructor(
    private readonly path: string,
    private readonly extraColumns: readonly string[] = [ERROR_COLUMN],
  ) {}

  /** Remove an invalid.csv left by an earlier run, so what is there afterwards is this run's. */
  async clearStale(): Promise<void> {
    await rm(this.path, { force: true });
  }

  useHeader(names: readonly string[]): void {
    this.header = names;
  }

  async add(extra: string | readonly string[], original: OriginalRow): Promise<void> {
    this.count++;
    const cells = typeof extra === 'string' ? [extra] : extra;
    if ('values' in original && this.header !== undefined) {
      await this.write(csvLine([...original.values, ...cells]));
    } else {
      this.objects.push({ value: 'value' in original ? original.value : undefined, extra: cells });
    }
  }

  /** Finish the file; returns the number of rows written. */
  async close(): Promise<number> {
    if (this.objects.length > 0) {
      const columns: string[] = [];
      const seen = new Set<string>();
      for (const { value } of this.objects) {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
        for (const key of Object.keys(value)) {
          if (seen.has(key)) continue;
          seen.add(key);
          columns.push(key);
        }
      }
      this.header = columns;
      for (const { value, extra } of this.objects) {
        const record = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
        const cells = columns.map((key) => {
          const cell = record[key];
          return cell === undefined || cell === null ? '' : typeof cell === 'string' ? cell : typeof cell === 'object' ? JSON.stringify(cell) : String(cell);
        });
        await this.write(csvLine([...cells, ...extra]));
      }
    }
    if (this.opening !== undefined) await this.opening;
    if (this.stream !== undefined) {
      this.stream.end();
      await once(this.stream, 'close');
    }
    return this.count;
  }

  private async write(text: string): Promise<void> {
    // Rows arrive without waiting for each other; open the file once, and write in arrival order.
    this.opening ??= this.open();
    const stream = await this.opening;
    if (!stream.write(text)) {
      // One wait for all the writes that find the stream full (a listener each would be a
      // MaxListenersExceededWarning on stderr past ten).
      this.draining ??= once(stream, 'drain').then(() => {
        this.draining = undefined;
      });
      await this.draining;
    }
  }

  private async open(): Promise<WriteStream> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    this.stream = createWriteStream(this.path, { mode: 0o600 });
    this.stream.write(csvLine([...(this.header ?? []), ...this.extraColumns]));
    return this.stream;
  }
}
