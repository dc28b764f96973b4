import { Command, CommanderError, Option } from 'commander';
import { createRequire } from 'node:module';
import type { Io } from './report/terminal.js';
import type { ExitError as ExitErrorType } from './exit-codes.js';

/**
 * The edge: flags, environment, streams and the exit code. The only module that touches
 * `process`. Command modules load lazily, so `--help` and `--version` stay fast.
 */

/** Set by the bundle (scripts/bundle.mjs), which lives one folder deeper than this file's tsc output. */
declare const BATCHSEND_VERSION: string | undefined;
const version = typeof BATCHSEND_VERSION === 'string' ? BATCHSEND_VERSION : (createRequire(import.meta.url)('../package.json') as { version: string }).version;

const ROOT_EXAMPLES = `
Examples:
  $ batchsend emulator                                     # a local stand-in for the Sinch API (prints its variables)
  $ batchsend validate recipients.csv --template t.json    # check every row: no network, no credentials
  $ batchsend send recipients.csv --template t.json --dry-run --out batches/
  $ batchsend send recipients.csv --template t.json --test-to SMS:+46701234567
  $ batchsend send recipients.csv --template t.json        # plan, question, send; the same command resumes
  $ batchsend status --remote
  $ batchsend listen --port 8080 --secret-file webhook.secret
  $ batchsend report --failed failed.csv

'batchsend <command> --help' shows a command's flags and examples.
Exit codes: 0 done, 2 usage/configuration, 3 invalid rows (nothing sent), 4 authentication,
5 rejected or not sent, 6 in doubt, 130 interrupted or not confirmed.`;

const VALIDATE_EXAMPLES = `
Examples:
  $ batchsend validate recipients.csv --template t.json
  $ batchsend validate customers.tsv --template t.json --identity-column phone --channel SMS --default-country SE
  $ cat rows.jsonl | batchsend validate - --format jsonl --template t.json --json

Exit codes: 0 all rows valid, 2 bad flag/file/template, 3 some rows invalid.`;

const SEND_EXAMPLES = `
Examples:
  $ batchsend send recipients.csv --template t.json --dry-run
  $ batchsend send recipients.csv --template t.json --dry-run --out batches/
  $ batchsend send recipients.csv --template t.json --dry-run --skip-invalid --json

  $ batchsend send recipients.csv --template t.json --test-to +46701234567
  $ batchsend send recipients.csv --template t.json
  $ batchsend send recipients.csv --template t.json --concurrency 8 --rate 200 --json

Credentials: SINCH_KEY_ID, SINCH_KEY_SECRET (or --key-secret-file), SINCH_PROJECT_ID.
Running the same command again resumes its run (found in the state by input, template and options,
from any folder or machine sharing the state); nothing accepted is sent twice.
Exit codes: 0 all accepted, 2 bad flag/file/template/credentials, 3 invalid rows (nothing sent),
4 authentication, 5 rejected or not sent, 6 in doubt, 130 interrupted.`;

function addApiOptions(command: Command): Command {
  return command
    .addOption(new Option('--key-id <id>', 'access key id').env('SINCH_KEY_ID'))
    .option('--key-secret-file <file>', 'file (mode 0600) holding the key secret (or set SINCH_KEY_SECRET)')
    .addOption(new Option('--project-id <id>', 'project id').env('SINCH_PROJECT_ID'))
    .addOption(new Option('--region <region>', 'us, eu or br').env('SINCH_REGION').default('us'))
    .addOption(
      new Option('--api <form>', 'v1: POST /v1/projects/{p}/messages; v1beta: POST /v1beta/projects/{p}/batches:send')
        .choices(['v1', 'v1beta'])
        .env('SINCH_BATCH_API')
        .default('v1'),
    )
    .addOption(new Option('--base-url <url>', 'batch API base URL (default: https://{region}.conversationbatch.api.sinch.com)').env('SINCH_BATCH_URL'))
    .addOption(new Option('--auth-url <url>', 'OAuth2 token URL').env('SINCH_AUTH_URL').default('https://auth.sinch.com/oauth2/token'));
}

function stateOption(): Option {
  return new Option(
    '--state <dir|url>',
    'the state: a directory holding the runs and campaigns, or a postgres:// URL for campaigns shared by machines (default: $XDG_STATE_HOME/batchsend, else ~/.local/state/batchsend)',
  ).env('BATCHSEND_STATE');
}

/** --run / --journal / --state: which run a command works on (default: the newest in the state). */
function addRunChoice(command: Command): Command {
  return command
    .addOption(stateOption())
    .option('--run <id>', 'the run (an id, or a unique prefix of one: see batchsend runs); default: the newest')
    .option('--journal <file>', 'a run journal file given explicitly instead');
}

function addCheckOptions(command: Command): Command {
  return command
    .requiredOption('-t, --template <file>', 'the batch request body without recipients (JSON)')
    .addOption(new Option('--format <format>', 'recipient file format (needed for stdin)').choices(['csv', 'tsv', 'json', 'jsonl', 'ndjson']))
    .option('--delimiter <char>', "CSV field delimiter: one character, or 'tab' (default: tab for .tsv; else detected from the header among , ; tab |)")
    .option('--encoding <name>', 'text encoding of the recipient file, e.g. windows-1252, latin1, utf-16le (default: UTF-8; UTF-16 with a BOM)')
    .option('--rename <COLUMN=NAME>', "use a column under another name, e.g. 'First Name=first_name' (repeatable)", (value: string, all: string[] = []) => [...all, value])
    .option('--identity-column <name>', 'a column that holds a channel identity (with --channel)')
    .option('--channel <channel>', 'the channel of --identity-column, e.g. SMS')
    .option('--default-country <XX>', 'two-letter country for phone numbers written without +country code')
    .option('--allow-duplicates', 'send to a recipient as often as it appears (default: first row only)')
    .option('--allow-empty', 'an input without rows is not an error')
    .option('--skip-invalid', 'go on with the valid rows; write invalid ones to invalid.csv in the run')
    .addOption(stateOption())
    .option('--journal <file>', 'an explicit run journal file (default: the run in the state, found by its identity); invalid.csv goes beside it')
    .addOption(new Option('--app-id <id>', "the Conversation API app (default: the template's app_id)").env('SINCH_APP_ID'))
    .option('--batch-size <n>', 'recipients per request, 1 to 1000', '1000')
    .option('--no-tracking', 'leave out batchsend_batch / batchsend_row metadata')
    .option('--max-sms-parts <n>', 'a row whose SMS text needs more parts is invalid (exit 3)')
    .option('--sms-price <price>', 'price of one SMS part, for the estimated cost in the summary')
    .option('--gsm-safe', 'replace typographic quotes, dashes, ellipses and odd spaces in values by GSM-7 ones (changes what is sent)')
    .option('--preview <n>', 'print N rendered messages: the first row, the longest, the most SMS parts')
    .option('--json', 'newline-delimited JSON events on stdout; human output on stderr');
}

/**
 * Gives the AbortSignal that the first SIGINT/SIGTERM aborts (handlers are installed only when
 * asked for); `abort` is aborted by a second signal, or 5 s after the first.
 */
export interface Interrupts {
  readonly stop: () => AbortSignal;
  readonly abort: AbortSignal;
}

/**
 * commander's message for an unknown flag repeats it whole: `--key-secret=abc` would print the
 * secret. Keep the flag's name, drop what follows it.
 */
export function redactUnknownOption(text: string): string {
  return text.replace(/(unknown option ')(--[^=' ]+|-[^-' ])[^']*'/g, '$1$2\'');
}

const output = (io: Io) => ({
  writeOut: (text: string) => io.stdout.write(text),
  writeErr: (text: string) => io.stderr.write(text),
  outputError: (text: string, write: (text: string) => void) => write(redactUnknownOption(text)),
});

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process as the owner of a journal lock (the library's send() uses it unless given another). */
export const processHost: { readonly pid: number; isAlive(pid: number): boolean } = { pid: process.pid, isAlive: processIsAlive };

/** validate and send: the young generation held at the size a 1M-row file reaches (see heap/young-generation.ts). */
async function holdYoungGenerationWhileRowsStream(): Promise<void> {
  const [v8, { holdYoungGeneration }] = await Promise.all([import('node:v8'), import('./heap/young-generation.js')]);
  holdYoungGeneration({
    bytes: () => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0,
    stopGrowing: () => v8.setFlagsFromString('--semi-space-growth-factor=1'),
  });
}

/**
 * `beforeRows`: called as validate or send starts, before any row is read (the process's entry
 * tunes the heap there; main() called in-process leaves it alone).
 */
export function buildProgram(io: Io, setExitCode: (code: number) => void, interrupts: Interrupts, beforeRows: () => Promise<void> = async () => undefined): Command {
  const program = new Command('batchsend')
    .description('Send one message to many recipients through the Sinch Conversation API Batch endpoint.')
    .version(version, '-V, --version')
    .showSuggestionAfterError(true)
    .configureOutput(output(io))
    .exitOverride()
    .addHelpText('after', ROOT_EXAMPLES);

  addCheckOptions(
    program
      .command('validate')
      .description('check every row against the template: no network, no credentials')
      .argument('<recipients>', "recipient file (.csv .tsv .json .jsonl .ndjson), or '-' for stdin with --format"),
  )
    .addHelpText('after', VALIDATE_EXAMPLES)
    .action(async (recipients: string, options: Record<string, unknown>) => {
      await beforeRows();
      const { validateCommand } = await import('./commands/validate.js');
      setExitCode(await validateCommand(recipients, options, io));
    });

  const sendCommand = addCheckOptions(
    program
      .command('send')
      .description('validate every row, then send the batches (or, with --dry-run, only build them)')
      .argument('<recipients>', "recipient file (.csv .tsv .json .jsonl .ndjson), or '-' for stdin with --format"),
  )
    .option('--dry-run', 'validate and build the exact request bodies; no network')
    .option('--out <dir>', 'with --dry-run: write the bodies as DIR/batch-00001.json, …')
    .option('--force', 'with --out: replace files in DIR that batchsend did not write');
  addApiOptions(sendCommand)
    .option('--concurrency <n>', 'requests in flight at most', '4')
    .option('--rate <n>', 'recipients a second at most (default: unpaced)')
    .option('--max-attempts <n>', 'attempts per batch for refusals that prove nothing was accepted (429, connection refused)', '5')
    .option('--timeout <seconds>', 'deadline of one request', '60')
    .option('--max-wait <seconds>', 'longest Retry-After or backoff worth waiting; longer leaves the batch not sent (resumable)', '120')
    .option('--resend-in-doubt', 'resend batches still in doubt after one more lookup (may send twice: check batchsend status --remote first)')
    .option('--new-run', 'start a new run although an earlier run sent this input or template (it says how many already got it)')
    .option('--force-unlock', "take over the run's lock when its owner cannot be judged (another host or container); never from a live owner")
    .addOption(new Option('--lookup-settle <seconds>', 'two empty lookups this far apart prove a batch absent').env('BATCHSEND_LOOKUP_SETTLE').default('30'))
    .option('--test-to <identity>', 'send the message of one row to this identity alone, then stop: no run, no journal (CHANNEL:VALUE or contact_id:ID to choose)')
    .option('--test-row <line>', "with --test-to: the row starting at this line (default: the first valid row)")
    .addOption(new Option('--campaign <name>', 'send only to recipients no run of campaign NAME has sent to; record the rest in its ledger').env('BATCHSEND_CAMPAIGN'))
    .option('-y, --yes', 'send without showing the plan and asking first (only asked on a terminal)')
    .addHelpText('after', SEND_EXAMPLES)
    .action(async (recipients: string, options: Record<string, unknown>) => {
      await beforeRows();
      const { sendCommand } = await import('./commands/send.js');
      setExitCode(await sendCommand(recipients, options, io, { toolVersion: version, stop: interrupts.stop, abort: interrupts.abort, pid: processHost.pid, isAlive: processHost.isAlive }));
    });

  program
    .command('runs')
    .description('the runs in the state, newest first: id, campaign, input and template, started, state, counts')
    .addOption(stateOption())
    .option('--json', 'one JSON object a run on stdout')
    .addHelpText('after', '\nExamples:\n  $ batchsend runs\n  $ batchsend runs --state /shared/batchsend --json')
    .action(async (options: Record<string, unknown>) => {
      const { runsCommand } = await import('./commands/runs.js');
      setExitCode(await runsCommand(options, io));
    });

  addApiOptions(
    addRunChoice(
      program.command('status').description("the state of a run from its journal; --remote also asks the API for each batch's status"),
    )
      .option('--remote', 'ask the API too (needs credentials)')
      .option('--json', 'one JSON object on stdout'),
  )
    .addHelpText('after', '\nExamples:\n  $ batchsend status\n  $ batchsend status --run 1a2b3c --remote\n\nExit codes: 0 all accepted, 5 some rejected or not sent, 6 some in doubt or sent twice.')
    .action(async (options: Record<string, unknown>) => {
      const { statusCommand } = await import('./commands/status.js');
      setExitCode(await statusCommand(options, io));
    });

  addApiOptions(addRunChoice(program.command('cancel').description("cancel the run's batches that are still scheduled (send_after in the future)")))
    .addHelpText('after', '\nExamples:\n  $ batchsend cancel\n  $ batchsend cancel --run 1a2b3c')
    .action(async (options: Record<string, unknown>) => {
      const { cancelCommand } = await import('./commands/status.js');
      setExitCode(await cancelCommand(options, io));
    });

  addRunChoice(program.command('listen').description("receive the app's delivery callbacks, verify their signature, store them durably with the run"))
    .option('--port <n>', 'port to listen on', '8080')
    .option('--host <address>', 'address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--secret-file <file>', 'file (mode 0600) with the webhook secret (or set SINCH_WEBHOOK_SECRET)')
    .option('--allow-unsigned', 'start without a webhook secret: accept unsigned callbacks from anyone who can reach the port')
    .option('--max-connections <n>', 'connections open at once; past it the oldest idle or unverified one is closed', '512')
    .option('--json', 'print the address as one JSON line')
    .addHelpText(
      'after',
      `
Examples:
  $ SINCH_WEBHOOK_SECRET=… batchsend listen --port 8080
  $ batchsend listen --host 0.0.0.0 --port 8080 --secret-file webhook-secret --run 1a2b3c

Each callback is answered 200 only once it is stored durably. Without a secret it starts only
with --allow-unsigned. Ctrl-C stops it.`,
    )
    .action(async (options: Record<string, unknown>) => {
      const { listenCommand } = await import('./commands/listen.js');
      setExitCode(await listenCommand(options, io, interrupts.stop()));
    });

  addRunChoice(program.command('report').description("join the stored callbacks to the rows: one outcome for every row, reasons, failed rows and every row's outcome as CSV"))
    .option('--failed <file>', 'write the failed and rejected rows (original columns + status, reason) here: a CSV that send accepts')
    .option('--rows <file>', 'write every row (original columns + outcome, reason, batch_id) here')
    .option('--force', 'replace --failed / --rows FILE even if batchsend did not write it')
    .option('--json', 'one JSON object on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ batchsend report
  $ batchsend report --run 1a2b3c --failed failed.csv --rows outcomes.csv

Outcomes: delivered, read, failed, pending, in_doubt, rejected, not_sent, invalid, duplicate, already_sent.`,
    )
    .action(async (options: Record<string, unknown>) => {
      const { reportCommand } = await import('./commands/report.js');
      setExitCode(await reportCommand(options, io));
    });

  program
    .command('emulator')
    .description('a local stand-in for the Sinch auth and Batch API, for trying batchsend and for tests')
    .option('--port <n>', 'port on 127.0.0.1 (0: any free port)', '8787')
    .option('--key-id <id>', 'the access key id it accepts (default: the demo key)')
    .option('--key-secret-file <file>', 'file (mode 0600) with the key secret it accepts (default: the demo secret)')
    .option('--project-id <id>', 'the project id it serves (default: demo-project)')
    .option('--token-ttl <seconds>', 'lifetime of issued tokens', '3600')
    .option('--queue-capacity <n>', "the app's MT queue size, messages", '500000')
    .option('--drain-rate <n>', 'messages drained a second', '20')
    .option('--fast', 'drain the queue at once (tests, benchmarks)')
    .option('--lookup-delay-ms <ms>', 'delay before a new batch is visible to lookups by metadata', '1000')
    .option('--list-shape <shape>', "answer of GET by metadata: 'array' or 'object'", 'array')
    .option('--webhook <url>', 'send delivery callbacks here')
    .addOption(new Option('--webhook-secret <secret>', 'sign callbacks with this secret').env('SINCH_WEBHOOK_SECRET'))
    .option('--failure-rate <p>', 'share of recipients (0..1) whose delivery fails with RECIPIENT_NOT_REACHABLE', '0')
    .option('--substitution-failure-rate <p>', "share of recipients (0..1) failed with the documented asynchronous BAD_REQUEST", '0')
    .option('--app-mode <mode>', "the app's processing mode: 'dispatch' (only identified_by recipients) or 'conversation'", 'dispatch')
    .option('--cancel-delay-ms <ms>', 'how long after its 200 a cancel takes effect (the API cancels asynchronously)', '500')
    .option('--expired-token-style <style>', "refuse an expired token as 'bearer' (WWW-Authenticate says expired) or 'rfc7807' (Basic realm + access-token-expired body)", 'bearer')
    .option('--callback-identities <form>', "identities in callbacks: 'e164' (as sent) or 'digits' (without +, as the documentation shows)", 'e164')
    .addOption(new Option('--override-callback-secret <secret>', "the app's secret for overridden callback URLs: receipts to a batch's callback_url are signed with it"))
    .option('--batch-status-shape <shape>', "batch status callback: 'notification' (batch_status_update_notification) or 'update' (batch_status_update)", 'notification')
    .option('--refuse-single-send-fields', 'refuse queue, message_content_type, conversation_metadata_update_strategy as unknown batch fields')
    .option('--fault <spec>', 'inject a fault, repeatable: ROUTE:KIND[=N][,times=N|,rate=P][,retry-after=S]', (value: string, all: string[] = []) => [...all, value])
    .option('--json', 'print the address as one JSON line')
    .addHelpText(
      'after',
      `
Examples:
  $ batchsend emulator
  $ batchsend emulator --port 0 --fast --json
  $ batchsend emulator --webhook http://127.0.0.1:8080/callbacks --webhook-secret s3cret --failure-rate 0.02
  $ batchsend emulator --fault send:status=503,times=2 --fault token:status=429,rate=0.1

Fault routes: token, send, get, list, cancel, any. Kinds: status=N, accept-then-status=N,
reset-before, reset-after, hang, accept-then-hang, slow=MS, accept-then-empty, empty (200 without batch_id), redirect[=3xx].`,
    )
    .action(async (options: Record<string, unknown>) => {
      const { emulatorCommand } = await import('./commands/emulator.js');
      setExitCode(await emulatorCommand(options, io, interrupts.stop()));
    });

  for (const command of program.commands) {
    command.exitOverride().configureOutput(output(io));
  }
  return program;
}

interface Failure {
  readonly exitCode: number;
  /** For the `error` event; undefined: the exit code's own meaning. */
  readonly message?: string;
  readonly hint?: string;
}

async function describeFailure(error: unknown, io: Io): Promise<Failure> {
  if (error instanceof CommanderError) {
    // commander has already printed its message; help and version are not failures.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return { exitCode: 0 };
    return { exitCode: 2, message: redactUnknownOption(error.message).replace(/^error: /, ''), hint: 'see batchsend --help, or batchsend <command> --help' };
  }
  const { ExitError } = await import('./exit-codes.js');
  if (error instanceof ExitError) {
    const e: ExitErrorType = error;
    io.stderr.write(`batchsend: ${e.message}\n`);
    if (e.hint !== undefined) io.stderr.write(`  ${e.hint}\n`);
    return { exitCode: e.exitCode, message: e.message, hint: e.hint };
  }
  const { isDiskError, StorageError } = await import('./state/safe-files.js');
  if (isDiskError(error)) {
    // A full, read-only or refused disk is the environment, not a bug: exit 2, in words.
    return describeFailure(new StorageError(error.path ?? 'a file', error.code!, undefined, { cause: error }), io);
  }
  const { mappedStack } = await import('./report/mapped-stack.js');
  const detail = error instanceof Error ? mappedStack(error.stack ?? error.message) : String(error);
  io.stderr.write(
    `batchsend: internal error — this is a bug in batchsend, please report it with the lines below.\n${detail}\n`,
  );
  return { exitCode: 1, message: `internal error — this is a bug in batchsend: ${error instanceof Error ? error.message : String(error)}` };
}

/** --json: the last event of a run that fails says why, whatever failed (usage errors included). */
async function writeErrorEvent(io: Io, failure: Failure): Promise<void> {
  const { EXIT_MEANING } = await import('./exit-codes.js');
  const meaning = EXIT_MEANING[failure.exitCode];
  const event = { event: 'error', exit_code: failure.exitCode, message: failure.message ?? meaning?.message ?? `exit ${failure.exitCode}`, hint: failure.hint ?? meaning?.hint ?? null };
  io.stdout.write(`${JSON.stringify(event)}\n`);
}

export async function main(
  argv: readonly string[],
  io: Io,
  interrupts: Interrupts = { stop: () => new AbortController().signal, abort: new AbortController().signal },
  beforeRows?: () => Promise<void>,
): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c), interrupts, beforeRows);
  let failure: Failure;
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    if (argv.length === 0) {
      program.outputHelp();
    }
    failure = { exitCode: code };
  } catch (error) {
    failure = await describeFailure(error, io);
  }
  // Before `--`, `--json` asks for events; it is read from argv so that a usage error gets its event too.
  const flags = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  if (failure.exitCode !== 0 && flags.includes('--json')) await writeErrorEvent(io, failure);
  return failure.exitCode;
}

export async function run(): Promise<void> {
  const io: Io = {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    stderrIsTTY: process.stderr.isTTY === true,
    stdinIsTTY: process.stdin.isTTY === true,
    stderrColumns: process.stderr.columns ?? 0,
    env: process.env,
    cwd: process.cwd(),
    pid: process.pid,
  };
  // A closed pipe on stdout (| head) ends the run quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exitCode = process.exitCode ?? 0;
  });
  // Commands that must stop cleanly (send, emulator) ask for a signal; the others keep Node's
  // default of ending at once on SIGINT. First signal: start nothing new. Second signal, or 5 s
  // later: abandon requests in flight (they are recorded as in doubt).
  const stopping = new AbortController();
  const aborting = new AbortController();
  const onSignal = (): void => {
    if (stopping.signal.aborted) return aborting.abort();
    stopping.abort();
    setTimeout(() => aborting.abort(), 5000).unref();
  };
  const stop = (): AbortSignal => {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return stopping.signal;
  };
  process.exitCode = await main(process.argv.slice(2), io, { stop, abort: aborting.signal }, holdYoungGenerationWhileRowsStream);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}
