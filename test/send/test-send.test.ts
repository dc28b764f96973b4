import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, jsonEvents, tempDir } from '../helpers.js';
import { emulatorsClosedAfterEach, recipientsFile, send, TEMPLATE } from '../send-helpers.js';

const emulator = emulatorsClosedAfterEach();
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A working directory whose state locations (cwd/.batchsend, XDG state, BATCHSEND_STATE, HOME) are all inside it. */
function sandbox(): { dir: string; env: Record<string, string> } {
  const dir = tempDir();
  dirs.push(dir);
  mkdirSync(join(dir, 'home'));
  return { dir, env: { HOME: join(dir, 'home'), XDG_STATE_HOME: join(dir, 'xdg'), BATCHSEND_STATE: join(dir, 'state') } };
}

/** Everything under `dir` but the given input files. */
function created(dir: string, inputs: string[]): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((path) => !inputs.includes(path) && path !== 'home');
}

type Body = { recipient_and_params: Array<{ recipient: unknown; parameters: Record<string, string>; message_metadata?: unknown }>; batch_metadata: Record<string, string> };

describe('send --test-to', () => {
  it('sends the first valid row to the test identity alone, prints the batch id, and touches no run', async () => {
    const emu = await emulator();
    const { dir, env } = sandbox();
    const input = recipientsFile(dir, 5);
    // A campaign named in the environment is not touched either.
    const r = await send(dir, emu, [input, '-t', TEMPLATE, '--test-to', '070-123 45 99', '--default-country', 'SE'], { ...env, BATCHSEND_CAMPAIGN: 'spring' });
    expect(r.code).toBe(0);
    const bodies = emu.acceptedBodies().map((b) => b.body as Body);
    expect(bodies).toHaveLength(1);
    const [body] = bodies;
    expect(body!.recipient_and_params).toEqual([
      { recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: '+46701234599' }] } }, parameters: { first_name: 'Name 0', order_id: 'A-0' } },
    ]);
    expect(body!.batch_metadata).toEqual({ campaign: 'spring', batchsend_test: `${input}:2` });
    expect(emu.stats).toMatchObject({ acceptedBatches: 1, acceptedRecipients: 1 });
    expect(r.stdout.trim()).toBe(emu.acceptedBodies()[0]!.batchId);
    expect(r.stderr).toContain(`accepted for SMS +46701234599 alone: batch ${r.stdout.trim()}`);
    // No journal, lock, spool, manifest or state anywhere.
    expect(created(dir, ['people.csv'])).toEqual([]);
  });

  it('--test-row LINE sends that row; with --gsm-safe the text is what the real send carries', async () => {
    const emu = await emulator();
    const { dir, env } = sandbox();
    const r = await send(dir, emu, [fixture('sms-parts.csv'), '-t', TEMPLATE, '--test-to', 'SMS:+46701230000', '--test-row', '3', '--gsm-safe', '--json'], env);
    expect(r.code).toBe(0);
    const body = emu.acceptedBodies()[0]!.body as Body;
    expect(body.recipient_and_params).toHaveLength(1);
    expect(body.recipient_and_params[0]!.parameters.first_name).toBe("Anna's team");
    const event = jsonEvents(r.stdout).find((e) => e.event === 'test_send');
    expect(event).toEqual({ event: 'test_send', file: fixture('sms-parts.csv'), line: 3, to: 'SMS +46701230000', batch_id: emu.acceptedBodies()[0]!.batchId });
    expect(created(dir, [])).toEqual([]);
  });

  it('a real send after a test send sends every row: the test batch is never taken for one of the run', async () => {
    const emu = await emulator();
    const { dir, env } = sandbox();
    const input = recipientsFile(dir, 1500);
    expect((await send(dir, emu, [input, '-t', TEMPLATE, '--test-to', '+46701239999'], env)).code).toBe(0);
    const real = await send(dir, emu, [input, '-t', TEMPLATE, '--json'], env);
    expect(real.code).toBe(0);
    expect(jsonEvents(real.stdout).at(-1)).toMatchObject({ event: 'summary', recipients_accepted: 1500 });
    expect(emu.stats).toMatchObject({ acceptedBatches: 3, acceptedRecipients: 1501, recipientsAcceptedTwice: 0 });
  });

  it('a bad test identity, a row that is not valid, or flags that do not go together: nothing is sent', async () => {
    const emu = await emulator();
    const { dir, env } = sandbox();
    const input = recipientsFile(dir, 3);
    const bad = await send(dir, emu, [input, '-t', TEMPLATE, '--test-to', '12'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--test-to '12': SMS:");
    const noRow = await send(dir, emu, [input, '-t', TEMPLATE, '--test-to', '+46701239999', '--test-row', '9'], env);
    expect(noRow.code).toBe(2);
    expect(noRow.stderr).toContain('--test-row 9: no valid row starts at line 9');
    writeFileSync(join(dir, 'bad.csv'), 'SMS,first_name,order_id\n+46701234567,,A-1\n');
    const invalid = await send(dir, emu, [join(dir, 'bad.csv'), '-t', TEMPLATE, '--test-to', '+46701239999', '--test-row', '2'], env);
    expect(invalid.code).toBe(3);
    const dry = await send(dir, emu, [input, '-t', TEMPLATE, '--test-to', '+46701239999', '--dry-run'], env);
    expect(dry.code).toBe(2);
    const fraction = await send(dir, emu, [input, '-t', TEMPLATE, '--test-to', '+46701239999', '--test-row', '2.5'], env);
    expect(fraction.code).toBe(2);
    const alone = await send(dir, emu, [input, '-t', TEMPLATE, '--test-row', '2'], env);
    expect(alone.code).toBe(2);
    expect(emu.stats).toMatchObject({ acceptedBatches: 0 });
    expect(created(dir, ['people.csv', 'bad.csv'])).toEqual([]);
  });
});

describe('--gsm-safe and the run', () => {
  it('a run sent without --gsm-safe is not resumed with it: the bodies would differ (exit 2, nothing sent)', async () => {
    const emu = await emulator();
    const { dir, env } = sandbox();
    const first = await send(dir, emu, [fixture('sms-parts.csv'), '-t', TEMPLATE], env);
    expect(first.code).toBe(0);
    const again = await send(dir, emu, [fixture('sms-parts.csv'), '-t', TEMPLATE, '--gsm-safe'], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--gsm-safe');
    expect(emu.stats).toMatchObject({ acceptedBatches: 1, acceptedRecipients: 4 });
  });
});
