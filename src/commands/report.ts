import { createHash } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CallbackStore } from '../callbacks/callback-store.js';
import { CallbackJoin, identityKey, OUTCOMES, type Outcome, type RowOutcome } from '../callbacks/row-outcomes.js';
import { openCallbackStore } from '../callbacks/store-location.js';
import { isPostgresUrl } from '../state/state-url.js';
import { UsageError } from '../exit-codes.js';
import { readCsv } from '../input/csv-reader.js';
import { decodeToUtf8 } from '../input/decode.js';
import { readJsonArray, readJsonLines } from '../input/json-reader.js';
import { hashing, openInput } from '../input/open.js';
import type { RecordSink } from '../input/record-sink.js';
import { recipientKey } from '../recipient/recipient.js';
import { RecipientSet } from '../recipient/recipient-set.js';
import { displayPath, formatCount, type Io } from '../report/terminal.js';
import { RowsCsvWriter } from '../report/rows-csv-writer.js';
import type { JournalState, Manifest } from '../send/journal.js';
import type { Channel } from '../template/message-schema.js';
import { parseTemplate } from '../template/template.js';
import type { OriginalRow } from '../validate/preflight.js';
import { RowChecker } from '../validate/row-checker.js';
import { chooseRun, type RawRunChoice } from './run-selection.js';

export interface RawReportOptions extends RawRunChoice {
  readonly failed?: string;
  readonly rows?: string;
  readonly json?: boolean;
  readonly force?: boolean;
}

/** Read the run's input again, row by row; fails if it changed since the run. */
async function readInputAgain(m: Manifest, io: Io, onHeader: (names: readonly string[]) => void, onRow: (line: number, original: OriginalRow) => void | Promise<void>): Promise<void> {
  if (m.input === null) throw new UsageError('the run read its recipients from stdin: its rows cannot be read again', 'send from a file to report by row');
  const hash = createHash('sha256');
  const bytes = hashing(decodeToUtf8(await openInput(m.input, io.stdin, io.cwd), m.encoding), hash);
  const sink: RecordSink = {
    header: onHeader,
    fields: (line, values) => onRow(line, { values }),
    value: (line, value) => onRow(line, { value }),
    unreadable: (line) => onRow(line, { value: undefined }),
  };
  if (m.format === 'csv' || m.format === 'tsv') await readCsv(bytes, m.input, m.delimiter, sink);
  else if (m.format === 'json') await readJsonArray(bytes, m.input, sink);
  else await readJsonLines(bytes, m.input, sink);
  if (hash.digest('hex') !== m.input_sha256) {
    throw new UsageError(`${m.input} has changed since the run: its rows no longer match the journal`, 'restore the file the run sent');
  }
}

/** A checker of recipients alone (the run's recipient options; no template): identities and duplicates. */
function recipientChecker(m: Manifest): RowChecker {
  const options = m.recipient_options ?? {};
  return new RowChecker(
    parseTemplate('(report)', '{"message":{"text_message":{"text":"-"}}}'),
    { identityColumn: options.identity_column, identityChannel: options.channel as Channel | undefined, defaultCountry: options.default_country },
    m.input ?? 'stdin',
    () => undefined,
    new Map(m.renames ?? []),
  );
}

const check = (checker: RowChecker, original: OriginalRow) => ('values' in original ? checker.checkFields(original.values) : checker.checkValue(original.value));

/** For reports that name only a batch and an identity: each identity of those batches' rows, and its line. */
async function identityLines(join: CallbackJoin, m: Manifest, io: Io): Promise<Map<string, number>> {
  const checker = recipientChecker(m);
  const lines = new Map<string, number>();
  await readInputAgain(
    m,
    io,
    (names) => void checker.useHeader(names),
    (line, original) => {
      const batch = join.batchOf(line);
      if (batch === undefined || !join.identityBatches.has(batch)) return;
      const result = check(checker, original);
      if (!result.ok || !('identified_by' in result.entry.recipient)) return;
      for (const { identity } of result.entry.recipient.identified_by.channel_identities) lines.set(identityKey(batch, identity), line);
    },
  );
  return lines;
}

/** What became of rows in no batch of the journal: invalid, a duplicate, or in a batch never sent. */
interface Unbatched {
  readonly outcome: Map<number, { outcome: Outcome; reason: string }>;
}

/**
 * Rows the journal puts in no batch. Every valid row that is not a duplicate is in some batch; when
 * the journal knows every batch, a row outside them all was invalid or a duplicate, and a row whose
 * recipient an earlier batched row has is a duplicate. When some batches were never sent, a row
 * with a valid recipient that is no duplicate was in one of them: not sent.
 */
async function classifyUnbatched(join: CallbackJoin, state: JournalState, io: Io): Promise<Unbatched> {
  const m = state.manifest;
  let batched = 0;
  for (const shape of state.shapes.values()) batched += shape.recipients;
  const everyBatchKnown = batched >= m.recipients;
  const checker = recipientChecker(m);
  const seen = new RecipientSet();
  const outcome = new Map<number, { outcome: Outcome; reason: string }>();
  const sentBy = alreadySentLookup(state);
  await readInputAgain(
    m,
    io,
    (names) => void checker.useHeader(names),
    (line, original) => {
      const inBatch = join.batchOf(line) !== undefined;
      const result = check(checker, original);
      if (!result.ok) {
        if (!inBatch) outcome.set(line, { outcome: 'invalid', reason: result.message });
        return;
      }
      const { key, space } = recipientKey(result.entry.recipient);
      const first = seen.add(key, space, line);
      if (inBatch) return;
      const holder = sentBy(line);
      if (holder !== undefined) outcome.set(line, { outcome: 'already_sent', reason: `sent by run ${holder} of the campaign` });
      else if (first !== 0) outcome.set(line, { outcome: 'duplicate', reason: `same recipient as line ${first}` });
      else if (everyBatchKnown) outcome.set(line, { outcome: 'invalid', reason: 'invalid when the run checked it (a value the template needs)' });
      else outcome.set(line, { outcome: 'not_sent', reason: 'its batch was never sent' });
    },
  );
  return { outcome };
}

interface Tally {
  rows: number;
  readonly counts: Record<Outcome, number>;
  readonly reasons: Map<string, { count: number; lines: number[]; description: string }>;
  failedRows: number;
  unbatched: number;
}

function tally(): Tally {
  return { rows: 0, counts: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>, reasons: new Map(), failedRows: 0, unbatched: 0 };
}

function count(t: Tally, line: number, row: RowOutcome): void {
  t.rows++;
  t.counts[row.outcome]++;
  if (row.outcome !== 'failed' && row.outcome !== 'rejected') return;
  t.failedRows++;
  const code = row.code ?? 'UNKNOWN';
  const entry = t.reasons.get(code) ?? { count: 0, lines: [], description: row.reason.slice(code.length + 2) };
  entry.count++;
  if (entry.lines.length < 3) entry.lines.push(line);
  t.reasons.set(code, entry);
}

/** A file we may write: refused if something that batchsend did not write is there, unless --force. */
async function outputFile(flag: string, path: string, io: Io, lastColumns: string, force: boolean | undefined): Promise<string> {
  const full = resolve(io.cwd, path);
  const existing = await readFile(full, 'utf8').catch(() => undefined);
  if (existing !== undefined && !force && !existing.split('\n', 1)[0]!.endsWith(lastColumns)) {
    throw new UsageError(`${flag} ${path} exists and is not a file batchsend wrote`, 'choose another path, or pass --force to replace it');
  }
  return full;
}

/**
 * One pass over the input: each row's outcome, counted, and written to --failed / --rows. Rows
 * in no batch need `unbatched`; without it, the pass stops counting them and says so, so the
 * caller can classify them and pass again.
 */
async function outcomesPass(
  join: CallbackJoin,
  state: JournalState,
  io: Io,
  unbatched: Unbatched | undefined,
  files: { failed?: string; rows?: string },
): Promise<Tally> {
  const t = tally();
  const failed = files.failed === undefined ? undefined : new RowsCsvWriter(`${files.failed}.part`, ['status', 'reason']);
  const rows = files.rows === undefined ? undefined : new RowsCsvWriter(`${files.rows}.part`, ['outcome', 'reason', 'batch_id']);
  const writers = [failed, rows].filter((w) => w !== undefined);
  for (const writer of writers) await writer.clearStale();
  try {
    await readInputAgain(
      state.manifest,
      io,
      (names) => {
        for (const writer of writers) writer.useHeader(names);
      },
      async (line, original) => {
        const batch = join.batchOf(line);
        let row: RowOutcome;
        if (batch !== undefined) row = join.outcomeInBatch(line, batch);
        else {
          const known = unbatched?.outcome.get(line);
          if (known === undefined) {
            t.unbatched++;
            return;
          }
          row = { outcome: known.outcome, status: known.outcome.toUpperCase(), code: undefined, reason: known.reason, batchId: '' };
        }
        count(t, line, row);
        if (failed !== undefined && (row.outcome === 'failed' || row.outcome === 'rejected')) await failed.add([row.status, row.reason], original);
        if (rows !== undefined) await rows.add([row.outcome, row.reason, row.batchId], original);
      },
    );
  } catch (error) {
    for (const writer of writers) await writer.close();
    for (const file of [files.failed, files.rows]) if (file !== undefined) await rm(`${file}.part`, { force: true });
    throw error;
  }
  for (const writer of writers) await writer.close();
  return t;
}

/** Rows of a run read from stdin: only those in batches can be told, from the journal. */
function outcomesFromJournal(join: CallbackJoin, state: JournalState): Tally {
  const t = tally();
  for (const [batch, shape] of [...state.shapes].sort((a, b) => a[0] - b[0])) {
    for (const [from, to] of shape.lines) for (let line = from; line <= to; line++) count(t, line, join.outcomeInBatch(line, batch));
  }
  return t;
}

async function joinStore(join: CallbackJoin, store: CallbackStore, state: JournalState, io: Io): Promise<void> {
  for await (const records of store.records()) for (const record of records) join.add(record);
  if (join.identityBatches.size === 0 || state.manifest.input === null) return;
  const lines = await identityLines(join, state.manifest, io);
  for await (const records of store.records()) for (const record of records) join.addByIdentity(record, lines);
}

/** `batchsend report`: one outcome for every row of the run, reasons, failed rows and every row as CSV. */
export async function reportCommand(raw: RawReportOptions, io: Io): Promise<number> {
  const { run, journal: state } = await chooseRun(raw, io);
  const path = run.journalName;
  const m = state.manifest;
  if (m.input === null && (raw.failed !== undefined || raw.rows !== undefined)) {
    throw new UsageError('the run read its recipients from stdin: its rows cannot be written again', 'send from a file to get --failed / --rows');
  }
  const files = {
    failed: raw.failed === undefined ? undefined : await outputFile('--failed', raw.failed, io, ',status,reason', raw.force),
    rows: raw.rows === undefined ? undefined : await outputFile('--rows', raw.rows, io, ',outcome,reason,batch_id', raw.force),
  };
  const join = new CallbackJoin(state);
  // BATCHSEND_STATE names a shared state as well as --state does.
  const location = raw.state ?? (io.env.BATCHSEND_STATE || undefined);
  const shared = location !== undefined && isPostgresUrl(location) ? { location, env: io.env } : undefined;
  const store = await openCallbackStore(path, shared).catch((error: NodeJS.ErrnoException) => {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`callbacks of ${path}: cannot be read (${error.code ?? error.message})`, undefined, { cause: error });
  });
  let t: Tally;
  let where: string;
  try {
    where = store.where;
    await joinStore(join, store, state, io);
    if (m.input === null) t = outcomesFromJournal(join, state);
    else {
      t = await outcomesPass(join, state, io, undefined, files);
      if (t.unbatched > 0) t = await outcomesPass(join, state, io, await classifyUnbatched(join, state, io), files);
    }
  } finally {
    await store.close();
  }

  let failedFile: string | undefined;
  let rowsFile: string | undefined;
  if (files.failed !== undefined) {
    if (t.failedRows > 0) {
      await rename(`${files.failed}.part`, files.failed);
      failedFile = displayPath(io.cwd, files.failed);
    } else {
      await rm(`${files.failed}.part`, { force: true });
      await rm(files.failed, { force: true });
    }
  }
  if (files.rows !== undefined) {
    await rename(`${files.rows}.part`, files.rows);
    rowsFile = displayPath(io.cwd, files.rows);
  }

  const histogram = [...t.reasons.entries()].sort((a, b) => b[1].count - a[1].count);
  const sum = OUTCOMES.reduce((total, o) => total + t.counts[o], 0);
  if (raw.json) {
    io.stdout.write(
      `${JSON.stringify({
        event: 'report',
        journal: path,
        run_id: m.run_id,
        rows: t.rows,
        ...t.counts,
        callbacks: join.callbacks,
        unmatched: join.unmatched + join.awaitingIdentity,
        unreadable: join.unreadable,
        reasons: histogram.map(([code, r]) => ({ code, count: r.count, example_lines: r.lines, description: r.description || null })),
        batch_notifications: Object.fromEntries(join.notifications),
        ...(m.input === null ? { rows_unknown: 'the run read stdin: rows outside its batches cannot be counted' } : {}),
        ...(failedFile ? { failed_file: failedFile } : {}),
        ...(rowsFile ? { rows_file: rowsFile } : {}),
      })}\n`,
    );
    return 0;
  }
  const NOTES: Partial<Record<Outcome, string>> = {
    pending: 'no final delivery report yet',
    in_doubt: 'batches whose acceptance is unknown: see batchsend status',
    rejected: 'refused by the API at send time',
    not_sent: 'resume the send to send them',
    already_sent: 'sent by an earlier run of the campaign',
  };
  const label = (o: Outcome): string => o.replace('_', ' ');
  const lines = [`Run ${m.run_id}: ${formatCount(t.rows)} rows${m.input === null ? ' in batches (the run read stdin: rows outside its batches cannot be counted)' : ''}`];
  for (const o of OUTCOMES) {
    if (t.counts[o] === 0 && (o === 'already_sent' || o === 'read')) continue;
    lines.push(`  ${label(o).padEnd(14)}${formatCount(t.counts[o]).padStart(12)}${NOTES[o] && t.counts[o] > 0 ? `   (${NOTES[o]})` : ''}`);
  }
  const shown = OUTCOMES.filter((o) => t.counts[o] > 0 || (o !== 'already_sent' && o !== 'read'));
  lines.push(`  every row     ${formatCount(t.rows)} = ${shown.map((o) => `${formatCount(t.counts[o])} ${label(o)}`).join(' + ')}${sum === t.rows ? '' : `  (MISMATCH: ${formatCount(sum)})`}`);
  lines.push(
    `  callbacks     ${formatCount(join.callbacks)} read from ${displayPath(io.cwd, where)}, ${formatCount(join.unmatched + join.awaitingIdentity)} matched no row of this run` +
      (join.unreadable > 0 ? `, ${formatCount(join.unreadable)} unreadable records` : ''),
  );
  if (histogram.length > 0) {
    const width = Math.max(...histogram.map(([code]) => code.length), 10);
    lines.push('Failure reasons');
    for (const [code, r] of histogram) {
      lines.push(`  ${code.padEnd(width)} ${String(r.count).padStart(8)}  e.g. line${r.lines.length > 1 ? 's' : ''} ${r.lines.join(', ')}${r.description ? `: ${r.description}` : ''}`);
    }
  }
  if (join.notifications.size > 0) lines.push(`Batch notifications: ${[...join.notifications].map(([s, n]) => `${s} ${n}`).join(', ')}`);
  if (failedFile) lines.push(`Failed and rejected rows written to ${failedFile} (${formatCount(t.failedRows)}): fix them, then send that file.`);
  if (rowsFile) lines.push(`Every row's outcome written to ${rowsFile}.`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** --campaign: the run that holds a skipped row's recipient, by line (binary search over the line runs). */
function alreadySentLookup(state: JournalState): (line: number) => string | undefined {
  const runs = state.alreadySent.flatMap(({ run, lines }) => lines.map(([first, last]) => ({ first, last, run }))).sort((a, b) => a.first - b.first);
  return (line) => {
    let lo = 0;
    let hi = runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = runs[mid]!;
      if (line < r.first) hi = mid - 1;
      else if (line > r.last) lo = mid + 1;
      else return r.run;
    }
    return undefined;
  };
}
