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
SET vs_ingest.allowed_dirs = '';
SELECT regress_try($$SELECT * FROM vs_ingest_dir('/tmp/vs_ingest_regress/data')$$);
RESET vs_ingest.allowed_dirs;

-- A file symlink inside an allowed directory that leads outside fails that file only.
SELECT files_seen, files_loaded, files_failed
  FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', 'escape_*', target => 'public.escape_hourly');
SELECT status, error FROM vs_ingest.file WHERE path LIKE '%escape%';

-- Refusals leave no run behind: the runs are load.sql's four and the escaped file's one.
SELECT count(*) AS runs FROM vs_ingest.run;

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
DROP TABLE public.locked_hourly;

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
