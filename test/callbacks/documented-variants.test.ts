import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/emulator.js';
import { jsonEvents, runCli } from '../helpers.js';
import { recipientsFile, send } from '../send-helpers.js';
import { cleanUp, cleanups, scratch, startListen } from './listen-helpers.js';

afterEach(cleanUp);

/**
 * The whole loop against the callbacks the documentation shows, not the friendliest ones: receipts
 * to the template's callback_url signed with the app's override secret, identities without `+`,
 * a Dispatch-mode app (no contact or conversation id), and no batchsend metadata to lean on.
 */
describe('listen and report with the documented callback variants', () => {
  it("every row reported, joined by batch id and an identity without '+', from a callback_url signed with the override secret", async () => {
    const dir = scratch();
    const journal = join(dir, 'run.journal.jsonl');
    const hook = await listen(dir, journal, 'override-secret');
    const emu = await startEmulator({ fast: true, webhookUrl: 'http://127.0.0.1:9/unused', webhookSecret: 'webhook-secret', overrideCallbackSecret: 'override-secret', callbackIdentities: 'digits', deliveryFailureRate: 0.1 });
    cleanups.push(() => emu.close());
    const template = join(dir, 'template.json');
    writeFileSync(template, JSON.stringify({ app_id: '01HAPPID', message: { text_message: { text: 'Hi ${first_name}' } }, callback_url: hook.url }));
    const rows = 250;
    const sent = await send(dir, emu, [recipientsFile(dir, rows), '-t', template, '--journal', journal, '--no-tracking', '--batch-size', '100']);
    expect(sent.code, sent.stderr).toBe(0);
    await emu.settled();
    await hook.stop();

    const r = await runCli(['report', '--journal', journal, '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const report = jsonEvents(r.stdout).find((e) => e.event === 'report') ?? jsonEvents(r.stdout)[0]!;
    expect(report.rows).toBe(rows);
    expect((report.delivered as number) + (report.failed as number)).toBe(rows);
    expect(report.failed as number).toBeGreaterThan(0);
    expect(report.pending).toBe(0);
    expect(report.unmatched).toBe(0);
  }, 120_000);
});

const listen = (dir: string, journal: string, secret: string) => startListen(dir, journal, secret);
