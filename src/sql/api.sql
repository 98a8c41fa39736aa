-- The loading entry points, also reachable unqualified, and who may call them. Reading server
-- files is a privilege: superusers and members of pg_read_server_files only.
--
-- The public wrappers are the only functions of the extension without a fixed search_path: they
-- must pass the caller's table names through unresolved. Their bodies call one schema-qualified
-- function with typed arguments, so the caller's search_path cannot change what they run; the
-- functions they call resolve names the way Postgres does (catalog look-ups, no SQL), then run
-- under search_path = pg_catalog, pg_temp.

CREATE FUNCTION public.vs_ingest_dir(
    dir text,
    pattern text DEFAULT '*',
    target text DEFAULT 'public.vs_its_hourly',
    format text DEFAULT 'its_5min',
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT false,
    wait boolean DEFAULT true,
    nodes text DEFAULT NULL,
    replace boolean DEFAULT false,
    links text DEFAULT NULL,
    unknown_links text DEFAULT NULL
) RETURNS vs_ingest.load_summary LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_dir(dir, pattern, target, format, source_timezone, max_reject_ratio, reload_changed, wait, nodes, replace, links, unknown_links) $$;

CREATE FUNCTION public.vs_ingest_file(
    path text,
    target text DEFAULT 'public.vs_its_hourly',
    format text DEFAULT 'its_5min',
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT false,
    wait boolean DEFAULT true,
    replace boolean DEFAULT false,
    links text DEFAULT NULL,
    unknown_links text DEFAULT NULL
) RETURNS vs_ingest.load_summary LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_file(path, target, format, source_timezone, max_reject_ratio, reload_changed, wait, replace, links, unknown_links) $$;

-- What a load would do, file by file, and how long it would take (src/api/plan.rs).
CREATE FUNCTION public.vs_ingest_plan(
    dir text,
    pattern text DEFAULT '*',
    target text DEFAULT 'public.vs_its_hourly',
    reload_changed boolean DEFAULT false,
    replace boolean DEFAULT false
) RETURNS TABLE (file text, action text, bytes bigint, estimated_seconds numeric, reason text)
LANGUAGE sql STABLE
AS $$ SELECT * FROM vs_ingest.vs_ingest_plan(dir, pattern, target, reload_changed, replace) $$;

CREATE FUNCTION public.vs_ingest_resume(run_id bigint, wait boolean DEFAULT true)
RETURNS vs_ingest.load_summary LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_resume($1, $2) $$;

CREATE FUNCTION public.vs_ingest_cancel(run_id bigint) RETURNS boolean LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_cancel($1) $$;

REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_dir, vs_ingest.vs_ingest_file,
                       vs_ingest.vs_ingest_resume, vs_ingest.vs_ingest_cancel, vs_ingest.vs_ingest_plan,
                       public.vs_ingest_dir, public.vs_ingest_file,
                       public.vs_ingest_resume, public.vs_ingest_cancel, public.vs_ingest_plan FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_dir, vs_ingest.vs_ingest_file,
                          vs_ingest.vs_ingest_resume, vs_ingest.vs_ingest_cancel, vs_ingest.vs_ingest_plan,
                          public.vs_ingest_dir, public.vs_ingest_file,
                          public.vs_ingest_resume, public.vs_ingest_cancel, public.vs_ingest_plan
                          TO pg_read_server_files;
-- Helpers that create tables and partitions run as the loading role.
REVOKE ALL ON FUNCTION vs_ingest.ensure_target, vs_ingest.ensure_day_partition, vs_ingest.add_slot_checks,
                       vs_ingest.create_five_min_view, vs_ingest.ensure_rollups, vs_ingest.rebuild_days, vs_ingest.link_rollups,
                       vs_ingest.merge_staged, vs_ingest.coverage_report, vs_ingest.gaps_report FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.ensure_target, vs_ingest.ensure_day_partition, vs_ingest.add_slot_checks,
                          vs_ingest.create_five_min_view, vs_ingest.ensure_rollups, vs_ingest.rebuild_days, vs_ingest.link_rollups,
                          vs_ingest.merge_staged, vs_ingest.coverage_report,
                          vs_ingest.gaps_report TO pg_read_server_files;

-- Sources for the scheduler.
CREATE FUNCTION public.vs_ingest_add_source(
    name text,
    dir text,
    pattern text DEFAULT '*',
    every interval DEFAULT '1 minute',
    target text DEFAULT 'public.vs_its_hourly',
    format text DEFAULT 'its_5min',
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT false,
    retain interval DEFAULT NULL,
    retain_action text DEFAULT 'detach',
    enabled boolean DEFAULT true,
    replace boolean DEFAULT false,
    due_after interval DEFAULT NULL,
    min_coverage double precision DEFAULT NULL,
    links text DEFAULT NULL,
    unknown_links text DEFAULT NULL
) RETURNS int LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_add_source(name, dir, pattern, every, target, format, source_timezone,
                                            max_reject_ratio, reload_changed, retain, retain_action, enabled,
                                            replace, due_after, min_coverage, links, unknown_links) $$;

CREATE FUNCTION public.vs_ingest_alter_source(
    name text,
    dir text DEFAULT NULL,
    pattern text DEFAULT NULL,
    every interval DEFAULT NULL,
    target text DEFAULT NULL,
    format text DEFAULT NULL,
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT NULL,
    retain interval DEFAULT NULL,
    retain_action text DEFAULT NULL,
    enabled boolean DEFAULT NULL,
    replace boolean DEFAULT NULL,
    due_after interval DEFAULT NULL,
    min_coverage double precision DEFAULT NULL,
    links text DEFAULT NULL,
    unknown_links text DEFAULT NULL
) RETURNS void LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_alter_source(name, dir, pattern, every, target, format, source_timezone,
                                              max_reject_ratio, reload_changed, retain, retain_action, enabled,
                                              replace, due_after, min_coverage, links, unknown_links) $$;

CREATE FUNCTION public.vs_ingest_enable_source(name text) RETURNS void LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_enable_source($1) $$;

CREATE FUNCTION public.vs_ingest_disable_source(name text) RETURNS void LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_disable_source($1) $$;

CREATE FUNCTION public.vs_ingest_drop_source(name text) RETURNS void LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_drop_source($1) $$;

CREATE FUNCTION public.vs_ingest_run_source(name text, wait boolean DEFAULT true)
RETURNS vs_ingest.load_summary LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_run_source($1, $2) $$;

REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_add_source, vs_ingest.vs_ingest_alter_source,
                       vs_ingest.vs_ingest_enable_source, vs_ingest.vs_ingest_disable_source,
                       vs_ingest.vs_ingest_drop_source, vs_ingest.vs_ingest_run_source,
                       vs_ingest.prune_history, vs_ingest.apply_retention, vs_ingest.forget_coverage,
                       public.vs_ingest_add_source, public.vs_ingest_alter_source,
                       public.vs_ingest_enable_source, public.vs_ingest_disable_source,
                       public.vs_ingest_drop_source, public.vs_ingest_run_source,
                       public.vs_ingest_coverage, public.vs_ingest_gaps FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_add_source, vs_ingest.vs_ingest_alter_source,
                          vs_ingest.vs_ingest_enable_source, vs_ingest.vs_ingest_disable_source,
                          vs_ingest.vs_ingest_drop_source, vs_ingest.vs_ingest_run_source,
                          vs_ingest.apply_retention, vs_ingest.forget_coverage,
                          public.vs_ingest_add_source, public.vs_ingest_alter_source,
                          public.vs_ingest_enable_source, public.vs_ingest_disable_source,
                          public.vs_ingest_drop_source, public.vs_ingest_run_source,
                          public.vs_ingest_coverage, public.vs_ingest_gaps TO pg_read_server_files;

-- Every setting with its value and source; reading it loads the library, so the settings can then
-- be set in the same session (src/api/settings.rs).
CREATE VIEW vs_ingest.settings AS SELECT * FROM vs_ingest.settings();
COMMENT ON VIEW vs_ingest.settings IS 'Every vs_ingest setting, its value and where it comes from.';
GRANT SELECT ON vs_ingest.settings TO PUBLIC;

-- Monitoring figures (src/api/monitoring.rs, monitoring/queries.yaml): counts and ages over every
-- load and source, for pg_monitor (and loaders); the functions check the caller again.
REVOKE ALL ON FUNCTION vs_ingest.reject_counts, vs_ingest.source_freshness FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.reject_counts, vs_ingest.source_freshness TO pg_monitor, pg_read_server_files;

-- What a Citus coordinator runs on the worker nodes for a load spread over them (src/cluster.rs),
-- as the loading role.
REVOKE ALL ON FUNCTION vs_ingest.load_files, vs_ingest.node_run_report FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.load_files, vs_ingest.node_run_report TO pg_read_server_files;

-- Targets made ahead of any load, local or distributed by Citus.
CREATE FUNCTION public.vs_ingest_create_target(target text DEFAULT 'public.vs_its_hourly',
                                               time_zone text DEFAULT 'Asia/Seoul',
                                               distributed boolean DEFAULT false,
                                               shard_count int DEFAULT NULL) RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT vs_ingest.vs_ingest_create_target($1, $2, $3, $4) $$;
REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_create_target, public.vs_ingest_create_target,
                       vs_ingest.distribute_target, vs_ingest.merge_staged_block FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_create_target, public.vs_ingest_create_target,
                          vs_ingest.distribute_target, vs_ingest.merge_staged_block TO pg_read_server_files;

-- A target's reference network (src/api/links.rs): its owner sets it from a relation it can read.
CREATE FUNCTION public.vs_ingest_set_links(target text, relation text) RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT vs_ingest.vs_ingest_set_links($1, $2) $$;
REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_set_links, public.vs_ingest_set_links FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_set_links, public.vs_ingest_set_links TO pg_read_server_files;

-- Converting a target of 0.1.0 (see src/api/convert.rs).
CREATE FUNCTION public.vs_ingest_convert_target(target text DEFAULT 'public.vs_its_hourly',
                                                time_zone text DEFAULT 'Asia/Seoul') RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT vs_ingest.vs_ingest_convert_target($1, $2) $$;
REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_convert_target, public.vs_ingest_convert_target,
                       vs_ingest.convert_prepare, vs_ingest.convert_rows FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_convert_target, public.vs_ingest_convert_target,
                          vs_ingest.convert_prepare, vs_ingest.convert_rows TO pg_read_server_files;
