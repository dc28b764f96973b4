import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { jsonEvents } from '../helpers.js';
import { campaignScratch } from './scratch.js';
import { PostgresState } from '../../src/state/postgres/connection.js';
import { emulatorsClosedAfterEach, recipientsFile, send, TEMPLATE } from '../send-helpers.js';

/**
 * A claim that fails part-way through the windows (the PostgreSQL server's disk fills up, SQLSTATE
 * 53100, raised by a trigger from batch 4 on) while earlier batches are in flight: a state failure
 * in plain words (exit 2) with the summary — like a failing journal write — never "a bug".
 */
const { workDir, database } = campaignScratch();

describe('a claim that fails while earlier batches are sent (PostgreSQL)', () => {
  const emulator = emulatorsClosedAfterEach();
  it('sends only claimed batches, accounts for every row, exits 2 naming the failure, with the summary', async () => {
    const stateUrl = await database();
    const s = await PostgresState.open(stateUrl);
    await s.close();
    const client = new pg.Client({ connectionString: stateUrl });
    await client.connect();
    await client.query(`CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$`);
    await client.query('CREATE TRIGGER full_disk BEFORE INSERT ON batchsend_campaign_keys FOR EACH ROW WHEN (NEW.batch >= 4) EXECUTE FUNCTION full_disk()');
    await client.end();
    const dir = workDir();
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 100, rate: 1 }] });
    const r = await send(dir, emu, [recipientsFile(dir, 100, 'people.csv'), '-t', TEMPLATE, '--campaign', 'full', '--state', stateUrl, '--batch-size', '10', '--concurrency', '1', '--json']);
    const summary = jsonEvents(r.stdout).find((e) => e.event === 'summary');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).not.toMatch(/this is a bug|\n\s+at /);
    expect(r.stderr).toMatch(/campaign full: cannot claim recipients: could not extend file: No space left on device \(53100\)/);
    // Batches 1–2 were claimed (the window of batches 3–4 failed): only they may have gone out.
    expect(emu.stats.acceptedRecipients).toBe(20);
    expect(summary).toMatchObject({ recipients: { accepted: 20, not_sent: 80, in_doubt: 0 } });
  });
});
