-- The loading entry points, also reachable unqualified, and who may call them. Reading server
-- files is a privilege: superusers and members of pg_read_server_files only.

CREATE FUNCTION public.vs_ingest_dir(
    dir text,
    pattern text DEFAULT '*',
    target text DEFAULT 'public.vs_its_hourly',
    format text DEFAULT 'its_5min',
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT false,
    wait boolean DEFAULT true
) RETURNS TABLE (
    run_id bigint, files_seen int, files_loaded int, files_skipped int, files_failed int,
    rows_read bigint, rows_loaded bigint, rows_duplicate bigint, rows_rejected bigint,
    seconds double precision, mb_per_s double precision
) LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_dir(dir, pattern, target, format, source_timezone, max_reject_ratio, reload_changed, wait) $$;

CREATE FUNCTION public.vs_ingest_file(
    path text,
    target text DEFAULT 'public.vs_its_hourly',
    format text DEFAULT 'its_5min',
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT false,
    wait boolean DEFAULT true
) RETURNS TABLE (
    run_id bigint, files_seen int, files_loaded int, files_skipped int, files_failed int,
    rows_read bigint, rows_loaded bigint, rows_duplicate bigint, rows_rejected bigint,
    seconds double precision, mb_per_s double precision
) LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_file(path, target, format, source_timezone, max_reject_ratio, reload_changed, wait) $$;

CREATE FUNCTION public.vs_ingest_resume(run_id bigint, wait boolean DEFAULT true) RETURNS TABLE (
    run_id bigint, files_seen int, files_loaded int, files_skipped int, files_failed int,
    rows_read bigint, rows_loaded bigint, rows_duplicate bigint, rows_rejected bigint,
    seconds double precision, mb_per_s double precision
) LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_resume($1, $2) $$;

CREATE FUNCTION public.vs_ingest_cancel(run_id bigint) RETURNS boolean LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_cancel($1) $$;

REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_dir, vs_ingest.vs_ingest_file,
                       vs_ingest.vs_ingest_resume, vs_ingest.vs_ingest_cancel,
                       public.vs_ingest_dir, public.vs_ingest_file,
                       public.vs_ingest_resume, public.vs_ingest_cancel FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_dir, vs_ingest.vs_ingest_file,
                          vs_ingest.vs_ingest_resume, vs_ingest.vs_ingest_cancel,
                          public.vs_ingest_dir, public.vs_ingest_file,
                          public.vs_ingest_resume, public.vs_ingest_cancel TO pg_read_server_files;
-- Helpers that create tables and partitions run as the loading role.
REVOKE ALL ON FUNCTION vs_ingest.ensure_hourly_table, vs_ingest.ensure_day_partition,
                       vs_ingest.merge_staged FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.ensure_hourly_table, vs_ingest.ensure_day_partition,
                          vs_ingest.merge_staged TO pg_read_server_files;
