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
];
