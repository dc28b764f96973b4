import { constants, createReadStream } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/**
 * Where `listen` keeps callbacks and `report` reads them: one small interface, a file
 * implementation here, a PostgreSQL one beside it. What every implementation must guarantee:
 *
 * - `append(callback)` resolves only once the callback is on stable storage (fsync or commit),
 *   whole and parseable: `records()` will yield it. It resolves `'already stored'`, storing
 *   nothing, when the store itself knows an identical callback (same nonce and signature tag) is
 *   stored already — a retry whose first delivery was stored. It rejects when the callback could
 *   not be stored, and the store then ends at its last complete record: a write cut short (a full
 *   disk, a crash) is cut off before anything is appended after it; if even that fails, every
 *   later append rejects until it succeeds. A rejected append never leaves a half record that
 *   would glue itself to the next one.
 * - `records()` streams every complete record, in append order and in batches (a chunk of the file,
 *   a page of rows), in memory that does not grow with the store: a torn last record (a crash mid-write, never acknowledged) is not yielded; a record
 *   that cannot be read is yielded as `unreadable` (counted, never dropped silently).
 * - `recentNonces(sinceSeconds)` streams the nonces of stored callbacks whose signature timestamp
 *   is at or after `sinceSeconds`: `listen` seeds its nonce memory with them at start, so a retry
 *   or a replay across a restart is judged like one within a run. A nonce counts as used only once
 *   its callback is stored: callers mark it after `append` resolves, never before.
 */
export interface CallbackStore {
  /** Where the callbacks are, for messages (a path, a URL without its password). */
  readonly where: string;
  append(callback: NewCallback): Promise<'stored' | 'already stored'>;
  records(): AsyncIterable<readonly StoredRecord[]>;
  recentNonces(sinceSeconds: number): AsyncIterable<SignatureMark>;
  close(): Promise<void>;
}

/** The signature's nonce, timestamp (seconds) and a short tag of the signature itself. */
export interface SignatureMark {
  readonly nonce: string;
  readonly timestamp: number;
  readonly tag: number;
}

/** A callback to store: its body exactly as received (checked to be JSON), and what signed it. */
export interface NewCallback {
  readonly receivedAt: Date;
  readonly rawBody: string;
  readonly signed: SignatureMark | undefined;
}

/** One stored callback as read back: the body parsed, and what signed it. */
export interface StoredCallback {
  readonly t: 'callback';
  readonly received_at: string;
  /** The signature's nonce and timestamp (seconds) and a short tag of the signature; absent when unsigned. */
  readonly nonce?: string;
  readonly timestamp?: number;
  readonly tag?: number;
  readonly body: unknown;
}

export type StoredRecord = StoredCallback | { readonly t: 'unreadable'; readonly record: number };

/**
 * The record for a body already checked to be JSON. The body's bytes are kept as received, not
 * parsed and serialised again (a body nested half a million levels deep parses, but does not
 * serialise); JSON's only line breaks outside strings are whitespace, so they become spaces and
 * the record stays one line.
 */
export function callbackRecord({ receivedAt, rawBody, signed }: NewCallback): string {
  const head = signed === undefined ? '' : `,"nonce":${JSON.stringify(signed.nonce)},"timestamp":${signed.timestamp},"tag":${signed.tag}`;
  return `{"t":"callback","received_at":"${receivedAt.toISOString()}"${head},"body":${rawBody.replace(/[\r\n]/g, ' ')}}\n`;
}

const NEWLINE = 0x0a;
const SIGNED_HEAD = /^\{"t":"callback","received_at":"[^"]*","nonce":("(?:[^"\\]|\\.)*"),"timestamp":(\d+),"tag":(\d+),/;

/** Streams the complete lines of a file, a chunk's worth at a time; the last line counts only if it ends with a newline. */
export async function* completeLines(path: string): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      const text = rest + decoder.write(chunk as Buffer);
      const lines: string[] = [];
      let from = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', from)) {
        lines.push(text.slice(from, end));
        from = end + 1;
      }
      rest = from === 0 ? text : text.slice(from);
      if (lines.length > 0) yield lines;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
}

/** Turns stored lines into records: a line that is not a callback record is `unreadable`. */
export async function* parseRecords(batches: AsyncIterable<readonly string[]>): AsyncGenerator<StoredRecord[]> {
  let index = 0;
  for await (const lines of batches) {
    const records: StoredRecord[] = [];
    for (const line of lines) {
      index++;
      if (line === '') continue;
      let record: StoredCallback | undefined;
      try {
        record = JSON.parse(line) as StoredCallback;
      } catch {
        record = undefined;
      }
      records.push(record !== null && typeof record === 'object' && record.t === 'callback' ? record : { t: 'unreadable', record: index });
    }
    yield records;
  }
}

/**
 * Opened for reading and appending, every write durable before it returns (O_DSYNC: the write
 * and its fdatasync are one system call, one trip to libuv's thread pool instead of two).
 */
const APPEND_DURABLY = constants.O_RDWR | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC;

/**
 * The file store: one JSON line per callback, appended with O_APPEND and O_DSYNC: on stable storage
 * before the append resolves. Appends that arrive while a write is in flight wait for it, then
 * go together in the next single write (group commit, like a database's WAL writer): each
 * callback still resolves only after its own bytes are durable, and a failed write fails every
 * append of its group and is cut back off the file.
 */
export class FileCallbackStore implements CallbackStore {
  private queue: Array<{ text: string; done: () => void; fail: (error: unknown) => void }> = [];
  private writing = false;
  /** Bytes of complete records: where the file is cut back to after a failed write. */
  private size: number;
  /** Set when a failed write could not be cut back: nothing is appended until it can be. */
  private torn = false;

  private constructor(
    readonly where: string,
    private readonly handle: FileHandle,
    size: number,
  ) {
    this.size = size;
  }

  /** Open for appending: created (0600, in a 0700 directory) if missing; a torn last record is cut off. */
  static async open(path: string): Promise<FileCallbackStore> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // Never through a link planted at the store's place (R36): O_NOFOLLOW refuses it (ELOOP, exit 2).
    const handle = await open(path, APPEND_DURABLY | constants.O_NOFOLLOW, 0o600);
    try {
      const size = await completeLength(handle);
      if (size !== (await handle.stat()).size) {
        await handle.truncate(size);
        await handle.datasync();
      }
      return new FileCallbackStore(path, handle, size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  append(callback: NewCallback): Promise<'stored'> {
    const text = callbackRecord(callback);
    return new Promise((done, fail) => {
      this.queue.push({ text, done: () => done('stored'), fail });
      if (!this.writing) void this.flush();
    });
  }

  records(): AsyncGenerator<StoredRecord[]> {
    return parseRecords(completeLines(this.where));
  }

  async *recentNonces(sinceSeconds: number): AsyncGenerator<SignatureMark> {
    // Only the head of each record is read (callbackRecord writes it first): start-up stays quick on a large store.
    for await (const lines of completeLines(this.where)) {
      for (const line of lines) {
        const head = SIGNED_HEAD.exec(line);
        if (head === null || Number(head[2]) < sinceSeconds) continue;
        yield { nonce: JSON.parse(head[1]!) as string, timestamp: Number(head[2]), tag: Number(head[3]) };
      }
    }
  }

  private async flush(): Promise<void> {
    this.writing = true;
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      const bytes = Buffer.from(group.map((item) => item.text).join(''), 'utf8');
      try {
        if (this.torn) await this.cutBack();
        await this.writeDurably(bytes);
        this.size += bytes.length;
        for (const item of group) item.done();
      } catch (error) {
        await this.cutBack().catch(() => undefined);
        for (const item of group) item.fail(error);
      }
    }
    this.writing = false;
  }

  /** All of `bytes` at the end of the file, durable when it resolves (a short write is continued; a failure throws). */
  private async writeDurably(bytes: Buffer): Promise<void> {
    for (let from = 0; from < bytes.length; ) {
      const { bytesWritten } = await this.handle.write(bytes, from, bytes.length - from);
      if (bytesWritten === 0) throw Object.assign(new Error('the disk took none of the write'), { code: 'EIO' });
      from += bytesWritten;
    }
  }

  /** Cut the file back to its last complete record; until that succeeds, the store is torn. */
  private async cutBack(): Promise<void> {
    this.torn = true;
    await this.handle.truncate(this.size);
    await this.handle.datasync();
    this.torn = false;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** The length of the file up to and including its last newline (0 when it has none). */
async function completeLength(handle: FileHandle): Promise<number> {
  const { size } = await handle.stat();
  const chunk = Buffer.alloc(64 * 1024);
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - chunk.length);
    const { bytesRead } = await handle.read(chunk, 0, end - start, start);
    const at = chunk.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (at !== -1) return start + at + 1;
    end = start;
  }
  return 0;
}
