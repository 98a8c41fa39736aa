-- Every refusal comes with a SQLSTATE and a hint, and loads nothing.
SET client_min_messages = warning;

-- Not permitted: neither superuser nor member of pg_read_server_files.
CREATE ROLE regress_nobody;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_dir TO regress_nobody;
GRANT USAGE ON SCHEMA vs_ingest TO regress_nobody;
SET ROLE regress_nobody;
SELECT regress_try($$SELECT * FROM vs_ingest.vs_ingest_dir('/tmp/vs_ingest_regress/data')$$);
-- The unqualified entry point is not even executable for PUBLIC.
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data')$$);
RESET ROLE;
REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_dir FROM regress_nobody;
REVOKE ALL ON SCHEMA vs_ingest FROM regress_nobody;
DROP ROLE regress_nobody;

-- Outside vs_ingest.allowed_dirs, directly, through '..' and through a symbolic link.
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/outside')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data/../outside')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data/link_out')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/etc')$$);
-- A missing path outside the allowed directories does not reveal whether it exists.
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/nonexistent/dir')$$);

-- Missing directory, not a directory, nothing matching, bad pattern.
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data/nope')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data/README.txt')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '*.parquet')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data/empty')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '[*.zip')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/19990101_5Min.zip')$$);

-- Bad options.
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', format => 'vds')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', source_timezone => 'Mars/Olympus')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', max_reject_ratio => 1.5)$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', target => 'a.b.c')$$);

-- allowed_dirs is for superusers to set, and empty means nothing may be read.
CREATE ROLE regress_reader IN ROLE pg_read_server_files;
SET ROLE regress_reader;
SELECT regress_try($$SET vs_ingest.allowed_dirs = '/'$$);
RESET ROLE;
DROP ROLE regress_reader;
-- A misspelt setting is an error, not a silently ignored placeholder.
SELECT regress_try($$SET vs_ingest.alowed_dirs = '/'$$);
SET vs_ingest.allowed_dirs = '';
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data')$$);
RESET vs_ingest.allowed_dirs;

-- A file symlink inside an allowed directory that leads outside fails that file only.
SELECT files_seen, files_loaded, files_failed
  FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', 'escape_*', target => 'public.escape_hourly');
SELECT status, error FROM vs_ingest.file WHERE path LIKE '%escape%';

-- Refusals leave no run behind: the runs are load.sql's four, dst.sql's one and the escaped
-- file's one.
SELECT count(*) AS runs FROM vs_ingest.run;

-- NULL arguments are refused, naming the argument.
SELECT regress_try($$SELECT * FROM vs_ingest_dir(NULL)$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', NULL)$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', target => NULL)$$);
SELECT regress_try($$SELECT * FROM vs_ingest_file(NULL)$$);
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', wait => NULL)$$);
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', replace => NULL)$$);
SELECT regress_try($$SELECT vs_ingest_add_source('s', '/tmp/vs_ingest_regress/data', replace => NULL)$$);
SELECT regress_try($$SELECT vs_ingest_add_source('s', '/tmp/vs_ingest_regress/data', min_coverage => 1.5)$$);
SELECT regress_try($$SELECT * FROM vs_ingest_resume(NULL)$$);
SELECT regress_try($$SELECT vs_ingest_cancel(NULL)$$);
SELECT regress_try($$SELECT vs_ingest_add_source(NULL, '/tmp/vs_ingest_regress/data')$$);
SELECT regress_try($$SELECT vs_ingest_add_source('s', '/tmp/vs_ingest_regress/data', every => NULL)$$);
SELECT regress_try($$SELECT vs_ingest_drop_source(NULL)$$);
SELECT regress_try($$SELECT * FROM vs_ingest_run_source(NULL)$$);

-- Targets are checked before anything loads: a plain table, a view, a partitioned table with
-- other columns, a temporary table, a name that is not a table name.
CREATE TABLE public.plain_target (hour timestamptz, link_id bigint);
CREATE VIEW public.view_target AS SELECT 1 AS x;
-- A table of vs_ingest 0.1.0 (one row per link and hour) is recognised.
CREATE TABLE public.shaped_target (hour timestamptz NOT NULL, link_id bigint NOT NULL, speed real[],
    travel_time int[], samples int, speed_avg real, speed_min real, speed_max real) PARTITION BY RANGE (hour);
CREATE TEMP TABLE temp_target (x int);
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'public.plain_target')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'public.view_target')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'public.shaped_target')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'temp_target')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'no_schema.t')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => '')$$);
-- A target stores the local days of one time zone.
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'public.utc_hourly')$$);
SELECT regress_try($$SELECT vs_ingest_create_target('public.tz_hourly', time_zone => 'Mars/Olympus')$$);
-- A storage name taken by another table.
CREATE TABLE public.taken_hourly_blocks (x int);
SELECT regress_try($$SELECT vs_ingest_create_target('public.taken_hourly')$$);
DROP TABLE public.plain_target, public.shaped_target, temp_target, public.taken_hourly_blocks;
DROP VIEW public.view_target;

-- Distributed targets and loads spread over nodes need Citus (scripts/citus-test.sh tests them on
-- a real cluster): without it they are refused before anything is created, read or recorded.
SELECT regress_try($$SELECT vs_ingest_create_target('public.citus_hourly', distributed => true)$$);
SELECT to_regclass('public.citus_hourly') IS NULL AS nothing_created;
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '*.zip', target => 'public.citus_hourly',
                                                 nodes => 'workers')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '*.zip', target => 'public.citus_hourly',
                                                 nodes => 'everywhere')$$);
-- A replacement rebuilds a day in one transaction: it is refused for a load spread over nodes.
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '*.zip', target => 'public.citus_hourly',
                                                 nodes => 'workers', replace => true)$$);
SELECT count(*) AS runs FROM vs_ingest.run WHERE target = 'public.citus_hourly';

-- The ledger follows the target, not its name: a target dropped (DROP TABLE of its storage,
-- CASCADE to its views) and created again loads its files again (with exact coverage), a renamed
-- one keeps its history.
SELECT files_loaded FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'public.again_hourly');
DROP TABLE public.again_hourly_blocks CASCADE;
SELECT files_loaded, files_skipped
  FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'public.again_hourly');
SELECT (SELECT sum(links) FROM vs_ingest.coverage WHERE target_oid = 'public.again_hourly'::regclass)
     = (SELECT count(*) FROM public.again_hourly WHERE samples > 0) AS coverage_exact;
ALTER VIEW public.again_hourly RENAME TO again_renamed;
SELECT files_loaded, files_skipped
  FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'public.again_renamed');
-- Its coverage came along: the report on the new name sees every hour of the day.
SELECT count(*) AS hours_reported
  FROM vs_ingest_coverage('2023-01-01 00:00+09', '2023-01-02 00:00+09', 'public.again_renamed')
 WHERE links_reported > 0;
DROP TABLE public.again_hourly_blocks CASCADE;

-- A file that grew since it was loaded (an append) merges again; one rewritten otherwise is
-- reported as changed and left alone (without reload_changed).
\! printf '20230502,0000,1000000002,A01,40,0\n' > /tmp/vs_ingest_regress/flip/20230502_5Min.csv
SELECT files_loaded FROM vs_ingest_file('/tmp/vs_ingest_regress/flip/20230502_5Min.csv', target => 'public.append_hourly');
\! printf '20230502,0005,1000000002,A01,41,0\n' >> /tmp/vs_ingest_regress/flip/20230502_5Min.csv
SELECT files_loaded, files_skipped, rows_loaded, rows_duplicate
  FROM vs_ingest_file('/tmp/vs_ingest_regress/flip/20230502_5Min.csv', target => 'public.append_hourly');
\! printf '20230502,0000,1000000002,A01,99,0\n20230502,0005,1000000002,A01,98,0\n20230502,0010,1000000002,A01,97,0\n' > /tmp/vs_ingest_regress/flip/20230502_5Min.csv
SELECT files_loaded, files_skipped
  FROM vs_ingest_file('/tmp/vs_ingest_regress/flip/20230502_5Min.csv', target => 'public.append_hourly');
SELECT link_id, speed[1:3] FROM public.append_hourly;
DROP TABLE public.append_hourly_blocks CASCADE;

-- Runs that do not exist, and a waiting load inside REPEATABLE READ (it could not see its
-- workers' commits).
SELECT regress_try($$SELECT * FROM vs_ingest_resume(424242)$$);
SELECT regress_try($$SELECT vs_ingest_cancel(424242)$$);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '20*')$$);
COMMIT;

-- A load whose workers would wait for a lock this transaction holds stops with an error within
-- a second, instead of waiting for ever; what its workers committed is kept, and the same call
-- outside the transaction finishes the file.
SELECT files_loaded FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'public.locked_hourly');
BEGIN;
LOCK TABLE public.locked_hourly IN ACCESS EXCLUSIVE MODE;
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230102_5Min.zip', target => 'public.locked_hourly')$$);
ROLLBACK;
SELECT files_loaded + files_skipped AS done
  FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230102_5Min.zip', target => 'public.locked_hourly');
SELECT count(DISTINCT link_id) AS links, count(*) AS hourly_rows FROM public.locked_hourly;
DROP TABLE public.locked_hourly_blocks CASCADE;
-- A run whose table was dropped since is not resumed into whatever has that name later.
SELECT regexp_replace(regress_try(format('SELECT * FROM vs_ingest_resume(%s)',
                      (SELECT min(run_id) FROM vs_ingest.run WHERE target = 'public.locked_hourly'))),
                      'run [0-9]+', 'run N');

-- And when this transaction created the target: the workers would wait for it to commit.
BEGIN;
SELECT vs_ingest_create_target('public.uncommitted_hourly') AS created;
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230102_5Min.zip',
                                                   target => 'public.uncommitted_hourly')$$);
ROLLBACK;

-- The same through a third session: a DROP EXTENSION queued behind this transaction's lock holds
-- up the workers. The load stops (and names the session) instead of all three waiting for ever.
CREATE EXTENSION dblink;
SELECT dblink_connect('dropper', format('dbname=%s port=%s host=127.0.0.1 user=%s', current_database(),
                                        current_setting('port'), current_user));
BEGIN;
LOCK TABLE vs_ingest.run, vs_ingest.file, vs_ingest.reject, vs_ingest.coverage IN ACCESS SHARE MODE;
SELECT dblink_send_query('dropper', 'DROP EXTENSION vs_ingest');
DO $wait$
BEGIN
    FOR i IN 1..400 LOOP  -- until the DROP waits for this transaction's lock (20 s at most)
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
                           WHERE query = 'DROP EXTENSION vs_ingest' AND wait_event_type = 'Lock');
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$wait$;
SELECT regexp_replace(regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230102_5Min.zip',
                                                                  target => 'public.dropped_hourly')$$),
                      '[0-9]+ \(', 'PID (', 'g') AS refused;
SELECT dblink_cancel_query('dropper');
ROLLBACK;
SELECT * FROM dblink_get_result('dropper') AS r(x text);
SELECT dblink_disconnect('dropper');
DROP EXTENSION dblink;
SELECT extversion IS NOT NULL AS still_installed FROM pg_extension WHERE extname = 'vs_ingest';
SELECT files_loaded + files_skipped AS done
  FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230102_5Min.zip', target => 'public.dropped_hourly');
DROP TABLE public.dropped_hourly_blocks CASCADE;

-- Sources: each refusal of the source functions, and of the gaps report.
SELECT regress_try($$SELECT vs_ingest_add_source('s', '/etc')$$);
SELECT regress_try($$SELECT vs_ingest_add_source('s', '/tmp/vs_ingest_regress/data', every => '0')$$);
SELECT regress_try($$SELECT vs_ingest_add_source('s', '/tmp/vs_ingest_regress/data', retain_action => 'archive')$$);
SELECT regress_try($$SELECT vs_ingest_add_source('s', '/tmp/vs_ingest_regress/data', '[z-a]')$$);
SELECT vs_ingest_add_source('s', '/tmp/vs_ingest_regress/data', '20*_5Min.*', enabled => false) > 0 AS added;
SELECT regress_try($$SELECT vs_ingest_add_source('s', '/tmp/vs_ingest_regress/data')$$);
SELECT regress_try($$SELECT vs_ingest_alter_source('nope', enabled => true)$$);
CREATE ROLE regress_other IN ROLE pg_read_server_files;
SET ROLE regress_other;
SELECT regress_try($$SELECT vs_ingest_drop_source('s')$$);
SELECT regress_try($$UPDATE vs_ingest.source SET owner = 'regress_other'$$);
RESET ROLE;
DROP ROLE regress_other;
SELECT vs_ingest_drop_source('s');
SELECT regress_try($$SELECT * FROM vs_ingest_gaps('2023-07-02', '2023-07-01')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_gaps('2023-07-01', '2023-07-02', 'public.no_such_table')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_gaps('2023-07-01', '2023-07-02', min_coverage => 2)$$);
