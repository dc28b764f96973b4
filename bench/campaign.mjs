// npm run bench:campaign — the campaign ledger and the PostgreSQL state, as ratios within one run:
//  1. a 1M-recipient campaign ledger (local state) checked against a new 1M-row file, every row
//     already sent (so the send is the check alone, no network): time against a plain `validate`
//     of the same file (target <= 2x), and peak RSS (target <= 200 MB);
//  2. sending 200,000 recipients under a campaign to the emulator with the PostgreSQL state
//     against the same with the local state (target <= 1.5x), and the same without a campaign
//     (runs, journals and locks only). The PostgreSQL cluster is durable (fsync on), as the local
//     state's journal is.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiEnv, bin, emulator, fmt, generate, measure, median, root, template } from './harness.mjs';
import { startCluster } from '../scripts/pg-cluster.mjs';

const quick = process.argv.includes('--quick');
const { LocalCampaignStore } = await import(join(root, 'dist', 'campaign', 'local-campaigns.js'));
const { RecipientKeys } = await import(join(root, 'dist', 'campaign', 'recipient-keys.js'));

/** A ledger holding every recipient of `file` (SMS in column 1), accepted by one earlier run. */
async function ledgerOf(file, stateDir, campaign) {
  const store = new LocalCampaignStore(stateDir, { host: hostname(), isAlive: () => false });
  const ledger = await store.ledger(campaign);
  await ledger.join({ runId: 'earlier', started: new Date().toISOString(), input: file, templateSha256: 'x' });
  const keys = new RecipientKeys();
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 1; i < lines.length; i++) {
    if (lines[i] === '') continue;
    keys.add({ identified_by: { channel_identities: [{ channel: 'SMS', identity: lines[i].slice(0, lines[i].indexOf(',')) }] } });
  }
  const words = keys.slice(0, keys.size);
  await ledger.claim('earlier', [{ index: 1, keys: words }]);
  await ledger.settle('earlier', [{ index: 1, keys: words, outcome: 'accepted' }]);
  return keys.size;
}

async function ledgerCheck(rows, repeats) {
  const file = await generate(rows);
  const work = mkdtempSync(join(tmpdir(), 'batchsend-bench-'));
  try {
    const held = await ledgerOf(file, join(work, 'state'), 'bench');
    const env = { SINCH_PROJECT_ID: 'p', SINCH_KEY_ID: 'k', SINCH_KEY_SECRET: 's', SINCH_BATCH_URL: 'http://127.0.0.1:9', SINCH_AUTH_URL: 'http://127.0.0.1:9/oauth2/token' };
    const validate = [];
    const checked = [];
    for (let i = 0; i < repeats; i++) {
      validate.push(await measure([bin, 'validate', file, '--template', template], {}, work));
      rmSync(join(work, '.batchsend'), { recursive: true, force: true });
      checked.push(await measure([bin, 'send', file, '--template', template, '--campaign', 'bench', '--state', join(work, 'state')], env, work));
    }
    const v = median(validate.map((r) => r.ms));
    const c = median(checked.map((r) => r.ms));
    console.log(
      `campaign ledger of ${held.toLocaleString('en-US')} recipients checked against a new ${rows.toLocaleString('en-US')}-row file (all already sent): ` +
        `send --campaign ${fmt(c)} ms, validate ${fmt(v)} ms, ratio ${fmt(c / v, 2)}x (target <= 2x); ` +
        `peak RSS ${fmt(Math.max(...checked.map((r) => r.rssMiB)))} MiB (target <= 200 MB), validate ${fmt(Math.max(...validate.map((r) => r.rssMiB)))} MiB`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function sendWithState(file, state, work, campaign) {
  const emu = await emulator(['--fast']);
  try {
    // The journal where the state keeps it (the local state's files, fsync'd; PostgreSQL's rows, committed).
    const args = [bin, 'send', file, '--template', template, '--state', state, ...(campaign ? ['--campaign', 'bench-send'] : [])];
    const result = await measure(args, { ...apiEnv(emu.info), XDG_STATE_HOME: join(work, 'xdg') }, work);
    const stats = await emu.stats();
    if (stats.acceptedRecipients === 0 || stats.recipientsAcceptedTwice !== 0) throw new Error(`unexpected: ${JSON.stringify(stats)}`);
    return { ...result, accepted: stats.acceptedRecipients };
  } finally {
    await emu.stop();
  }
}

async function stateBench(rows, repeats) {
  const file = await generate(rows);
  // fsync and synchronous commit on: as durable as the local state's fsync'd journal.
  const cluster = await startCluster({ durable: true });
  const { default: pg } = await import('pg');
  const work = mkdtempSync(join(tmpdir(), 'batchsend-bench-'));
  try {
    // Under a campaign (ledger, runs, journals and locks in the state) and without one (runs,
    // journals and locks only): what the PostgreSQL state costs beside the local one.
    let db = 0;
    for (const campaign of [true, false]) {
      const local = [];
      const postgres = [];
      for (let i = 0; i < repeats; i++) {
        // A fresh state each time: every recipient is new to the campaign, every run new.
        local.push(await sendWithState(file, join(work, `state-${db}`), work, campaign));
        const admin = new pg.Client({ connectionString: cluster.url });
        await admin.connect();
        await admin.query(`CREATE DATABASE bench_${db}`);
        await admin.end();
        const url = new URL(cluster.url);
        url.pathname = `/bench_${db++}`;
        postgres.push(await sendWithState(file, url.toString(), work, campaign));
      }
      const l = median(local.map((r) => r.ms));
      const p = median(postgres.map((r) => r.ms));
      console.log(
        `send ${rows.toLocaleString('en-US')} recipients ${campaign ? 'under a campaign' : 'without a campaign'} to the emulator (fast mode), PostgreSQL durable (fsync, synchronous commit): ` +
          `PostgreSQL state ${fmt(p)} ms, local state ${fmt(l)} ms, ratio ${fmt(p / l, 2)}x (target <= 1.5x); ${postgres[0].accepted} accepted each time`,
      );
    }
  } finally {
    cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

console.log(`node ${process.version}; medians of runs made in this process, alternating the compared commands`);
// --ledger-only / --state-only: one half (each takes minutes on a loaded machine).
if (!process.argv.includes('--state-only')) await ledgerCheck(quick ? 100_000 : 1_000_000, quick ? 1 : 3);
if (!process.argv.includes('--ledger-only')) await stateBench(quick ? 50_000 : 200_000, quick ? 1 : 3);
