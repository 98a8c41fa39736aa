-- The trust boundaries, each tried as an attack (see SECURITY.md).
SET client_min_messages = warning;
\set data '/tmp/vs_ingest_regress/data'
\set special '/tmp/vs_ingest_regress/special'
\set flip '/tmp/vs_ingest_regress/flip'
\set day_gz :data/20250101_5Min.csv.gz
\set day1 :data/20230101_5Min.zip
\set day2 :data/20230102_5Min.zip

CREATE ROLE regress_mallory LOGIN IN ROLE pg_read_server_files;
CREATE ROLE regress_watcher IN ROLE pg_monitor;
GRANT CREATE ON SCHEMA public TO regress_mallory;

------------------------------------------------------------------------------------------------
-- 1. No code of another role runs inside a load. Mallory plants a copy of every built-in
-- function and operator (same names, same argument types) in a schema of hers; each copy
-- records who called it. Every session and worker of the superuser then puts that schema first.
------------------------------------------------------------------------------------------------
CREATE SCHEMA mallory AUTHORIZATION regress_mallory;
SET ROLE regress_mallory;
CREATE TABLE mallory.trap (fn text, called_by name);
GRANT INSERT ON mallory.trap TO PUBLIC;
DO $plant$
DECLARE
    f record;
    n int := 0;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname, p.proretset, p.prorettype::regtype AS ret,
               pg_catalog.pg_get_function_identity_arguments(p.oid) AS args
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace AND p.prokind = 'f'
           AND p.provariadic = 0 AND p.proallargtypes IS NULL
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_type t
                            WHERE t.typtype = 'p' AND t.typname !~ '^any(element|array|nonarray|enum|range|multirange|compatible.*)$'
                              AND (t.oid = p.prorettype OR t.oid = ANY (p.proargtypes)))
    LOOP
        BEGIN
            EXECUTE pg_catalog.format(
                'CREATE FUNCTION mallory.%I(%s) RETURNS %s%s LANGUAGE plpgsql AS %L',
                f.proname, f.args, CASE WHEN f.proretset THEN 'SETOF ' ELSE '' END, f.ret,
                pg_catalog.format('BEGIN INSERT INTO mallory.trap VALUES (%L, current_user); RETURN%s; END',
                                  f.proname, CASE WHEN f.proretset THEN '' ELSE ' NULL' END));
            n := n + 1;
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END LOOP;
    RAISE NOTICE 'planted % functions', n;
END
$plant$;
DO $plant$
DECLARE
    op record;
BEGIN
    FOR op IN
        SELECT o.oid, o.oprname, o.oprleft, o.oprleft::regtype AS l, o.oprright::regtype AS r,
               o.oprresult::regtype AS res
          FROM pg_catalog.pg_operator o
         WHERE o.oprnamespace = 'pg_catalog'::pg_catalog.regnamespace AND o.oprright <> 0
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_type t
                            WHERE t.typtype = 'p' AND t.typname !~ '^any(element|array|nonarray|enum|range|multirange|compatible.*)$'
                              AND t.oid IN (o.oprleft, o.oprright, o.oprresult))
    LOOP
        BEGIN
            EXECUTE pg_catalog.format(
                'CREATE FUNCTION mallory.op_%s(%s%s) RETURNS %s LANGUAGE plpgsql AS %L',
                op.oid, CASE WHEN op.oprleft <> 0 THEN op.l::text || ', ' ELSE '' END, op.r, op.res,
                pg_catalog.format('BEGIN INSERT INTO mallory.trap VALUES (%L, current_user); RETURN NULL; END',
                                  op.oprname));
            EXECUTE pg_catalog.format(
                'CREATE OPERATOR mallory.%s (%s RIGHTARG = %s, FUNCTION = mallory.op_%s)',
                op.oprname, CASE WHEN op.oprleft <> 0 THEN 'LEFTARG = ' || op.l::text || ',' ELSE '' END, op.r, op.oid);
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END LOOP;
END
$plant$;
RESET ROLE;
-- Enough was planted to hijack any unqualified call (counts vary between Postgres builds).
SELECT count(*) > 2000 AS functions_planted FROM pg_proc WHERE pronamespace = 'mallory'::regnamespace;
SELECT count(*) > 500 AS operators_planted FROM pg_operator WHERE oprnamespace = 'mallory'::regnamespace;
-- The trap works: an unqualified call under that search_path lands in it.
SET search_path = mallory, pg_catalog;
SELECT upper('x') IS NULL AS hijacked;
RESET search_path;
TRUNCATE mallory.trap;

-- Every session (the workers included) of this database now puts mallory first.
ALTER DATABASE vs_ingest_regress SET search_path = mallory, pg_catalog;
SET search_path = mallory, pg_catalog;
-- These statements call nothing unqualified themselves: only the extension could hit the trap.
SELECT files_loaded, rows_loaded FROM vs_ingest.vs_ingest_dir(:'data', '2023*.zip', 'public.sec_hourly');
SELECT files_loaded FROM public.vs_ingest_file(:'day_gz', 'public.sec_hourly');
SELECT files_skipped FROM public.vs_ingest_dir(:'data', '2023*.zip', 'public.sec_hourly');
SELECT kind, intervals FROM public.vs_ingest_gaps('2023-01-01 00:00+09', '2023-01-03 00:00+09', 'public.sec_hourly');
SELECT hour FROM public.vs_ingest_coverage('2023-01-01 00:00+09', '2023-01-01 01:00+09', 'public.sec_hourly');
SELECT vs_ingest.vs_ingest_add_source('sec_source', :'data', '2023*.zip', '1 hour', 'public.sec_hourly') IS NOT NULL
       AS added;
SELECT vs_ingest.vs_ingest_alter_source('sec_source', every => '2 hours');
SELECT files_skipped FROM vs_ingest.vs_ingest_run_source('sec_source');
SELECT vs_ingest.vs_ingest_drop_source('sec_source');
SELECT runs FROM vs_ingest.prune_history(100000);
SELECT vs_ingest.apply_retention('public.sec_hourly', '100 years', 'detach');
RESET search_path;
ALTER DATABASE vs_ingest_regress RESET search_path;
-- Nothing of Mallory's ran, and she is no superuser.
SELECT count(*) AS trapped FROM mallory.trap;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_mallory';
-- The extension's functions all carry the fixed search_path, but for the public wrappers, whose
-- bodies call one schema-qualified function (see api.sql).
SELECT p.oid::regprocedure AS without_fixed_search_path
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vs_ingest')
   AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
 ORDER BY 1::text;

------------------------------------------------------------------------------------------------
-- 2. The catalog is written only by the extension: a loading role can forge nothing.
------------------------------------------------------------------------------------------------
SELECT max(run_id) AS superuser_run, count(*) AS all_runs FROM vs_ingest.run \gset
SET ROLE regress_mallory;
SELECT regress_try($$INSERT INTO vs_ingest.run (dir, pattern, target, options)
                     VALUES ('/', '*', 'public.sec_hourly', '{"allowed_dirs": ["/"]}')$$);
SELECT regress_try($$INSERT INTO vs_ingest.file (run_id, path, status) VALUES (1, '/etc/passwd', 'loaded')$$);
SELECT regress_try($$UPDATE vs_ingest.file SET status = 'loaded'$$);
SELECT regress_try($$DELETE FROM vs_ingest.reject$$);
SELECT regress_try($$INSERT INTO vs_ingest.coverage (target_oid, target, hour, links, slot_links)
                     VALUES ('public.sec_hourly'::regclass, 'public.sec_hourly', now(), 1, array_fill(1, ARRAY[12]))$$);
SELECT regress_try($$UPDATE vs_ingest.source SET owner = 'postgres'$$);
-- Nor act on the superuser's runs.
SELECT regexp_replace(regress_try('SELECT * FROM vs_ingest_resume(' || :superuser_run || ')'), 'run [0-9]+', 'run N');
SELECT regexp_replace(regress_try('SELECT vs_ingest_cancel(' || :superuser_run || ')'), 'run [0-9]+', 'run N');
-- Nor make the extension's own-rights function (forget_coverage) run code of hers: it decides
-- from the system catalogs alone, never reading her relation (a view that calls her function
-- would run it with the catalog owner's rights).
CREATE TABLE public.fake_hourly_blocks (link_id bigint, day date, block smallint, hours smallint,
                                        speed smallint[], travel_time int[]) PARTITION BY RANGE (day);
CREATE TABLE public.fake_hourly_blocks_p PARTITION OF public.fake_hourly_blocks FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
INSERT INTO public.fake_hourly_blocks VALUES (1, '2023-01-01', 0, 1, array_fill(1::smallint, ARRAY[72]), NULL);
CREATE TABLE public.escalations (who name);
CREATE FUNCTION public.escalate() RETURNS timestamptz LANGUAGE sql VOLATILE
    AS $f$ INSERT INTO public.escalations VALUES (current_user) RETURNING now() $f$;
CREATE VIEW public.fake_hourly AS
SELECT public.escalate() AS hour, b.link_id FROM public.fake_hourly_blocks b
  JOIN vs_ingest.calendar_hour c ON c.local_day = b.day WHERE c.time_zone = 'Asia/Seoul';
SELECT vs_ingest.forget_coverage('public.fake_hourly', '-infinity', 'infinity') AS forgotten;
RESET ROLE;
SELECT count(*) AS escalated, (SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_mallory') AS mallory_superuser
  FROM public.escalations;
DROP TABLE public.fake_hourly_blocks, public.escalations CASCADE;
DROP FUNCTION public.escalate();
SELECT regress_try('SELECT vs_ingest_cancel(' || :superuser_run || ')') AS superuser_may_cancel;

------------------------------------------------------------------------------------------------
-- 3. Each role sees its own. The superuser's loads above stored rejected lines; Mallory loads
-- a file of her own into a table of her own.
------------------------------------------------------------------------------------------------
SELECT count(*) > 0 AS superuser_has_rejects FROM vs_ingest.reject;
SET ROLE regress_mallory;
SELECT count(*) AS runs_seen, count(*) FILTER (WHERE started_by <> current_user) AS others FROM vs_ingest.run;
SELECT count(*) AS files_seen FROM vs_ingest.file;
SELECT count(*) AS rejects_seen FROM vs_ingest.reject;
SELECT count(*) AS coverage_seen FROM vs_ingest.coverage;
SELECT files_loaded FROM vs_ingest_file(:'day1', 'public.mallory_hourly');
SELECT count(*) AS runs_seen, bool_and(started_by = current_user) AS all_mine FROM vs_ingest.run;
SELECT count(*) > 0 AS own_rejects_seen, bool_and(f.path LIKE '%20230101%') AS all_mine
  FROM vs_ingest.reject j JOIN vs_ingest.file f USING (file_id);
SELECT count(*) > 0 AS own_coverage_seen, bool_and(target = 'public.mallory_hourly') AS all_mine
  FROM vs_ingest.coverage;
RESET ROLE;
-- A monitoring role sees every run and file, but no rejected line.
SET ROLE regress_watcher;
SELECT count(*) >= :all_runs AS sees_all_runs, count(*) FILTER (WHERE started_by = 'regress_mallory') > 0
       AS sees_mallorys FROM vs_ingest.run;
SELECT regress_try($$SELECT count(*) FROM vs_ingest.reject$$);
RESET ROLE;

------------------------------------------------------------------------------------------------
-- 4. One open, checked on the descriptor: a FIFO is refused at once (it never blocks), symbolic
-- links to files are not followed (outside or inside), and a regular file loads.
------------------------------------------------------------------------------------------------
SELECT files_seen, files_loaded, files_failed FROM vs_ingest_dir(:'special', '*', 'public.special_hourly');
SELECT regexp_replace(path, '.*/', '') AS file, status, error_code, error
  FROM vs_ingest.file WHERE path LIKE :'special' || '/%' ORDER BY path;
SELECT regress_try(format($$SELECT * FROM vs_ingest_file(%L, 'public.special_hourly')$$,
                          :'special' || '/20230402_5Min.csv'));
SELECT regress_try(format($$SELECT * FROM vs_ingest_file(%L, 'public.special_hourly')$$,
                          :'special' || '/20230403_5Min.zip'));

-- A role that can write into an allowed directory flips a file between a regular file and a
-- symbolic link to a secret outside, while the superuser loads it again and again (the
-- reload_changed loads read any content that differs). The secret is never read.
\! timeout 20 bash -c 'cd /tmp/vs_ingest_regress/flip; while :; do ln -sf ../outside/secret.csv t && mv -T t 20230501_5Min.csv; cp real.csv t && mv -T t 20230501_5Min.csv; done' >/dev/null 2>&1 &
SET client_min_messages = error;  -- the failed loads' WARNINGs come in a random number
DO $flip$
BEGIN
    FOR i IN 1..40 LOOP
        BEGIN
            PERFORM * FROM vs_ingest_file('/tmp/vs_ingest_regress/flip/20230501_5Min.csv', 'public.flip_hourly',
                                          max_reject_ratio => 1, reload_changed => true);
        EXCEPTION WHEN wrong_object_type OR undefined_file OR insufficient_privilege THEN NULL;  -- the caller saw the link
        END;
    END LOOP;
END
$flip$;
\! pkill -f 'vs_ingest_regress/fli[p]; while' ; true
SET client_min_messages = warning;
SELECT count(*) > 0 AS some_loads, count(*) FILTER (WHERE f.status IN ('loaded', 'skipped')) > 0 AS some_read
  FROM vs_ingest.file f WHERE f.path LIKE :'flip' || '/%';
SELECT count(*) AS secret_lines_read FROM vs_ingest.reject WHERE raw LIKE '%TOPSECRET%';
SELECT count(*) AS secret_rows FROM public.flip_hourly WHERE link_id <> 1000000001;

------------------------------------------------------------------------------------------------
-- 5. COPY parity: row-level security and column privileges are honoured as by COPY FROM.
------------------------------------------------------------------------------------------------
SELECT files_loaded FROM vs_ingest_file(:'day2', 'public.rls_hourly');
-- (The rows live in the target's storage table, which is what COPY writes.)
ALTER TABLE public.rls_hourly_blocks ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_link_1 ON public.rls_hourly_blocks FOR INSERT WITH CHECK (link_id = 1);
GRANT INSERT, SELECT, UPDATE ON public.rls_hourly_blocks TO regress_mallory;
SET ROLE regress_mallory;
SELECT regress_try(format($$SELECT * FROM vs_ingest_file(%L, 'public.rls_hourly')$$, :'day1'));
RESET ROLE;
-- Its owner (here a superuser) bypasses row-level security, as with COPY.
SELECT files_loaded FROM vs_ingest_file(:'day1', 'public.rls_hourly');
-- Column privileges, as COPY FROM checks them: INSERT on some columns only is refused; INSERT
-- granted column by column on every column is enough.
SELECT files_loaded FROM vs_ingest_file(:'day1', 'public.cols_hourly');
GRANT INSERT (link_id, day) ON public.cols_hourly_blocks TO regress_mallory;
GRANT SELECT ON public.cols_hourly, public.cols_hourly_blocks TO regress_mallory;
SET ROLE regress_mallory;
SELECT regress_try(format($$SELECT * FROM vs_ingest_file(%L, 'public.cols_hourly')$$, :'day2'));
RESET ROLE;
GRANT INSERT (block, hours, speed, travel_time) ON public.cols_hourly_blocks TO regress_mallory;
-- The load keeps the target's daily rollups too: without privileges on them it is refused.
SET ROLE regress_mallory;
SELECT regress_try(format($$SELECT * FROM vs_ingest_file(%L, 'public.cols_hourly')$$, :'day_gz'));
RESET ROLE;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.cols_hourly_days TO regress_mallory;
-- And its monthly rollups.
SET ROLE regress_mallory;
SELECT regress_try(format($$SELECT * FROM vs_ingest_file(%L, 'public.cols_hourly')$$, :'day_gz'));
RESET ROLE;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.cols_hourly_months TO regress_mallory;
-- (A new day's partition is created by the table's owner: here it is made ahead.)
SELECT vs_ingest.ensure_day_partition('public.cols_hourly_blocks', '2025-01-01'),
       vs_ingest.ensure_day_partition('public.cols_hourly_days', '2025-01-01');
SET ROLE regress_mallory;
SELECT files_loaded FROM vs_ingest_file(:'day_gz', 'public.cols_hourly');
RESET ROLE;
SELECT count(*) > 0 AS rows_loaded_by_mallory FROM public.cols_hourly WHERE hour >= '2025-01-01 00:00+09';

-- Clean up.
DROP TABLE public.sec_hourly_blocks, public.mallory_hourly_blocks, public.special_hourly_blocks,
           public.flip_hourly_blocks, public.rls_hourly_blocks, public.cols_hourly_blocks CASCADE;
DROP SCHEMA mallory CASCADE;
REVOKE CREATE ON SCHEMA public FROM regress_mallory;
DROP ROLE regress_watcher;
DROP ROLE regress_mallory;
