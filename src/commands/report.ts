import { createHash } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { callbacksPath } from './listen.js';
import { fateOf, identityKey, joinCallbacks } from '../callbacks/row-outcomes.js';
import type { StoredCallback } from '../callbacks/callback-event.js';
import { UsageError } from '../exit-codes.js';
import { readCsv } from '../input/csv-reader.js';
import { decodeToUtf8 } from '../input/decode.js';
import { readJsonArray, readJsonLines } from '../input/json-reader.js';
import { hashing, openInput } from '../input/open.js';
import type { RecordSink } from '../input/record-sink.js';
import { displayPath, formatCount, type Io } from '../report/terminal.js';
import { RowsCsvWriter } from '../report/rows-csv-writer.js';
import type { JournalState, Manifest } from '../send/journal.js';
import type { Channel } from '../template/message-schema.js';
import { parseTemplate } from '../template/template.js';
import { RowChecker } from '../validate/row-checker.js';
import { findJournal } from './status.js';

export interface RawReportOptions {
  readonly journal?: string;
  readonly failed?: string;
  readonly json?: boolean;
  readonly force?: boolean;
}

async function readCallbacks(path: string): Promise<StoredCallback[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: StoredCallback[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as StoredCallback);
    } catch {
      // a torn last line from a crash: the callback was not acknowledged, Sinch sends it again
    }
  }
  return out;
}

type Original = { values: readonly string[] } | { value: unknown };

/** Read the run's input again, row by row; fails if it changed since the run. */
async function readInputAgain(
  m: Manifest,
  io: Io,
  onHeader: (names: readonly string[]) => void,
  onRow: (line: number, original: Original) => void | Promise<void>,
): Promise<void> {
  if (m.input === null) throw new UsageError('the run read its recipients from stdin: its rows cannot be read again', 'send from a file to report by row');
  const hash = createHash('sha256');
  const bytes = hashing(decodeToUtf8(await openInput(m.input, io.stdin, io.cwd), m.encoding), hash);
  const sink: RecordSink = {
    header: onHeader,
    fields: (line, values) => onRow(line, { values }),
    value: (line, value) => onRow(line, { value }),
    unreadable: () => undefined,
  };
  if (m.format === 'csv' || m.format === 'tsv') await readCsv(bytes, m.input, m.delimiter, sink);
  else if (m.format === 'json') await readJsonArray(bytes, m.input, sink);
  else await readJsonLines(bytes, m.input, sink);
  if (hash.digest('hex') !== m.input_sha256) {
    throw new UsageError(`${m.input} has changed since the run: its rows no longer match the journal`, 'restore the file the run sent');
  }
}

/** For reports that name only a batch and an identity: each recipient identity of those batches, and its line. */
async function identityLines(state: JournalState, batches: ReadonlySet<number>, io: Io): Promise<Map<string, number>> {
  const m = state.manifest;
  const batchOfLine = new Map<number, number>();
  for (const batch of batches) for (const [first, last] of state.shapes.get(batch)?.lines ?? []) for (let line = first; line <= last; line++) batchOfLine.set(line, batch);
  const options = m.recipient_options ?? {};
  const checker = new RowChecker(
    parseTemplate('(report)', '{"message":{"text_message":{"text":"-"}}}'),
    { identityColumn: options.identity_column, identityChannel: options.channel as Channel | undefined, defaultCountry: options.default_country },
    m.input ?? 'stdin',
    () => undefined,
    new Map(m.renames ?? []),
  );
  const lines = new Map<string, number>();
  await readInputAgain(
    m,
    io,
    (names) => void checker.useHeader(names),
    (line, original) => {
      const batch = batchOfLine.get(line);
      if (batch === undefined) return;
      const result = 'values' in original ? checker.checkFields(original.values) : checker.checkValue(original.value);
      if (!result.ok || !('identified_by' in result.entry.recipient)) return;
      for (const { identity } of result.entry.recipient.identified_by.channel_identities) lines.set(identityKey(batch, identity), line);
    },
  );
  return lines;
}

/** `batchsend report`: each accepted row's delivery outcome, reasons, and the failed rows as a CSV. */
export async function reportCommand(raw: RawReportOptions, io: Io): Promise<number> {
  const { path, state } = await findJournal(raw, io.cwd);
  const callbacks = await readCallbacks(callbacksPath(path));
  let join = joinCallbacks(state, callbacks);
  if (join.identityBatches.size > 0 && state.manifest.input !== null) {
    join = joinCallbacks(state, callbacks, await identityLines(state, join.identityBatches, io));
  }
  const counts = { delivered: 0, failed: 0, pending: 0 };
  const reasons = new Map<string, { count: number; lines: number[]; description: string | undefined }>();
  const failedLines = new Map<number, { status: string; reason: string }>();
  for (const line of [...join.expected.keys()].sort((a, b) => a - b)) {
    const status = join.statuses.get(line);
    const fate = fateOf(status);
    counts[fate]++;
    if (fate === 'failed') {
      const code = status?.reasonCode ?? 'UNKNOWN';
      const entry = reasons.get(code) ?? { count: 0, lines: [], description: status?.reasonDescription };
      entry.count++;
      if (entry.lines.length < 3) entry.lines.push(line);
      reasons.set(code, entry);
      failedLines.set(line, { status: status!.status, reason: [status?.reasonCode, status?.reasonDescription].filter(Boolean).join(': ') });
    }
  }

  let failedFile: string | undefined;
  if (raw.failed !== undefined) {
    const failedPath = resolve(io.cwd, raw.failed);
    const existing = await readFile(failedPath, 'utf8').catch(() => undefined);
    if (existing !== undefined && !raw.force && !existing.split('\n', 1)[0]!.endsWith(',status,reason')) {
      throw new UsageError(`--failed ${raw.failed} exists and is not a failed-rows file of batchsend`, 'choose another path, or pass --force to replace it');
    }
    const writer = new RowsCsvWriter(`${failedPath}.part`, ['status', 'reason']);
    await rm(`${failedPath}.part`, { force: true });
    try {
      await readInputAgain(
        state.manifest,
        io,
        (names) => writer.useHeader(names),
        (line, original) => {
          const failed = failedLines.get(line);
          return failed === undefined ? undefined : writer.add([failed.status, failed.reason], original);
        },
      );
    } catch (error) {
      await writer.close();
      await rm(`${failedPath}.part`, { force: true });
      throw error;
    }
    await writer.close();
    if (writer.count > 0) {
      await rename(`${failedPath}.part`, failedPath);
      failedFile = displayPath(io.cwd, failedPath);
    } else {
      await rm(`${failedPath}.part`, { force: true });
      await rm(failedPath, { force: true });
    }
  }

  const histogram = [...reasons.entries()].sort((a, b) => b[1].count - a[1].count);
  if (raw.json) {
    io.stdout.write(
      `${JSON.stringify({
        event: 'report',
        journal: path,
        run_id: state.manifest.run_id,
        accepted_rows: join.expected.size,
        delivered: counts.delivered,
        failed: counts.failed,
        pending: counts.pending,
        unknown: join.unknownLines,
        callbacks: join.callbacks,
        unmatched: join.unmatched,
        reasons: histogram.map(([code, r]) => ({ code, count: r.count, example_lines: r.lines, description: r.description ?? null })),
        batch_notifications: Object.fromEntries(join.notifications),
        ...(failedFile ? { failed_file: failedFile } : {}),
      })}\n`,
    );
  } else {
    const width = Math.max(...histogram.map(([code]) => code.length), 10);
    const lines = [
      `Run ${state.manifest.run_id}: ${formatCount(join.expected.size)} rows accepted by the API`,
      `  delivered   ${formatCount(counts.delivered)}`,
      `  failed      ${formatCount(counts.failed)}`,
      `  pending     ${formatCount(counts.pending)}   (no final delivery report yet)`,
      `  unknown     ${formatCount(join.unknownLines)}   (rows of batches in doubt)`,
      `  callbacks   ${formatCount(join.callbacks)} read, ${formatCount(join.unmatched)} matched no row of this run`,
    ];
    if (histogram.length > 0) {
      lines.push('Failure reasons');
      for (const [code, r] of histogram) {
        lines.push(`  ${code.padEnd(width)} ${String(r.count).padStart(6)}  e.g. line${r.lines.length > 1 ? 's' : ''} ${r.lines.join(', ')}${r.description ? `: ${r.description}` : ''}`);
      }
    }
    if (join.notifications.size > 0) lines.push(`Batch notifications: ${[...join.notifications].map(([s, n]) => `${s} ${n}`).join(', ')}`);
    if (failedFile) lines.push(`Failed rows written to ${failedFile} (${formatCount(counts.failed)}): fix them, then send that file.`);
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  return 0;
}
