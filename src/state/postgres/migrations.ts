/**
 * The PostgreSQL state's schema, one migration per version, applied in order on first use (see
 * PostgresState.migrate). Never edit a released migration: add the next one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: campaign ledgers. One row per recipient key a run of the campaign claimed; the primary key
  // makes a claim atomic across machines (INSERT … ON CONFLICT DO NOTHING). state: 1 claimed
  // (before its batch is sent), 2 accepted, 3 in doubt. A claim released (the API proved it did
  // not take the batch) is deleted.
  `CREATE TABLE batchsend_campaign_runs (
     campaign text NOT NULL,
     run_id text NOT NULL,
     ordinal integer NOT NULL,
     started timestamptz NOT NULL DEFAULT now(),
     input text,
     template text,
     PRIMARY KEY (campaign, run_id),
     UNIQUE (campaign, ordinal)
   );
   CREATE TABLE batchsend_campaign_claims (
     campaign text NOT NULL,
     key bigint NOT NULL,
     run_ordinal integer NOT NULL,
     state smallint NOT NULL,
     PRIMARY KEY (campaign, key)
   );
   CREATE INDEX batchsend_campaign_claims_run ON batchsend_campaign_claims (campaign, run_ordinal);`,
  // 2: who holds a lock, so a refusal can name them. The lock itself is a session-level advisory
  // lock (it ends with its session); a row here means something only while that lock is held by
  // the backend it names.
  `CREATE TABLE batchsend_locks (
     name text PRIMARY KEY,
     owner jsonb NOT NULL,
     backend_pid integer NOT NULL,
     taken timestamptz NOT NULL DEFAULT now()
   );`,
  // 3: listen's callbacks, from any number of listen processes on any hosts. An identical retry
  // (same nonce and signature tag) is one row: the partial unique index refuses the second.
  `CREATE TABLE batchsend_callbacks (
     id bigserial PRIMARY KEY,
     place text NOT NULL,
     received_at timestamptz NOT NULL,
     nonce text,
     timestamp bigint,
     tag integer,
     body text NOT NULL
   );
   CREATE UNIQUE INDEX batchsend_callbacks_once ON batchsend_callbacks (place, nonce, tag) WHERE nonce IS NOT NULL;
   CREATE INDEX batchsend_callbacks_place ON batchsend_callbacks (place, id);`,
  // 4: runs and their journals. A run's summary is one jsonb value, replaced field by field in
  // one UPDATE (a reader sees the old or the new summary). A journal is its lines by sequence
  // number; `journal` is the run id (or, once retired by --new-run, `<id>.<suffix>.old`). A line
  // is a row: committed whole or not at all, so there is no torn tail to cut.
  `CREATE TABLE batchsend_runs (
     id text PRIMARY KEY,
     identity text NOT NULL,
     created text NOT NULL,
     summary jsonb NOT NULL
   );
   CREATE INDEX batchsend_runs_identity ON batchsend_runs (identity, created COLLATE "C", id COLLATE "C");
   CREATE TABLE batchsend_journals (
     journal text NOT NULL,
     seq integer NOT NULL,
     line text NOT NULL,
     PRIMARY KEY (journal, seq)
   );`,
  // 5: room on each page of the claims for its updated row: settling a claim (claimed → accepted)
  // changes only `state`, which no index holds, so with free space on the page PostgreSQL updates
  // it in place (a HOT update) instead of inserting into both indexes again. Settling 200,000
  // claims on a durable cluster went from about 9 s to 3 s.
  `ALTER TABLE batchsend_campaign_claims SET (fillfactor = 50);`,
  // 6: a claim is a row per key naming its run and batch; what became of it is a row per batch.
  // Settling a batch is then one small row, not an update of each of its keys, and the keys'
  // table has the primary key alone (a campaign's integer id and the key: 12 bytes, not a text
  // name) — a claim writes one index entry per key. A key's state is its batch's row (none yet:
  // claimed). The version-5 claims move over with their state as a negative batch number
  // (-1 claimed, -2 accepted, -3 in doubt) whose batch rows say the same; a run that resumes
  // moves its own into its real batches as they settle.
  `CREATE TABLE batchsend_campaigns (
     id serial PRIMARY KEY,
     name text NOT NULL UNIQUE
   );
   INSERT INTO batchsend_campaigns (name)
     SELECT campaign FROM batchsend_campaign_runs UNION SELECT campaign FROM batchsend_campaign_claims ORDER BY 1;
   CREATE TABLE batchsend_campaign_keys (
     campaign integer NOT NULL,
     key bigint NOT NULL,
     run_ordinal integer NOT NULL,
     batch integer NOT NULL,
     PRIMARY KEY (campaign, key)
   );
   CREATE TABLE batchsend_campaign_batches (
     campaign integer NOT NULL,
     run_ordinal integer NOT NULL,
     batch integer NOT NULL,
     state smallint NOT NULL,
     PRIMARY KEY (campaign, run_ordinal, batch)
   );
   INSERT INTO batchsend_campaign_keys (campaign, key, run_ordinal, batch)
     SELECT c.id, k.key, k.run_ordinal, -k.state FROM batchsend_campaign_claims k JOIN batchsend_campaigns c ON c.name = k.campaign;
   INSERT INTO batchsend_campaign_batches (campaign, run_ordinal, batch, state)
     SELECT DISTINCT c.id, k.run_ordinal, -k.state, k.state FROM batchsend_campaign_claims k JOIN batchsend_campaigns c ON c.name = k.campaign WHERE k.state <> 1;
   DROP TABLE batchsend_campaign_claims;`,
];
