import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { journalOf, tempDir } from '../helpers.js';
import { recipientsFile, send, TEMPLATE, freePort } from '../send-helpers.js';
import { TestClient } from '../emulator-client.js';


/**
 * Make the state a crash leaves: run a send to the end on one emulator, cut its journal just
 * after batch 1's `sending` record, and give a fresh emulator on the same address.
 */
async function crashedAfterFirstJournalWrite(): Promise<{ dir: string; input: string; port: number; firstBody: unknown }> {
  const port = await freePort();
  const first = await startEmulator({ fast: true, port });
  const dir = tempDir();
  const input = recipientsFile(dir, 30);
  expect((await send(dir, first, [input, '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1'])).code).toBe(0);
  const firstBody = first.acceptedBodies()[0]!.body;
  await first.close();
  const path = journalOf(dir);
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  writeFileSync(path, `${lines.slice(0, 2).join('\n')}\n`); // the manifest, then `sending` for batch 1
  expect(JSON.parse(lines[1]!)).toMatchObject({ t: 'sending', batch: 1 });
  return { dir, input, port, firstBody };
}

async function resume(dir: string, input: string, emu: Emulator) {
  return send(dir, emu, [input, '-t', TEMPLATE, '--batch-size', '10', '--concurrency', '1']);
}

describe('the write-ahead journal', () => {
  it('R1: killed after the journal write, before the request left: the resume proves it absent and sends it once', async () => {
    const { dir, input, port } = await crashedAfterFirstJournalWrite();
    const emu = await startEmulator({ fast: true, port });
    try {
      const r = await resume(dir, input, emu);
      expect(r.code).toBe(0);
      expect(emu.stats.lookups).toBeGreaterThanOrEqual(2);
      expect(emu.stats.sendRequests).toBe(3);
      expect(emu.stats.acceptedRecipients).toBe(30);
      expect(emu.stats.recipientsAcceptedTwice).toBe(0);
    } finally {
      await emu.close();
    }
  });

  it('R2: killed after the server accepted, before the answer was recorded: the resume finds it and does not POST it again', async () => {
    const { dir, input, port, firstBody } = await crashedAfterFirstJournalWrite();
    const emu = await startEmulator({ fast: true, port });
    try {
      const client = await new TestClient(emu).login();
      expect((await client.send(firstBody)).status).toBe(200); // what the killed run had sent
      const r = await resume(dir, input, emu);
      expect(r.code).toBe(0);
      expect(emu.stats.sendRequests).toBe(3); // the one above, and batches 2 and 3
      expect(emu.stats.acceptedRecipients).toBe(30);
      expect(emu.stats.recipientsAcceptedTwice).toBe(0);
    } finally {
      await emu.close();
    }
  });

  it('R11: a manifest write cut short leaves no journal, only a temp file; the next run starts cleanly', async () => {
    const emu = await startEmulator({ fast: true });
    try {
      const dir = tempDir();
      const input = recipientsFile(dir, 5);
      const journal = join(dir, 'j', 'run.journal.jsonl');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(join(dir, 'j'));
      writeFileSync(`${journal}.tmp-99999`, '{"t":"manifest","vers');
      const r = await send(dir, emu, [input, '-t', TEMPLATE, '--journal', journal]);
      expect(r.code).toBe(0);
      expect(JSON.parse(readFileSync(journal, 'utf8').split('\n')[0]!)).toMatchObject({ t: 'manifest', version: 2 });
      expect(emu.stats.acceptedRecipients).toBe(5);
    } finally {
      await emu.close();
    }
  });
});
