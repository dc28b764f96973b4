import type { FileHandle } from 'node:fs/promises';
import type { RecordLog } from './state.js';
import { asStorageError, openAppend, readNoFollow } from './safe-files.js';

/**
 * A RecordLog in one local file: one JSON record a line. Each append is durable (fdatasync)
 * before its promise resolves; appends that arrive together share one write and one sync (group
 * commit), so concurrency does not multiply syncs. A write that fails (a full disk) is cut back:
 * the file ends at its last complete line again, and the error is given to every waiting append.
 */
export class FileLog implements RecordLog {
  private handle: FileHandle | undefined;
  private size = 0;
  private queue: Array<{ line: string; done: () => void; fail: (e: unknown) => void }> = [];
  private writing = false;
  private broken: unknown;

  constructor(readonly path: string) {}

  async readLines(): Promise<string[] | undefined> {
    const bytes = await readNoFollow(this.path);
    if (bytes === undefined) return undefined;
    const text = bytes.toString('utf8');
    const end = text.lastIndexOf('\n') + 1; // a torn last line (no newline) is not a record
    return text.slice(0, end).split('\n').slice(0, -1);
  }

  private async opened(): Promise<FileHandle> {
    if (this.handle !== undefined) return this.handle;
    const bytes = await readNoFollow(this.path);
    const handle = await openAppend(this.path);
    try {
      // Drop a torn last line before appending after it (one writer: the run's lock holder).
      const complete = bytes === undefined ? 0 : bytes.lastIndexOf(0x0a) + 1;
      if ((await handle.stat()).size !== complete) await handle.truncate(complete);
      this.size = complete;
    } catch (error) {
      await handle.close();
      asStorageError(error, this.path);
    }
    this.handle = handle;
    return handle;
  }

  append(record: object): Promise<void> {
    return new Promise((done, fail) => {
      if (this.broken !== undefined) return fail(this.broken);
      this.queue.push({ line: `${JSON.stringify(record)}\n`, done, fail });
      if (!this.writing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      const text = group.map((item) => item.line).join('');
      try {
        const handle = await this.opened();
        await handle.appendFile(text);
        await handle.datasync();
        this.size += Buffer.byteLength(text);
        for (const item of group) item.done();
      } catch (error) {
        // Cut back to the last complete record; every later append fails the same way.
        await this.handle?.truncate(this.size).catch(() => undefined);
        await this.handle?.datasync().catch(() => undefined);
        let failure: unknown = error;
        try {
          asStorageError(error, this.path);
        } catch (mapped) {
          failure = mapped;
        }
        this.broken = failure;
        for (const item of [...group, ...this.queue.splice(0)]) item.fail(failure);
      }
    }
    this.writing = false;
  }

  async close(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
  }
}
