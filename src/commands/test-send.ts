import { BatchBodyBuilder, batchShape, entryJson } from '../batch/batch-body.js';
import { ExitCode, ExitError, UsageError } from '../exit-codes.js';
import { channelOfHeader, normaliseIdentity, type ChannelIdentity, type Recipient, type RecipientEntry } from '../recipient/recipient.js';
import { tokenMask } from '../report/github-actions.js';
import type { Reporter } from '../report/reporter.js';
import type { Io } from '../report/terminal.js';
import { fullJitter } from '../send/backoff.js';
import { sleep } from '../send/sleep.js';
import { BatchClient } from '../sinch/batch-client.js';
import { createHttpAgent, proxySettings } from '../sinch/http-agent.js';
import { TokenProvider, TokenUnavailable } from '../sinch/token.js';
import type { Template } from '../template/template.js';
import type { Channel } from '../template/message-schema.js';
import type { CheckOptions } from './check-options.js';
import { checkRows } from './check-rows.js';
import type { SendRunOptions } from './send-run.js';

/** `send --test-to IDENTITY [--test-row LINE]`. */
export interface TestSendOptions {
  readonly to: string;
  /** The row to send, by the line it starts on; the first valid row when undefined. */
  readonly row: number | undefined;
}

export interface TestSendDeps {
  readonly io: Io;
  readonly reporter: Reporter;
  readonly stop: AbortSignal;
  readonly now: () => number;
  readonly random: () => number;
}

/** The metadata key that marks a test send, so it is never taken for a batch of a run. */
export const TEST_BATCH_KEY = 'batchsend_test';

/**
 * The test recipient: `CHANNEL:VALUE` or `contact_id:VALUE` as written; a bare value takes the
 * channels of the row's identities (else of the template's channel_priority_order), normalised as
 * any identity is.
 */
export function testRecipient(to: string, row: Recipient, template: Template, defaultCountry: string | undefined): Recipient {
  const colon = to.indexOf(':');
  const prefix = colon > 0 ? to.slice(0, colon).trim() : '';
  if (prefix.toLowerCase() === 'contact_id') {
    const id = to.slice(colon + 1).trim();
    if (id === '') throw new UsageError(`--test-to '${to}': the contact id is empty`);
    return { contact_id: id };
  }
  const named = prefix === '' ? undefined : channelOfHeader(prefix);
  const value = named === undefined ? to : to.slice(colon + 1);
  let channels: Channel[];
  if (named !== undefined) channels = [named];
  else if ('identified_by' in row) channels = [...new Set(row.identified_by.channel_identities.map((i) => i.channel))];
  else channels = [...(template.body.channel_priority_order ?? [])];
  if (channels.length === 0) {
    throw new UsageError(`--test-to '${to}': the row has a contact_id and the template no channel_priority_order, so the channel is unknown`, 'say it: --test-to SMS:+46701234567, or --test-to contact_id:ID');
  }
  const identities: ChannelIdentity[] = [];
  for (const channel of channels) {
    const normalised = normaliseIdentity(channel, value, defaultCountry);
    if (!normalised.ok) throw new UsageError(`--test-to '${to}': ${normalised.reason}`);
    identities.push({ channel, identity: normalised.identity });
  }
  return { identified_by: { channel_identities: identities } };
}

/**
 * Send the message of one row to one identity, as a request of its own: no journal, lock, run
 * or campaign is touched, and the body carries no run tag (a later real run can never mistake it
 * for one of its batches). Prints the batch id. Returns the exit code.
 */
export async function testSend(options: CheckOptions, template: Template, appId: string, send: SendRunOptions, test: TestSendOptions, deps: TestSendDeps): Promise<number> {
  const { io, reporter } = deps;
  let found: { line: number; entry: RecipientEntry } | undefined;
  // Every row is read (so the message is the one the real send would carry, --gsm-safe included);
  // nothing is written: invalid rows are only reported.
  const checked = await checkRows({ ...options, skipInvalid: false }, template, io, reporter, (line, entry) => {
    if (found === undefined && (test.row === undefined || test.row === line)) found = { line, entry };
  }, false, undefined);
  const file = options.recipients === '-' ? 'stdin' : options.recipients;
  if (found === undefined) {
    if (test.row === undefined) throw new ExitError(ExitCode.validation, `${file}: no valid row to send a test of`, 'fix the rows above');
    throw new ExitError(
      checked.invalid > 0 ? ExitCode.validation : ExitCode.usage,
      `--test-row ${test.row}: no valid row starts at line ${test.row} of ${file}`,
      'a row is named by the line where it starts (the header is line 1); see the problems above',
    );
  }
  if (checked.invalid > 0) reporter.warning(`${checked.invalid} other rows are invalid: the real send will stop on them (or skip them with --skip-invalid)`);

  const recipient = testRecipient(test.to, found.entry.recipient, template, options.recipient.defaultCountry);
  const entry: RecipientEntry = { ...found.entry, recipient };
  const builder = new BatchBodyBuilder(template, { ...batchShape(options, appId), tracking: false }, 'test');
  const body = JSON.parse(builder.body(1, [entryJson(found.line, entry, false)])) as Record<string, unknown>;
  body.batch_metadata = { ...(body.batch_metadata as object | undefined), [TEST_BATCH_KEY]: `${file}:${found.line}` };
  if (body.send_after !== undefined) {
    delete body.send_after;
    reporter.note("the template's send_after is left out: the test goes now");
  }
  const shown = 'contact_id' in recipient ? `contact_id ${recipient.contact_id}` : recipient.identified_by.channel_identities.map((i) => `${i.channel} ${i.identity}`).join(', ');

  const agent = createHttpAgent(io.env, { connections: 1 });
  try {
    const proxy = proxySettings(io.env);
    const tokens = new TokenProvider(send.api, agent, { now: deps.now, random: deps.random, sleep, maxAttempts: 4, baseMs: send.backoffBaseMs, timeoutMs: send.timeoutMs, proxy, onToken: tokenMask(io.stderr, send.githubMask) });
    const client = new BatchClient(send.api, agent, { headersTimeoutMs: send.timeoutMs, deadlineMs: send.timeoutMs, now: deps.now, proxy });
    const bytes = Buffer.from(JSON.stringify(body));
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      let token: string;
      try {
        token = await tokens.get(deps.stop);
      } catch (error) {
        if (error instanceof TokenUnavailable) throw new ExitError(ExitCode.rejected, `test message not sent: no token (${error.message})`, undefined, { cause: error });
        throw error;
      }
      const outcome = await client.send(bytes, token, deps.stop);
      if (outcome.kind === 'accepted') {
        const id = outcome.batchId ?? 'unknown (the answer had no batch_id)';
        reporter.testSent({ file, line: found.line, to: shown, batchId: outcome.batchId });
        if (!options.json) io.stdout.write(`${id}\n`);
        reporter.note(`Test message of ${file}:${found.line} accepted for ${shown} alone: batch ${id}. No run was started; send without --test-to for the real send.`);
        return ExitCode.ok;
      }
      if (outcome.kind === 'auth') {
        if (outcome.expired && !refreshed) {
          refreshed = true;
          tokens.invalidate(token);
          continue;
        }
        throw new ExitError(ExitCode.auth, `test message not sent: ${outcome.status === 403 ? 'permission denied (403)' : 'authentication failed (401)'}`, 'check --key-id, the key secret and --project-id');
      }
      if (outcome.kind === 'rejected') {
        if (outcome.status === 404) {
          throw new UsageError(`test message not sent: 404 from ${send.api.baseUrl}: ${outcome.message}`, 'check --region, --project-id and --base-url');
        }
        throw new ExitError(ExitCode.rejected, `test message rejected: ${outcome.status} ${outcome.message}`);
      }
      if (outcome.kind === 'redirected') throw new UsageError(`test message not sent: ${outcome.message}`, 'check --base-url / SINCH_BATCH_URL and --region');
      if (outcome.kind === 'unknown') {
        // It may have been accepted: a second one could reach the phone twice. Said, not resent.
        throw new ExitError(ExitCode.inDoubt, `test message in doubt: ${outcome.reason}; it was not sent again`, `look for batch_metadata.${TEST_BATCH_KEY} = "${file}:${found.line}" before trying again`);
      }
      if (attempt >= send.maxAttempts || deps.stop.aborted) throw new ExitError(ExitCode.rejected, `test message not sent: ${outcome.reason} after ${attempt} attempts`);
      const wait = outcome.retryAfterMs ?? fullJitter(attempt, { baseMs: send.backoffBaseMs, capMs: 32_000 }, deps.random);
      if (wait > send.maxWaitMs) throw new ExitError(ExitCode.rejected, `test message not sent: ${outcome.reason}; the server asks to wait ${Math.round(wait / 1000)} s`);
      await sleep(wait, deps.stop);
    }
  } finally {
    await agent.close().catch(() => undefined);
  }
}
