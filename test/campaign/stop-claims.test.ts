import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { jsonEvents } from '../helpers.js';
import { campaignScratch } from './scratch.js';
import { PostgresState } from '../../src/state/postgres/connection.js';
import { emulatorsClosedAfterEach, recipientsFile, spawnSend, TEMPLATE, until } from '../send-helpers.js';

/**
 * A stop (SIGINT, a disk error) accounts for the batches never sent without claiming them: it
 * used to read them through the claiming generator, claiming every remaining recipient (20,000 at
 * a time) only to release them again — slow on a large list, and a SIGKILL during that drain
 * stranded claims on recipients never sent (other runs skip them as already sent). A trigger
 * records every key ever claimed.
 */
const { workDir, database } = campaignScratch();

describe('SIGINT under a campaign (PostgreSQL)', () => {
  const emulator = emulatorsClosedAfterEach();
  it('claims no more than it had claimed ahead when the signal came', async () => {
    const stateUrl = await database();
    const s = await PostgresState.open(stateUrl);
    await s.close();
    const client = new pg.Client({ connectionString: stateUrl });
    await client.connect();
    await client.query('CREATE TABLE audit (key bigint, batch int, at timestamptz DEFAULT clock_timestamp())');
    await client.query(`CREATE FUNCTION audit_claim() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit (key, batch) VALUES (NEW.key, NEW.batch); RETURN NEW; END $$`);
    await client.query('CREATE TRIGGER audit_claim AFTER INSERT ON batchsend_campaign_keys FOR EACH ROW EXECUTE FUNCTION audit_claim()');
    const dir = workDir();
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 300, rate: 1 }] });
    const run = spawnSend(dir, emu, [recipientsFile(dir, 2000, 'people.csv'), '-t', TEMPLATE, '--campaign', 'drain', '--state', stateUrl, '--batch-size', '10', '--concurrency', '1', '--json']);
    await until(() => emu.stats.acceptedBatches >= 3, 20_000);
    run.child.kill('SIGINT');
    const stopped = await run.done;
    const { rows: ever } = await client.query<{ n: number }>('SELECT count(DISTINCT key)::int AS n FROM audit');
    await client.end();
    expect(jsonEvents(stopped.stdout).find((e) => e.event === 'summary')).toMatchObject({ recipients: { accepted: emu.stats.acceptedRecipients, not_sent: 2000 - emu.stats.acceptedRecipients } });
    // The window claimed ahead at the signal is at most double what had been read; 2,000 is everything.
    expect(ever[0]!.n).toBeLessThan(2000);
  });

  it('SIGINT then SIGKILL 400 ms later: the dead run holds little more than it sent', async () => {
    const stateUrl = await database();
    const dir = workDir();
    const emu = await emulator({ faults: [{ route: 'send', kind: 'slow', delayMs: 300, rate: 1 }] });
    const run = spawnSend(dir, emu, [recipientsFile(dir, 100_000, 'people.csv'), '-t', TEMPLATE, '--campaign', 'strand', '--state', stateUrl, '--batch-size', '100', '--concurrency', '1', '--json']);
    await until(() => emu.stats.acceptedBatches >= 2, 60_000);
    run.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 400));
    run.child.kill('SIGKILL');
    await run.done;
    const client = new pg.Client({ connectionString: stateUrl });
    await client.connect();
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM batchsend_campaign_keys');
    await client.end();
    // At the signal the run had read about 2 windows ahead of what it sent.
    expect(rows[0]!.n).toBeLessThan(emu.stats.acceptedRecipients * 4 + 1000);
  }, 120_000);
});
