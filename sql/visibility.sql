-- Who sees which runs, and who may act on them, by identity (the starting role's oid, the target
-- table's oid), never by name, and never with an error; and the one function that deletes catalog
-- rows for a caller (forget_coverage) checks that the caller owns what it deletes. Each part is
-- an attack that worked before 0.3.0 (issue 17, items 2 and 3; SECURITY.md).
SET client_min_messages = warning;
\set data '/tmp/vs_ingest_regress/data'
\set day1 :data/20230101_5Min.zip
\set day2 :data/20230102_5Min.zip

CREATE ROLE regress_alice LOGIN IN ROLE pg_read_server_files;
CREATE ROLE regress_bob LOGIN IN ROLE pg_read_server_files;
CREATE ROLE regress_monitor IN ROLE pg_monitor;
GRANT CREATE ON SCHEMA public TO regress_alice, regress_bob;
SELECT count(*) AS runs_before FROM vs_ingest.run \gset

------------------------------------------------------------------------------------------------
-- 1. A target in a schema other loaders may not use. Reading the catalog resolved each run's
-- target by name, which raised "permission denied for schema ..." for every reader who could not
-- use that schema: all loaders were locked out of the catalog, their own runs included, and the
-- error named the schema.
------------------------------------------------------------------------------------------------
CREATE SCHEMA regress_alice_private AUTHORIZATION regress_alice;
SET ROLE regress_alice;
SELECT files_loaded FROM vs_ingest_file(:'day1', 'regress_alice_private.hidden_hourly');
RESET ROLE;
SET ROLE regress_bob;
SELECT files_loaded FROM vs_ingest_file(:'day1', 'public.bob_hourly');
SELECT regress_try($$SELECT count(*) FROM vs_ingest.run$$) AS read_runs;
SELECT regress_try($$SELECT count(*) FROM vs_ingest.file$$) AS read_files;
SELECT regress_try($$SELECT count(*) FROM vs_ingest.progress$$) AS read_progress;
SELECT regress_try($$SELECT count(*) FROM vs_ingest.reject$$) AS read_rejects;
SELECT regress_try($$SELECT count(*) FROM vs_ingest.coverage$$) AS read_coverage;
-- Bob sees his own run and file, and nothing of Alice's.
SELECT started_by, target, files_loaded FROM vs_ingest.run ORDER BY run_id;
SELECT regexp_replace(path, '.*/', '') AS file, status FROM vs_ingest.file ORDER BY file_id;
RESET ROLE;
-- Alice sees hers; a monitoring role sees both, without an error either.
SET ROLE regress_alice;
SELECT started_by, target, files_loaded FROM vs_ingest.run ORDER BY run_id;
RESET ROLE;
SET ROLE regress_monitor;
SELECT regress_try($$SELECT count(*) FROM vs_ingest.run$$) AS monitor_reads_runs;
SELECT count(*) - :runs_before AS new_runs_seen, count(*) FILTER (WHERE started_by = 'regress_alice') AS alices,
       count(*) FILTER (WHERE started_by = 'regress_bob') AS bobs
  FROM vs_ingest.run;
RESET ROLE;
DROP SCHEMA regress_alice_private CASCADE;

------------------------------------------------------------------------------------------------
-- 2. A target renamed, then its old name taken by another role. Runs were matched to a table
-- by their stored name, so the new table's owner saw the first role's runs and files (paths,
-- sizes, errors). They follow the table's oid: the renamed table's owner still sees them.
------------------------------------------------------------------------------------------------
SET ROLE regress_alice;
SELECT files_loaded FROM vs_ingest_file(:'day1', 'public.alice_hourly');
ALTER VIEW public.alice_hourly RENAME TO alice_renamed;
RESET ROLE;
SET ROLE regress_bob;
CREATE TABLE public.alice_hourly (link_id bigint);
SELECT count(*) AS alices_runs_seen_by_bob FROM vs_ingest.run WHERE target = 'public.alice_hourly';
SELECT count(*) AS alices_files_seen_by_bob
  FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id) WHERE r.target = 'public.alice_hourly';
DROP TABLE public.alice_hourly;
RESET ROLE;
SET ROLE regress_alice;
SELECT target, files_loaded FROM vs_ingest.run WHERE target = 'public.alice_hourly';
SELECT regexp_replace(f.path, '.*/', '') AS file, f.status
  FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id) WHERE r.target = 'public.alice_hourly';
RESET ROLE;

------------------------------------------------------------------------------------------------
-- 3. A target dropped, then its name taken by another role: the same, and the first role still
-- sees the runs it started.
------------------------------------------------------------------------------------------------
SET ROLE regress_alice;
SELECT files_loaded FROM vs_ingest_file(:'day2', 'public.alice_dropped');
DROP TABLE public.alice_dropped_blocks CASCADE;
RESET ROLE;
SET ROLE regress_bob;
CREATE TABLE public.alice_dropped (link_id bigint);
SELECT count(*) AS alices_runs_seen_by_bob FROM vs_ingest.run WHERE target = 'public.alice_dropped';
SELECT count(*) AS alices_files_seen_by_bob
  FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id) WHERE r.target = 'public.alice_dropped';
RESET ROLE;
SET ROLE regress_alice;
SELECT target, files_loaded FROM vs_ingest.run WHERE target = 'public.alice_dropped';
RESET ROLE;
-- A run recorded by 0.1.0 has no table oid (simulated here): only its starter sees it, whoever
-- owns a table of its name now.
UPDATE vs_ingest.run SET target_oid = NULL WHERE target = 'public.alice_dropped';
SET ROLE regress_bob;
SELECT count(*) AS old_run_seen_by_bob FROM vs_ingest.run WHERE target = 'public.alice_dropped';
RESET ROLE;
SET ROLE regress_alice;
SELECT count(*) AS old_run_seen_by_alice FROM vs_ingest.run WHERE target = 'public.alice_dropped';
RESET ROLE;
DROP TABLE public.alice_dropped;

------------------------------------------------------------------------------------------------
-- 4. A role dropped and created again under the same name (CREATEROLE) is another role: it does
-- not see the old role's runs or rejected lines, nor cancel its runs, nor manage its sources.
------------------------------------------------------------------------------------------------
CREATE ROLE regress_carol LOGIN IN ROLE pg_read_server_files;
GRANT CREATE ON SCHEMA public TO regress_carol;
SET ROLE regress_carol;
SELECT files_loaded FROM vs_ingest_file(:'day1', 'public.carol_hourly');
SELECT vs_ingest_add_source('regress_carols', :'data', '2023*.zip', '1 hour', 'public.carol_hourly',
                            enabled => false) IS NOT NULL AS source_added;
SELECT count(*) AS own_runs, count(*) FILTER (WHERE rows_rejected > 0) AS with_rejects FROM vs_ingest.run;
SELECT count(*) > 0 AS own_rejects_seen FROM vs_ingest.reject;
RESET ROLE;
SELECT max(run_id) AS carols_run FROM vs_ingest.run WHERE started_by = 'regress_carol' \gset
DROP TABLE public.carol_hourly_blocks CASCADE;
REVOKE CREATE ON SCHEMA public FROM regress_carol;
DROP ROLE regress_carol;
CREATE ROLE regress_carol LOGIN IN ROLE pg_read_server_files;
SET ROLE regress_carol;
SELECT count(*) AS old_carols_runs_seen FROM vs_ingest.run;
SELECT count(*) AS old_carols_files_seen FROM vs_ingest.file;
SELECT count(*) AS old_carols_rejects_seen FROM vs_ingest.reject;
SELECT regexp_replace(regress_try('SELECT vs_ingest_cancel(' || :carols_run || ')'), 'run [0-9]+', 'run N')
       AS cancel_old_carols_run;
SELECT regexp_replace(regress_try('SELECT * FROM vs_ingest_resume(' || :carols_run || ')'), 'run [0-9]+', 'run N')
       AS resume_old_carols_run;
SELECT regress_try($$SELECT vs_ingest_enable_source('regress_carols')$$) AS enable_old_carols_source;
SELECT regress_try($$SELECT vs_ingest_drop_source('regress_carols')$$) AS drop_old_carols_source;
RESET ROLE;
-- The source is still the old role's, and still disabled.
SELECT name, owner, enabled, owner_oid = 'regress_carol'::regrole AS owned_by_new_carol
  FROM vs_ingest.source WHERE name = 'regress_carols';
SELECT vs_ingest_drop_source('regress_carols');
DROP ROLE regress_carol;

------------------------------------------------------------------------------------------------
-- 5. forget_coverage deletes coverage as the catalog's owner. It checked nothing about its
-- caller: once a role detached a day of its target, any loader could delete that day's coverage.
-- Only a role with the privileges of the target's owner may.
------------------------------------------------------------------------------------------------
SET ROLE regress_alice;
SELECT files_loaded FROM vs_ingest_dir(:'data', '2023*.zip', 'public.alice_cov');
ALTER TABLE public.alice_cov_blocks DETACH PARTITION public.alice_cov_blocks_p20230101;
SELECT count(*) AS hours_covered FROM vs_ingest.coverage WHERE target = 'public.alice_cov';
RESET ROLE;
SET ROLE regress_bob;
SELECT regress_try($$SELECT vs_ingest.forget_coverage('public.alice_cov', '2023-01-01 00:00+09',
                                                      '2023-01-02 00:00+09')$$) AS bob_forgets;
RESET ROLE;
SELECT count(*) AS hours_covered FROM vs_ingest.coverage WHERE target = 'public.alice_cov';
-- Its owner may (the day is detached: no partition holds it); a day a partition still holds is
-- never forgotten, and a table that does not exist has nothing to forget.
SET ROLE regress_alice;
SELECT vs_ingest.forget_coverage('public.alice_cov', '2023-01-01 00:00+09', '2023-01-02 00:00+09') AS forgotten;
SELECT vs_ingest.forget_coverage('public.alice_cov', '2023-01-02 00:00+09', '2023-01-03 00:00+09') AS forgotten;
SELECT vs_ingest.forget_coverage('public.no_such_table', '-infinity', 'infinity') AS forgotten;
SELECT regress_try($$SELECT vs_ingest.forget_coverage(NULL, '-infinity', 'infinity')$$) AS null_name;
-- Retention (what the scheduler runs as the source's owner) still forgets the days it drops.
SELECT vs_ingest.apply_retention('public.alice_cov', '1 day', 'drop') AS dropped;
SELECT count(*) AS hours_covered FROM vs_ingest.coverage WHERE target = 'public.alice_cov';
RESET ROLE;

-- Clean up.
DROP TABLE public.bob_hourly_blocks, public.alice_hourly_blocks, public.alice_cov_blocks,
           public.alice_cov_blocks_p20230101 CASCADE;
REVOKE CREATE ON SCHEMA public FROM regress_alice, regress_bob;
DROP ROLE regress_alice;
DROP ROLE regress_bob;
DROP ROLE regress_monitor;
