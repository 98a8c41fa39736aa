-- vs_ingest 0.1.0 -> 0.2.0, run by ALTER EXTENSION vs_ingest UPDATE. After it, an installation
-- of 0.1.0 has the objects of a fresh 0.2.0 (src/sql/*.sql and the functions generated from
-- src/api; the columns added to run and coverage come last instead of where a fresh install puts
-- them), and keeps its ledger, sources and coverage. Privileges granted by hand on the public
-- wrappers go with the old functions, and a user's view over one of them blocks the update. The
-- layout of the targets changed too; converting a 0.1.0 table is vs_ingest_convert_target's job,
-- not this script's (it may be large, and it belongs to its owner). What changed and why: docs/catalog-changes.md.
\echo Use "ALTER EXTENSION vs_ingest UPDATE" to load this file. \quit

------------------------------------------------------------------------------------------------
-- 1. Every function of 0.1.0 goes; 0.2.0's are created below (several changed signature,
--    language, strictness or body; dropping them all is simpler and surer than altering each).
------------------------------------------------------------------------------------------------
DO $drop$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
          FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_proc p ON p.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e'
           AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'vs_ingest')
    LOOP
        EXECUTE pg_catalog.format('DROP FUNCTION %s', f);
    END LOOP;
END
$drop$;
-- The view depended on none of them; it is replaced below with security_invoker.
DROP VIEW vs_ingest.progress;

------------------------------------------------------------------------------------------------
-- 2. Catalog tables.
------------------------------------------------------------------------------------------------
-- The ledger follows the table loaded into, by oid (issue 10). Runs of 0.1.0 stored the name as
-- given; it is resolved now (unqualified names as public's), and runs whose table is gone keep
-- NULL and are matched by name.
ALTER TABLE vs_ingest.run ADD COLUMN target_oid oid;
UPDATE vs_ingest.run
   SET target_oid = pg_catalog.to_regclass(CASE WHEN target LIKE '%.%' THEN target ELSE 'public.' || target END)::oid;

-- Coverage by the table's oid; rows of tables that are gone go with them.
ALTER TABLE vs_ingest.coverage ADD COLUMN target_oid oid;
UPDATE vs_ingest.coverage
   SET target_oid = pg_catalog.to_regclass(CASE WHEN target LIKE '%.%' THEN target ELSE 'public.' || target END)::oid;
DELETE FROM vs_ingest.coverage WHERE target_oid IS NULL;
ALTER TABLE vs_ingest.coverage ALTER COLUMN target_oid SET NOT NULL;
ALTER TABLE vs_ingest.coverage DROP CONSTRAINT coverage_pkey;
ALTER TABLE vs_ingest.coverage ADD PRIMARY KEY (target_oid, hour);

-- Loads spread over Citus worker nodes (new in 0.2.0): which node loads a file, and its run there.
ALTER TABLE vs_ingest.file ADD COLUMN node text, ADD COLUMN node_run bigint;

-- The row every load function returns (new in 0.2.0; 0.1.0 spelled the columns out in each).
CREATE TYPE vs_ingest.load_summary AS (
    run_id          bigint,
    files_seen      int,
    files_loaded    int,
    files_skipped   int,
    files_failed    int,
    rows_read       bigint,
    rows_loaded     bigint,
    rows_duplicate  bigint,
    rows_rejected   bigint,
    seconds         double precision,
    mb_per_s        double precision
);

-- The calendar of the views (new in 0.2.0).
CREATE TABLE vs_ingest.calendar_hour (
    time_zone       text        NOT NULL,
    hour            timestamptz NOT NULL,
    local_day       date        NOT NULL,
    local_hour      smallint    NOT NULL CHECK (local_hour BETWEEN 0 AND 23),
    -- The stored row holding the hour: block 0-3 of the day (hours 6 * block .. 6 * block + 5).
    block           smallint    NOT NULL CHECK (block BETWEEN 0 AND 3),
    hour_in_block   smallint    NOT NULL CHECK (hour_in_block BETWEEN 0 AND 5),
    -- 1 << hour_in_block, tested against the stored row's `hours` bits.
    hour_bit        smallint    NOT NULL,
    -- Subscripts of the hour's twelve slots in the stored row's arrays.
    first_slot      smallint    NOT NULL,
    last_slot       smallint    NOT NULL,
    PRIMARY KEY (time_zone, hour)
);
COMMENT ON TABLE vs_ingest.calendar_hour IS 'Each loaded local hour of each time zone and where its stored row is.';

CREATE TABLE vs_ingest.calendar_5min (
    time_zone       text        NOT NULL,
    ts              timestamptz NOT NULL,
    local_day       date        NOT NULL,
    local_time      timestamp   NOT NULL,
    block           smallint    NOT NULL CHECK (block BETWEEN 0 AND 3),
    -- Subscript (1-72) of the slot in the stored row's arrays.
    slot            smallint    NOT NULL CHECK (slot BETWEEN 1 AND 72),
    PRIMARY KEY (time_zone, ts)
);
COMMENT ON TABLE vs_ingest.calendar_5min IS 'Each loaded local 5-minute slot of each time zone and where it is stored.';
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.calendar_hour', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.calendar_5min', '');

-- Live progress, now with the reader's row-level security.
CREATE VIEW vs_ingest.progress WITH (security_invoker = true) AS
SELECT f.run_id, f.file_id, f.path, f.status,
       f.input_done AS bytes_done, f.size AS bytes_total,
       f.rows_read AS rows,
       round(f.rows_read / t.seconds) AS rows_per_s,
       round((f.bytes / 1e6 / t.seconds)::numeric, 1) AS mb_per_s,
       CASE WHEN f.status = 'loading' AND f.input_done > 0
            THEN make_interval(secs => (f.size - f.input_done) * t.seconds / f.input_done) END AS eta,
       f.chunks, f.worker_pid, f.node
  FROM vs_ingest.file f
  JOIN vs_ingest.run r USING (run_id)
 CROSS JOIN LATERAL (SELECT greatest(extract(epoch FROM coalesce(f.finished_at, clock_timestamp())
                                                      - coalesce(f.started_at, clock_timestamp())), 0.001)
                            AS seconds) t
 WHERE r.status IN ('running', 'cancelling');
COMMENT ON VIEW vs_ingest.progress IS 'Files of running loads, as of their last committed chunk.';

-- Who may write the catalog: nobody but the extension (issue 9); who sees what.
REVOKE INSERT, UPDATE, DELETE ON vs_ingest.run, vs_ingest.file, vs_ingest.reject, vs_ingest.coverage
    FROM pg_read_server_files;
CREATE FUNCTION vs_ingest.sees_run(started_by name, target text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_has_role('pg_monitor', 'USAGE')
        OR coalesce(pg_has_role(to_regrole(quote_ident(started_by)), 'USAGE'), false)
        OR coalesce((SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass(target)),
                    false)
$$;

CREATE FUNCTION vs_ingest.sees_rejects(file_id bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT pg_has_role(to_regrole(quote_ident(r.started_by)), 'USAGE')
                       FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                      WHERE f.file_id = $1), false)
$$;

ALTER TABLE vs_ingest.run ENABLE ROW LEVEL SECURITY;
ALTER TABLE vs_ingest.file ENABLE ROW LEVEL SECURITY;
ALTER TABLE vs_ingest.reject ENABLE ROW LEVEL SECURITY;
ALTER TABLE vs_ingest.coverage ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_runs ON vs_ingest.run FOR SELECT USING (vs_ingest.sees_run(started_by, target));
CREATE POLICY own_files ON vs_ingest.file FOR SELECT
    USING (EXISTS (SELECT 1 FROM vs_ingest.run r WHERE r.run_id = file.run_id));
CREATE POLICY own_rejects ON vs_ingest.reject FOR SELECT USING (vs_ingest.sees_rejects(file_id));
-- Coverage describes a table's data: it is seen by whoever may read that table.
CREATE POLICY readable_targets ON vs_ingest.coverage FOR SELECT
    USING (coalesce(has_table_privilege(target_oid, 'SELECT'), false));

REVOKE ALL ON vs_ingest.run, vs_ingest.file, vs_ingest.reject, vs_ingest.progress, vs_ingest.source,
              vs_ingest.coverage FROM PUBLIC;
GRANT SELECT ON vs_ingest.run, vs_ingest.file, vs_ingest.reject, vs_ingest.progress, vs_ingest.source,
                vs_ingest.coverage TO pg_read_server_files;
GRANT SELECT ON vs_ingest.run, vs_ingest.file, vs_ingest.progress TO pg_monitor;
GRANT USAGE ON SCHEMA vs_ingest TO pg_read_server_files, pg_monitor;
-- The calendar is public knowledge, and the targets' views (owned by the loading roles) read it.
REVOKE ALL ON vs_ingest.calendar_hour, vs_ingest.calendar_5min FROM PUBLIC;
GRANT SELECT ON vs_ingest.calendar_hour, vs_ingest.calendar_5min TO PUBLIC;

------------------------------------------------------------------------------------------------
-- 3. The functions of 0.2.0 and their privileges, as CREATE EXTENSION makes them
--    (src/sql/gaps.sql, target.sql, history.sql, api.sql and the functions of src/api).
------------------------------------------------------------------------------------------------

-- The missing-data report, from vs_ingest.coverage alone (kept by the writer): it never scans the
-- hourly rows, so a month of national data answers in milliseconds. The two report functions are
-- plain SQL, so they live in public directly instead of behind wrappers.

-- Normalises a target name the way the loader records it (schema.table, quoted as needed).
-- With missing_ok, a table that does not exist yet is NULL instead of an error.
CREATE FUNCTION vs_ingest.target_name(target text, missing_ok boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass := to_regclass(target);
BEGIN
    IF rel IS NULL AND missing_ok THEN
        RETURN NULL;
    ELSIF rel IS NULL THEN
        RAISE EXCEPTION 'table "%" does not exist', target
            USING ERRCODE = 'undefined_table', HINT = 'Name a table that vs_ingest has loaded into.';
    END IF;
    RETURN (SELECT format('%I.%I', n.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel);
END
$$;

-- The report functions are entry points in public: thin SQL wrappers whose bodies are fully
-- schema-qualified, resolving the user's table name under the caller's search_path (with
-- pg_catalog.to_regclass), and calling the functions below, which run with a fixed search_path.

-- Every hour of [since, until) with what reported in it. links_expected is the most links that
-- reported in any one hour of the `expected_days` days before (NULL without history): an exact
-- count of distinct links over days would mean scanning the data or keeping link sets per day.
CREATE FUNCTION vs_ingest.coverage_report(
    rel regclass,
    target text,
    since timestamptz,
    until timestamptz,
    expected_days int
) RETURNS TABLE (
    hour timestamptz, links_expected int, links_reported int, coverage double precision,
    slots_missing int
) LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    -- The table (target_name raises a clear error if there is none); coverage is kept by its oid.
    relid oid := vs_ingest.target_name(coalesce(rel::text, target))::regclass;
BEGIN
    IF since IS NULL OR until IS NULL OR until <= since THEN
        RAISE EXCEPTION 'invalid time range [%, %)', since, until
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give since < until.';
    END IF;
    IF expected_days IS NULL OR expected_days < 1 THEN
        RAISE EXCEPTION 'expected_days must be at least 1, not %', expected_days
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give the number of days whose links are expected.';
    END IF;
    RETURN QUERY
    SELECT h.hour, e.links, coalesce(c.links, 0),
           CASE WHEN e.links > 0 THEN coalesce(c.links, 0)::double precision / e.links END,
           CASE WHEN c.hour IS NULL THEN 12
                ELSE (SELECT count(*)::int FROM unnest(c.slot_links) AS n WHERE n = 0) END
      FROM vs_ingest.hour_grid(relid, since, until) AS h
      LEFT JOIN vs_ingest.coverage c ON c.target_oid = relid AND c.hour = h.hour
     CROSS JOIN LATERAL (
            SELECT max(p.links) AS links FROM vs_ingest.coverage p
             WHERE p.target_oid = relid AND p.hour >= h.hour - make_interval(days => expected_days)
               AND p.hour < h.hour) e
     ORDER BY h.hour;
END
$$;

CREATE FUNCTION public.vs_ingest_coverage(
    since timestamptz,
    until timestamptz,
    target text DEFAULT 'public.vs_its_hourly',
    expected_days int DEFAULT 7
) RETURNS TABLE (
    hour timestamptz, links_expected int, links_reported int, coverage double precision,
    slots_missing int
) LANGUAGE sql STABLE
AS $$ SELECT * FROM vs_ingest.coverage_report(pg_catalog.to_regclass($3), $3, $1, $2, $4) $$;

-- The hours of [since, until): the loaded hours' starts, and whole hours of the same grid in
-- between (the grid follows the loaded data, so zones with half-hour offsets work too).
CREATE FUNCTION vs_ingest.hour_grid(relid oid, since timestamptz, until timestamptz)
RETURNS TABLE (hour timestamptz) LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH anchor AS (
        SELECT coalesce((SELECT c.hour FROM vs_ingest.coverage c WHERE c.target_oid = relid ORDER BY c.hour LIMIT 1),
                        date_trunc('hour', since)) AS a
    ), first AS (
        -- The first hour of the grid that overlaps [since, until).
        SELECT a + floor(extract(epoch FROM since - a) / 3600) * interval '1 hour' AS f FROM anchor
    )
    SELECT g FROM first, generate_series(f, until - interval '1 microsecond', interval '1 hour') AS g
$$;

-- What is missing in [since, until): runs of 5-minute intervals with no sample at all (kind
-- 'no_data', e.g. a file that never came), and hours with data where fewer than `min_coverage`
-- of the expected links reported (kind 'low_coverage').
CREATE FUNCTION vs_ingest.gaps_report(
    rel regclass,
    target text,
    since timestamptz,
    until timestamptz,
    expected_days int,
    min_coverage double precision
) RETURNS TABLE (
    kind text, interval_start timestamptz, interval_end timestamptz, intervals int,
    links_expected int, links_reported int, coverage double precision
) LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    relid oid := vs_ingest.target_name(coalesce(rel::text, target))::regclass;
BEGIN
    IF min_coverage IS NULL OR min_coverage < 0 OR min_coverage > 1 THEN
        RAISE EXCEPTION 'min_coverage must be between 0 and 1, not %', min_coverage
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give a share such as 0.9.';
    END IF;
    RETURN QUERY
    WITH hours AS (
        SELECT * FROM vs_ingest.coverage_report(rel, target, since, until, expected_days)
    ), empty_slots AS (
        -- Every 5-minute interval inside [since, until) that no link reported.
        SELECT h.hour + s.slot * interval '5 minutes' AS t, h.links_expected
          FROM hours h
         CROSS JOIN generate_series(0, 11) AS s(slot)
          LEFT JOIN vs_ingest.coverage c ON c.target_oid = relid AND c.hour = h.hour
         WHERE coalesce(c.slot_links[s.slot + 1], 0) = 0
           AND h.hour + s.slot * interval '5 minutes' >= since
           AND h.hour + (s.slot + 1) * interval '5 minutes' <= until
    ), runs AS (
        -- Consecutive intervals share t - row_number() * 5 minutes.
        SELECT t, links_expected, t - row_number() OVER (ORDER BY t) * interval '5 minutes' AS run
          FROM empty_slots
    )
    SELECT 'no_data', min(t), max(t) + interval '5 minutes', count(*)::int,
           (array_agg(r.links_expected ORDER BY t))[1], 0, 0::double precision
      FROM runs r GROUP BY run
    UNION ALL
    SELECT 'low_coverage', h.hour, h.hour + interval '1 hour', 12 - h.slots_missing,
           h.links_expected, h.links_reported, h.coverage
      FROM hours h
     WHERE h.links_reported > 0 AND h.coverage < min_coverage
    ORDER BY 2, 1;
END
$$;

CREATE FUNCTION public.vs_ingest_gaps(
    since timestamptz,
    until timestamptz,
    target text DEFAULT 'public.vs_its_hourly',
    expected_days int DEFAULT 7,
    min_coverage double precision DEFAULT 0.9
) RETURNS TABLE (
    kind text, interval_start timestamptz, interval_end timestamptz, intervals int,
    links_expected int, links_reported int, coverage double precision
) LANGUAGE sql STABLE
AS $$ SELECT * FROM vs_ingest.gaps_report(pg_catalog.to_regclass($3), $3, $1, $2, $4, $5) $$;

-- A target: the relation users query, `target` (default public.vs_its_hourly), is a view with one
-- row per link and hour; the data lives in `<target>_blocks`, one row per link and block of six
-- local hours, partitioned by local day; `<target>_5min` (vs_its_5min for the default) is a view
-- with one row per link and 5-minute slot. Why this layout: docs/storage.md.
--
-- Targets are created by the loading role and are not extension members: DROP EXTENSION never
-- drops loaded data. Like every function of the extension, these run with a fixed search_path,
-- so no function or operator of another role can stand in for a built-in.

-- Whether `rel` has exactly the columns of a storage table, in order (rows are COPYed by position).
CREATE FUNCTION vs_ingest.has_block_shape(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(a.attname::text || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
                    = ARRAY['link_id bigint', 'day date', 'block smallint', 'hours smallint', 'speed smallint[]',
                            'travel_time integer[]'], false)
      FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- Whether `rel` is a table of vs_ingest 0.1.0: partitioned, one row per link and hour.
CREATE FUNCTION vs_ingest.is_v0_1_table(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = rel)
       AND (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
             WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped)
           IS NOT DISTINCT FROM ARRAY['hour', 'link_id', 'speed', 'travel_time', 'samples', 'speed_avg', 'speed_min', 'speed_max']
$$;

-- Raises 22023 unless `tz` names a time zone (pg_timezone_names): targets and the calendar take
-- only real zone names.
CREATE FUNCTION vs_ingest.check_time_zone(tz text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz) THEN
        RAISE EXCEPTION 'unknown time zone "%"', tz
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a name from pg_timezone_names, such as Asia/Seoul.';
    END IF;
END
$$;

-- The day partitions of a storage table, with the local days each holds, [lo, hi).
CREATE FUNCTION vs_ingest.day_partitions(storage regclass, OUT part regclass, OUT lo date, OUT hi date)
RETURNS SETOF record LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.oid::regclass,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::date,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::date
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = storage
$$;

-- The storage table behind a target view, or NULL when `target` is not one: the partitioned
-- table of block rows its definition reads.
CREATE FUNCTION vs_ingest.storage_of(target regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT d.refobjid::regclass
      FROM pg_rewrite r
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                      AND d.refclassid = 'pg_class'::regclass
      JOIN pg_partitioned_table p ON p.partrelid = d.refobjid
     WHERE r.ev_class = target AND r.rulename = '_RETURN' AND d.refobjid <> target
       AND vs_ingest.has_block_shape(d.refobjid)
     LIMIT 1
$$;

-- Whether `rel` is a Citus-distributed table (false where Citus is not installed; only a superuser
-- can create a relation in pg_catalog).
CREATE FUNCTION vs_ingest.is_distributed(rel regclass) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found boolean := false;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
           INTO found USING rel;
    END IF;
    RETURN found;
END
$$;

-- The stage table of a distributed storage table: `<storage>_stage`, distributed and colocated
-- with it by link_id, so that a merge joins shard to shard on the workers (a temporary table
-- cannot be distributed). NULL if it does not exist.
CREATE FUNCTION vs_ingest.stage_of(storage regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT to_regclass(format('%I.%I', n.nspname, left(c.relname, 57) || '_stage'))
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = storage
$$;

-- Whether `stage` can serve as the stage of `storage`: a distributed plain table of the storage's
-- shape and owner, without triggers of its own. (A role with CREATE on the schema could create a
-- table of that name first; every load would then run its triggers.)
CREATE FUNCTION vs_ingest.is_stage_of(stage regclass, storage regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.relkind = 'r' AND s.relowner = c.relowner AND vs_ingest.has_block_shape(stage)
           AND vs_ingest.is_distributed(stage)
           AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = stage AND NOT t.tgisinternal
                                                         AND t.tgfoid::regproc::text <> 'citus_truncate_trigger')
      FROM pg_class s, pg_class c WHERE s.oid = stage AND c.oid = storage
$$;

-- Distributes a target's storage with Citus by link_id (`vs_ingest_create_target(...,
-- distributed => true)`), in `shard_count` shards (NULL: citus.shard_count), and creates its
-- colocated stage. Its day partitions, now and later, are distributed with it. Runs as the caller,
-- who must own the target. Idempotent.
CREATE FUNCTION vs_ingest.distribute_target(hourly regclass, shard_count int) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    storage regclass := vs_ingest.storage_of(hourly);
    nsp name;
    rel name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'a distributed target needs Citus, which is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Create it on a Citus coordinator (CREATE EXTENSION citus), or with distributed => false.';
    END IF;
    IF shard_count IS NOT NULL AND shard_count NOT BETWEEN 1 AND 64000 THEN
        RAISE EXCEPTION 'shard_count must be between 1 and 64000, not %', shard_count
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave it NULL for citus.shard_count.';
    END IF;
    SELECT n.nspname, c.relname INTO nsp, rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = storage;
    IF NOT vs_ingest.is_distributed(storage) THEN
        EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''link_id'', shard_count => $2)'
          USING storage, coalesce(shard_count, current_setting('citus.shard_count')::int);
    END IF;
    IF vs_ingest.stage_of(storage) IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I (LIKE %s)', nsp, left(rel, 57) || '_stage', storage);
        -- The storage's owner owns its stage (a superuser may be distributing another role's target).
        EXECUTE format('ALTER TABLE %s OWNER TO %I', vs_ingest.stage_of(storage),
                       (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = storage));
        EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''link_id'', colocate_with => $2)'
          USING vs_ingest.stage_of(storage), storage::text;
    ELSIF NOT vs_ingest.is_stage_of(vs_ingest.stage_of(storage), storage) THEN
        RAISE EXCEPTION 'cannot distribute %: % exists and is not its stage', hourly, vs_ingest.stage_of(storage)
            USING ERRCODE = 'duplicate_table',
                  HINT = 'Drop or rename that table, then call vs_ingest_create_target again.';
    END IF;
END
$$;

-- The time zone whose local days a target stores (its views select the calendar of that zone).
CREATE FUNCTION vs_ingest.time_zone_of(target regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT replace((regexp_match(pg_get_viewdef(target), 'c\.time_zone = ''((?:[^'']|'''')*)''::text'))[1], '''''', '''')
$$;

-- Creates the target `target` (its storage table and its two views) unless it exists, for local
-- days of time zone `tz`; returns the hourly view and the storage table.
CREATE FUNCTION vs_ingest.ensure_target(target text, tz text, OUT hourly regclass, OUT storage regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parts text[] := parse_ident(target);
    nsp text;
    rel text;
    existing regclass;
    existing_tz text;
    five_min text;
    citus_ddl text;
BEGIN
    IF cardinality(parts) NOT IN (1, 2) THEN
        RAISE EXCEPTION 'invalid target table name "%"', target
            USING ERRCODE = 'invalid_name', HINT = 'Give a table name, optionally schema-qualified.';
    END IF;
    PERFORM vs_ingest.check_time_zone(tz);
    existing := to_regclass(target);
    IF existing IS NOT NULL THEN
        storage := vs_ingest.storage_of(existing);
        IF storage IS NULL THEN
            IF vs_ingest.is_v0_1_table(existing) THEN
                RAISE EXCEPTION 'table % stores one row per link and hour, the layout of vs_ingest 0.1.0', existing
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = format('Convert it to the current layout with SELECT vs_ingest_convert_target(%L).', existing::text);
            END IF;
            RAISE EXCEPTION '% is not a vs_ingest target', existing
                USING ERRCODE = 'wrong_object_type',
                      DETAIL = 'A target is a view over a partitioned table of six-hour rows, both created by vs_ingest.',
                      HINT = 'vs_ingest writes into a target it created: pick another target name.';
        END IF;
        existing_tz := vs_ingest.time_zone_of(existing);
        IF existing_tz IS DISTINCT FROM tz THEN
            RAISE EXCEPTION 'target % stores local days of time zone %, not %', existing, existing_tz, tz
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('Load with time_zone => %L, or into another target.', existing_tz);
        END IF;
        hourly := existing;
        RETURN;
    END IF;

    nsp := CASE cardinality(parts) WHEN 1 THEN current_schema() ELSE parts[1] END;
    IF nsp IS NULL THEN
        RAISE EXCEPTION 'no schema has been selected to create the target "%" in', target
            USING ERRCODE = 'invalid_schema_name', HINT = 'Schema-qualify the target name.';
    END IF;
    rel := parts[cardinality(parts)];
    five_min := CASE WHEN rel ~ '_hourly$' THEN regexp_replace(rel, '_hourly$', '_5min') ELSE left(rel, 58) || '_5min' END;
    storage := to_regclass(format('%I.%I', nsp, left(rel, 56) || '_blocks'));
    IF storage IS NOT NULL AND NOT (vs_ingest.has_block_shape(storage)
                                    AND EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = storage)) THEN
        RAISE EXCEPTION 'cannot create target %: % exists and is not a vs_ingest storage table', target, storage
            USING ERRCODE = 'duplicate_table', HINT = 'Pick another target name.';
    END IF;
    IF storage IS NOT NULL AND EXISTS (
           SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
            WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = storage AND r.ev_class <> storage) THEN
        RAISE EXCEPTION 'cannot create target %: its storage name % is used by another target', target, storage
            USING ERRCODE = 'duplicate_table', HINT = 'Use a target name whose first 56 characters differ from the other''s.';
    END IF;
    -- A storage table without its views (they went with DROP EXTENSION ... CASCADE) is adopted:
    -- the views are created again over it.
    IF storage IS NULL THEN
        EXECUTE format($ddl$
            CREATE TABLE %I.%I (
                link_id     bigint     NOT NULL,
                day         date       NOT NULL,
                block       smallint   NOT NULL CHECK (block BETWEEN 0 AND 3),
                hours       smallint   NOT NULL CHECK (hours BETWEEN 1 AND 63),
                speed       smallint[] NOT NULL CHECK (cardinality(speed) = 72),
                travel_time int[]               CHECK (cardinality(travel_time) = 72),
                -- (day, block, link_id): a block's rows append at the index's right edge, and a
                -- view query reaches one block of one day through the calendar (docs/storage.md).
                PRIMARY KEY (day, block, link_id)
            ) PARTITION BY RANGE (day)$ddl$, nsp, left(rel, 56) || '_blocks');
        storage := format('%I.%I', nsp, left(rel, 56) || '_blocks')::regclass;
        -- One link's days: without it PostgreSQL 15 (no skip scan) reads every index page of
        -- every day for `link_id = X` (docs/storage.md).
        EXECUTE format('CREATE INDEX ON %s (link_id)', storage);
    END IF;
    EXECUTE format($c$COMMENT ON TABLE %s IS %L$c$, storage,
        'Link speeds loaded by vs_ingest, one row per link and block of six local hours (block 0-3 of day): '
        'slot 12 * h + i + 1 of speed (tenths of km/h) and travel_time is minutes 5i..5i+4 of hour 6 * block + h; '
        'bit h of hours: hour h has a sample. Query it through the view ' || format('%I.%I', nsp, rel) || '.');
    -- On a Citus node the views stay local: they join the calendar, a local catalog table, so
    -- Citus could not create them on the other nodes, and would warn so at every target. (Set
    -- back right after: a day partition of a distributed storage, later in this transaction, must
    -- reach the workers.)
    citus_ddl := current_setting('citus.enable_ddl_propagation', true);
    IF citus_ddl IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    END IF;
    EXECUTE format($view$
        CREATE VIEW %I.%I AS
        SELECT c.hour,
               b.link_id,
               vs_ingest.hour_speed(b.speed, c.hour_in_block) AS speed,
               coalesce(b.travel_time[c.first_slot:c.last_slot], '{NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL}'::int[]) AS travel_time,
               vs_ingest.hour_samples(b.speed, c.hour_in_block) AS samples,
               vs_ingest.hour_speed_avg(b.speed, c.hour_in_block) AS speed_avg,
               vs_ingest.hour_speed_min(b.speed, c.hour_in_block) AS speed_min,
               vs_ingest.hour_speed_max(b.speed, c.hour_in_block) AS speed_max,
               b.day AS local_day,
               c.local_hour
          FROM %s b
          JOIN vs_ingest.calendar_hour c ON c.local_day = b.day AND c.block = b.block
         WHERE c.time_zone = %L AND b.hours & c.hour_bit <> 0$view$, nsp, rel, storage, tz);
    hourly := format('%I.%I', nsp, rel)::regclass;
    EXECUTE format($c$COMMENT ON VIEW %s IS %L$c$, hourly,
        'Hourly link speeds loaded by vs_ingest (time zone ' || tz || '): twelve 5-minute slots per row '
        '(slot i = minutes 5i..5i+4); local_day and local_hour are the hour in that time zone.');
    IF to_regclass(format('%I.%I', nsp, five_min)) IS NULL THEN
        EXECUTE format($view$
            CREATE VIEW %I.%I AS
            SELECT c.ts,
                   b.link_id,
                   b.speed[c.slot] / 10.0::real AS speed,
                   b.travel_time[c.slot] AS travel_time,
                   b.day AS local_day,
                   c.local_time
              FROM %s b
              JOIN vs_ingest.calendar_5min c ON c.local_day = b.day AND c.block = b.block
             WHERE c.time_zone = %L AND b.speed[c.slot] IS NOT NULL$view$, nsp, five_min, storage, tz);
        EXECUTE format($c$COMMENT ON VIEW %I.%I IS %L$c$, nsp, five_min,
            'Link speeds loaded by vs_ingest (time zone ' || tz || '), one row per link and 5-minute slot with a sample.');
    ELSE
        RAISE NOTICE '% exists already: the 5-minute view of % was not created', format('%I.%I', nsp, five_min), hourly;
    END IF;
    IF citus_ddl IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', citus_ddl, true);
    END IF;
END
$$;

-- Creates the partition of `storage` for local day `day` unless one exists.
CREATE FUNCTION vs_ingest.ensure_day_partition(storage regclass, day date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nsp name;
    rel name;
    part text;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = storage;
    part := left(rel, 53) || '_p' || to_char(day, 'YYYYMMDD');
    -- Serialise partition creation per table across sessions.
    PERFORM pg_advisory_xact_lock(hashtext('vs_ingest.partition'), hashtext(storage::text));
    IF to_regclass(format('%I.%I', nsp, part)) IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(format('%I.%I', nsp, part))
                                                  AND inhparent = storage) THEN
        RAISE EXCEPTION 'cannot create the partition of % for %: % exists and is not one of its partitions',
                        storage, day, format('%I.%I', nsp, part)
            USING ERRCODE = 'duplicate_table', HINT = 'Rename that relation, or use a target name of at most 50 characters.';
    END IF;
    IF to_regclass(format('%I.%I', nsp, part)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                       nsp, part, storage, day, day + 1);
        -- PostgreSQL 15 costs a scan of the storage parameterized by (day, block), the views'
        -- join from the calendar, as a scan of every day's partition, each estimated at its whole
        -- block (its one value of `day` always matches), and does not count the run-time pruning
        -- that then reads one partition: it would rather hash-join every day. Telling it that
        -- `day` has 100 values makes a probe's estimate the size of a block when about 100 days
        -- are stored, and within 4x of it from 25 to 400 days, so it takes the nested loop
        -- (docs/storage.md). A constant day is still estimated from the partition's statistics.
        -- (Citus does not take this ALTER on a distributed table, whose partition here is an
        -- empty shell anyway.)
        IF NOT vs_ingest.is_distributed(storage) THEN
            EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN day SET (n_distinct = 100)', nsp, part);
        END IF;
    END IF;
END
$$;

-- The instants of local hours 0..24 of `day` in `tz` (hour 24 is the next midnight), as epoch
-- microseconds: the writer stamps coverage with them.
CREATE FUNCTION vs_ingest.day_hours(day date, tz text) RETURNS bigint[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT array_agg((extract(epoch FROM ((day::timestamp + make_interval(hours => h)) AT TIME ZONE tz)) * 1000000)::bigint
                     ORDER BY h)
      FROM generate_series(0, 24) AS h
$$;

-- Adds local day `day` of `tz` to the calendar (run as the catalog's owner); true when it was new. Where a local hour
-- does not exist (a daylight-saving gap) it names the same instant as the next one, which keeps
-- it: hours are inserted from the last, and the first to claim an instant wins.
CREATE FUNCTION vs_ingest.fill_calendar(tz text, day date) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    stats name;
BEGIN
    -- Runs as the catalog's owner: only a real zone name, never a string a target's view holds.
    PERFORM vs_ingest.check_time_zone(tz);
    IF EXISTS (SELECT 1 FROM vs_ingest.calendar_hour
                WHERE time_zone = tz AND hour = (day::timestamp + interval '12 hours') AT TIME ZONE tz) THEN
        RETURN false;
    END IF;
    -- The local-time expressions analysts filter on get statistics of their own, so that the
    -- planner knows `extract(hour FROM hour AT TIME ZONE tz) IN (7, 8)` keeps 2 hours of 24.
    -- (Created once per zone; a concurrent first load of the zone waits for the other's commit.)
    stats := 'calendar_hour_' || left(md5(tz), 12);
    IF NOT EXISTS (SELECT 1 FROM pg_statistic_ext WHERE stxnamespace = 'vs_ingest'::regnamespace AND stxname = stats) THEN
        PERFORM pg_advisory_xact_lock(hashtext('vs_ingest.calendar'), hashtext(tz));
        IF NOT EXISTS (SELECT 1 FROM pg_statistic_ext WHERE stxnamespace = 'vs_ingest'::regnamespace AND stxname = stats) THEN
            EXECUTE format('CREATE STATISTICS vs_ingest.%I ON (extract(hour FROM hour AT TIME ZONE %L)), '
                           '(extract(isodow FROM hour AT TIME ZONE %L)), (extract(dow FROM hour AT TIME ZONE %L)), '
                           '((hour AT TIME ZONE %L)::date) FROM vs_ingest.calendar_hour', stats, tz, tz, tz, tz);
        END IF;
    END IF;
    INSERT INTO vs_ingest.calendar_hour AS c
        (time_zone, hour, local_day, local_hour, block, hour_in_block, hour_bit, first_slot, last_slot)
    SELECT tz, (day::timestamp + make_interval(hours => h)) AT TIME ZONE tz, day, h, h / 6, h % 6,
           (1 << (h % 6))::smallint, 12 * (h % 6) + 1, 12 * (h % 6) + 12
      FROM generate_series(23, 0, -1) AS h
    ON CONFLICT DO NOTHING;
    INSERT INTO vs_ingest.calendar_5min AS c (time_zone, ts, local_day, local_time, block, slot)
    SELECT tz, t AT TIME ZONE tz, day, t, s / 72, s % 72 + 1
      FROM generate_series(287, 0, -1) AS s
     CROSS JOIN LATERAL (SELECT day::timestamp + make_interval(mins => 5 * s) AS t) l
    ON CONFLICT DO NOTHING;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION vs_ingest.fill_calendar FROM PUBLIC;

-- Merges the staged block rows `stage` into `storage`: a slot already filled keeps its sample
-- (first sample wins). Returns the staged samples that were duplicates and the rows inserted or
-- changed.
CREATE FUNCTION vs_ingest.merge_staged(storage regclass, stage regclass, OUT duplicate bigint, OUT rows_written bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format($merge$
        WITH existing AS (
            SELECT coalesce(sum(cardinality(array_remove(s.speed, NULL)) - vs_ingest.slots_to_fill(t.speed, s.speed)), 0)::bigint
                   AS duplicate
              FROM %2$s s JOIN %1$s t ON t.day = s.day AND t.block = s.block AND t.link_id = s.link_id
        ), merged AS (
            INSERT INTO %1$s AS t SELECT * FROM %2$s
            ON CONFLICT (day, block, link_id) DO UPDATE SET
                hours = t.hours | excluded.hours,
                speed = vs_ingest.merge_speed(t.speed, excluded.speed),
                travel_time = vs_ingest.merge_travel_time(t.speed, t.travel_time, excluded.speed, excluded.travel_time)
            WHERE vs_ingest.slots_to_fill(t.speed, excluded.speed) > 0
            RETURNING 1
        )
        SELECT (SELECT duplicate FROM existing), (SELECT count(*) FROM merged)$merge$, storage, stage)
    INTO duplicate, rows_written;
END
$$;

-- The merge for a distributed target, of the block (`day`, `block`) staged in its colocated
-- stage: each statement runs shard by shard on the workers. Citus runs the steps of one statement
-- with CTEs one after the other, so they are separate statements here; the caller holds the
-- block's lock, so no other writer changes its rows in between. Counts as merge_staged.
CREATE FUNCTION vs_ingest.merge_staged_block(storage regclass, stage regclass, day date, block smallint,
                                             OUT duplicate bigint, OUT rows_written bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    inserted bigint;
BEGIN
    EXECUTE format($q$
        SELECT coalesce(sum(cardinality(array_remove(t.speed, NULL)) - vs_ingest.slots_to_fill(s.speed, t.speed)), 0)::bigint
          FROM %1$s s JOIN %2$s t ON t.link_id = s.link_id AND t.day = s.day AND t.block = s.block
         WHERE s.day = $1 AND s.block = $2 AND t.day = $1 AND t.block = $2$q$, storage, stage)
       INTO duplicate USING day, block;
    EXECUTE format($q$
        UPDATE %1$s s SET hours = s.hours | t.hours,
                          speed = vs_ingest.merge_speed(s.speed, t.speed),
                          travel_time = vs_ingest.merge_travel_time(s.speed, s.travel_time, t.speed, t.travel_time)
          FROM %2$s t
         WHERE t.link_id = s.link_id AND t.day = s.day AND t.block = s.block
           AND s.day = $1 AND s.block = $2 AND t.day = $1 AND t.block = $2
           AND vs_ingest.slots_to_fill(s.speed, t.speed) > 0$q$, storage, stage)
      USING day, block;
    GET DIAGNOSTICS rows_written = ROW_COUNT;
    EXECUTE format($q$
        INSERT INTO %1$s SELECT t.* FROM %2$s t
         WHERE t.day = $1 AND t.block = $2
           AND NOT EXISTS (SELECT 1 FROM %1$s s WHERE s.link_id = t.link_id AND s.day = $1 AND s.block = $2)$q$,
        storage, stage)
      USING day, block;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    rows_written := rows_written + inserted;
    EXECUTE format('DELETE FROM %s WHERE day = $1 AND block = $2', stage) USING day, block;
END
$$;

-- Converting a target of 0.1.0 (one row per link and hour) into this layout, for
-- vs_ingest_convert_target (src/api/convert.rs). Step 1, as the caller (the table's owner):
-- renames the old table to <name>_v0_1, creates the target under the old name and the partitions
-- of its local days; returns the old table and those days.
CREATE FUNCTION vs_ingest.convert_prepare(target text, tz text, OUT old_table regclass, OUT days date[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old regclass := to_regclass(target);
    nsp text;
    rel text;
    kept text;
    storage regclass;
BEGIN
    IF old IS NULL THEN
        RAISE EXCEPTION 'table "%" does not exist', target
            USING ERRCODE = 'undefined_table', HINT = 'Name a table that vs_ingest 0.1.0 loaded into.';
    END IF;
    IF NOT vs_ingest.is_v0_1_table(old) THEN
        RAISE EXCEPTION '% is not a table of vs_ingest 0.1.0', old
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Only a partitioned table with one row per link and hour, as 0.1.0 created it, is converted.';
    END IF;
    SELECT n.nspname, c.relname INTO nsp, rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = old;
    kept := left(rel, 58) || '_v0_1';
    IF to_regclass(format('%I.%I', nsp, kept)) IS NOT NULL THEN
        RAISE EXCEPTION 'cannot keep % as %.%: that name is taken', old, nsp, kept
            USING ERRCODE = 'duplicate_table', HINT = 'Rename or drop that relation first.';
    END IF;
    EXECUTE format('ALTER TABLE %s RENAME TO %I', old, kept);
    SELECT e.storage INTO storage FROM vs_ingest.ensure_target(format('%I.%I', nsp, rel), tz) e;
    EXECUTE format('SELECT coalesce(array_agg(DISTINCT (hour AT TIME ZONE %L)::date), ''{}'') FROM %s', tz, old) INTO days;
    PERFORM vs_ingest.ensure_day_partition(storage, d) FROM unnest(days) AS d;
    old_table := old;
END
$$;

-- Step 2, as the caller, after the calendar has the days: each link's hours of a block become one
-- row. Returns the hourly rows converted and the target's view.
CREATE FUNCTION vs_ingest.convert_rows(old regclass, target text, tz text, OUT rows bigint, OUT view regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    storage regclass;
    collisions bigint;
    grant_row record;
BEGIN
    view := to_regclass(target);
    storage := vs_ingest.storage_of(view);
    -- Two hourly rows of one link on the same local hour (a table loaded in another time zone, or
    -- a daylight-saving day) would overwrite each other's slots: refuse rather than lose them.
    EXECUTE format('SELECT count(*) - count(DISTINCT (link_id, hour AT TIME ZONE %L)) FROM %s WHERE samples > 0', tz, old)
       INTO collisions;
    IF collisions > 0 THEN
        RAISE EXCEPTION '% hourly rows of % fall on the same local hour of time zone % as another row of their link', collisions, old, tz
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Convert with the time zone the table was loaded with (its partitions start at that zone''s midnights).';
    END IF;
    EXECUTE format($q$
        INSERT INTO %s (link_id, day, block, hours, speed, travel_time)
        SELECT link_id, day, block, bit_or(1 << hour_in_block)::smallint,
               vs_ingest.block_speed(array_agg(hour_in_block ORDER BY hour_in_block), array_agg(speed ORDER BY hour_in_block)),
               vs_ingest.block_travel_time(array_agg(hour_in_block ORDER BY hour_in_block),
                                           array_agg(travel_time ORDER BY hour_in_block))
          FROM (SELECT link_id, l::date AS day, (extract(hour FROM l)::int / 6)::smallint AS block,
                       (extract(hour FROM l)::int %% 6)::smallint AS hour_in_block, speed, travel_time
                  FROM %s CROSS JOIN LATERAL (SELECT hour AT TIME ZONE %L AS l) AS x
                 WHERE samples > 0) AS h
         GROUP BY link_id, day, block$q$, storage, old, tz);
    EXECUTE format('SELECT count(*) FROM %s WHERE samples > 0', old) INTO rows;
    -- Whoever could use the old table can use the target: its privileges go to the view (SELECT)
    -- and to the storage (all of them).
    FOR grant_row IN
        SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee
          FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
         WHERE c.oid = old AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON %s TO %s', grant_row.privilege_type, storage, grant_row.grantee);
        IF grant_row.privilege_type = 'SELECT' THEN
            EXECUTE format('GRANT SELECT ON %s TO %s', view, grant_row.grantee);
        END IF;
    END LOOP;
    RAISE NOTICE '% hourly rows of % are now in %; drop % when you have checked them', rows, old, view, old;
END
$$;

CREATE FUNCTION vs_ingest.hour_speed(speed smallint[], hour_in_block smallint) RETURNS real[]
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_hour_speed';
COMMENT ON FUNCTION vs_ingest.hour_speed IS 'The hour''s twelve speeds in km/h from a stored block row (NULL: no sample).';
CREATE FUNCTION vs_ingest.hour_samples(speed smallint[], hour_in_block smallint) RETURNS smallint
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_hour_samples';
CREATE FUNCTION vs_ingest.hour_speed_avg(speed smallint[], hour_in_block smallint) RETURNS real
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_hour_speed_avg';
CREATE FUNCTION vs_ingest.hour_speed_min(speed smallint[], hour_in_block smallint) RETURNS real
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_hour_speed_min';
CREATE FUNCTION vs_ingest.hour_speed_max(speed smallint[], hour_in_block smallint) RETURNS real
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_hour_speed_max';

-- Housekeeping the scheduler does: pruning the job history and partition retention.

-- Deletes the history of runs that finished more than `days` days ago: their runs, files and
-- rejected lines. Kept whatever their age, per file and target: the newest `loaded` row (what
-- tells a load to skip the file, or that it changed) and the newest loaded, changed or failed
-- row (what tells the scheduler the file is settled; a skipped row says no more than the loaded
-- one); and unfinished files (their resume offsets and rejects). Returns what was deleted.
CREATE FUNCTION vs_ingest.prune_history(days int, OUT runs bigint, OUT files bigint, OUT rejects bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cutoff timestamptz := clock_timestamp() - make_interval(days => days);
BEGIN
    IF days IS NULL OR days < 0 THEN
        RAISE EXCEPTION 'days must be 0 or more, not %', days
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give how many days of history to keep.';
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS vs_ingest_pruned_files (file_id bigint) ON COMMIT DROP;
    TRUNCATE pg_temp.vs_ingest_pruned_files;
    INSERT INTO pg_temp.vs_ingest_pruned_files
    SELECT f.file_id
      FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
     WHERE r.finished_at < cutoff
       AND f.status NOT IN ('pending', 'loading', 'cancelled')
       AND f.file_id IS DISTINCT FROM (
               SELECT max(k.file_id) FROM vs_ingest.file k JOIN vs_ingest.run kr USING (run_id)
                WHERE k.path = f.path AND kr.target = r.target AND kr.target_oid IS NOT DISTINCT FROM r.target_oid
                  AND k.status = 'loaded')
       AND f.file_id IS DISTINCT FROM (
               SELECT max(k.file_id) FROM vs_ingest.file k JOIN vs_ingest.run kr USING (run_id)
                WHERE k.path = f.path AND kr.target = r.target AND kr.target_oid IS NOT DISTINCT FROM r.target_oid
                  AND k.status IN ('loaded', 'changed', 'failed'));
    DELETE FROM vs_ingest.reject j USING pg_temp.vs_ingest_pruned_files p WHERE j.file_id = p.file_id;
    GET DIAGNOSTICS rejects = ROW_COUNT;
    DELETE FROM vs_ingest.file f USING pg_temp.vs_ingest_pruned_files p WHERE f.file_id = p.file_id;
    GET DIAGNOSTICS files = ROW_COUNT;
    -- Coverage of tables that no longer exist.
    DELETE FROM vs_ingest.coverage c WHERE NOT EXISTS (SELECT 1 FROM pg_class t WHERE t.oid = c.target_oid);
    DELETE FROM vs_ingest.run r
     WHERE r.finished_at < cutoff
       AND NOT EXISTS (SELECT 1 FROM vs_ingest.file f WHERE f.run_id = r.run_id);
    GET DIAGNOSTICS runs = ROW_COUNT;
END
$$;

-- Deletes the coverage of the hours [lo, hi) of the target `table_name` that no partition of its
-- storage holds any more (a dropped or detached day). Users cannot write the catalog, so this runs
-- as its owner (SECURITY DEFINER); it trusts no argument and never reads a relation of the caller
-- (a view could run the caller's functions with the definer's rights): it removes only coverage
-- that the system catalogs show to be stale.
CREATE FUNCTION vs_ingest.forget_coverage(table_name text, lo timestamptz, hi timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass := to_regclass(table_name);
    storage regclass;
    tz text;
    forgotten bigint;
BEGIN
    storage := vs_ingest.storage_of(rel);
    tz := vs_ingest.time_zone_of(rel);
    IF rel IS NULL OR storage IS NULL OR tz IS NULL
       OR NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz) THEN
        RETURN 0;  -- not a target
    END IF;
    -- A partition still holds a local day of [lo, hi): nothing is stale.
    IF EXISTS (SELECT 1 FROM vs_ingest.day_partitions(storage) p
                WHERE p.lo::timestamp AT TIME ZONE tz < forget_coverage.hi
                  AND p.hi::timestamp AT TIME ZONE tz > forget_coverage.lo) THEN
        RETURN 0;
    END IF;
    DELETE FROM vs_ingest.coverage c WHERE c.target_oid = rel AND c.hour >= lo AND c.hour < hi;
    GET DIAGNOSTICS forgotten = ROW_COUNT;
    RETURN forgotten;
END
$$;
REVOKE ALL ON FUNCTION vs_ingest.forget_coverage FROM PUBLIC;

-- Detaches or drops the daily partitions of `target`'s storage whose local day ended more than
-- `retain` ago (pg_partman style). Dropping a day also forgets its coverage. Returns the
-- partitions' names.
CREATE FUNCTION vs_ingest.apply_retention(target text, retain interval, action text)
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tname text := vs_ingest.target_name(target);
    storage regclass := vs_ingest.storage_of(to_regclass(target));
    tz text := vs_ingest.time_zone_of(to_regclass(target));
    part record;
    rel_name text;
BEGIN
    IF action NOT IN ('detach', 'drop') THEN
        RAISE EXCEPTION 'retain_action must be detach or drop, not %', action
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use detach (keep the table) or drop.';
    END IF;
    IF storage IS NULL THEN
        RAISE EXCEPTION '% is not a vs_ingest target', tname
            USING ERRCODE = 'wrong_object_type', HINT = 'Retention applies to targets vs_ingest created.';
    END IF;
    FOR part IN
        SELECT p.part AS rel, p.lo::timestamp AT TIME ZONE tz AS lo, p.hi::timestamp AT TIME ZONE tz AS hi
          FROM vs_ingest.day_partitions(storage) p
         WHERE p.hi::timestamp AT TIME ZONE tz <= clock_timestamp() - retain
         ORDER BY p.lo
    LOOP
        rel_name := part.rel::text;
        IF action = 'drop' THEN
            EXECUTE format('DROP TABLE %s', part.rel);
            PERFORM vs_ingest.forget_coverage(tname, part.lo, part.hi);
        ELSE
            EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', storage, part.rel);
        END IF;
        RETURN NEXT rel_name;
    END LOOP;
END
$$;

-- vs_ingest::api::convert::block_speed
CREATE  FUNCTION "block_speed"(
	"hours" smallint[], /* Vec < i16 > */
	"speeds" real[] /* Array < '_, f32 > */
) RETURNS smallint[] /* Vec < Option < i16 > > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'block_speed_wrapper';

-- vs_ingest::api::convert::block_travel_time
CREATE  FUNCTION "block_travel_time"(
	"hours" smallint[], /* Vec < i16 > */
	"travel_times" INT[] /* Array < '_, i32 > */
) RETURNS INT[] /* :: std :: option :: Option < Vec < Option < i32 > > > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'block_travel_time_wrapper';

-- vs_ingest::api::cluster::load_files
CREATE  FUNCTION "load_files"(
	"dir" TEXT, /* Option < & str > */
	"pattern" TEXT, /* Option < & str > */
	"paths" TEXT[], /* :: std :: option :: Option < Vec < String > > */
	"target" TEXT, /* Option < & str > */
	"format" TEXT, /* Option < & str > */
	"source_timezone" TEXT, /* Option < & str > */
	"max_reject_ratio" double precision, /* Option < f64 > */
	"reload_changed" bool /* Option < bool > */
) RETURNS bigint /* i64 */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'load_files_wrapper';

-- vs_ingest::write::merge::merge_speed
CREATE  FUNCTION "merge_speed"(
	"old" smallint[], /* Array < '_, i16 > */
	"new" smallint[] /* Array < '_, i16 > */
) RETURNS smallint[] /* Vec < Option < i16 > > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'merge_speed_wrapper';

-- vs_ingest::write::merge::merge_travel_time
CREATE  FUNCTION "merge_travel_time"(
	"old_speed" smallint[], /* Array < '_, i16 > */
	"old_travel_time" INT[], /* :: std :: option :: Option < Array < '_, i32 > > */
	"new_speed" smallint[], /* Array < '_, i16 > */
	"new_travel_time" INT[] /* :: std :: option :: Option < Array < '_, i32 > > */
) RETURNS INT[] /* :: std :: option :: Option < Vec < Option < i32 > > > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'merge_travel_time_wrapper';

-- vs_ingest::api::cluster::node_run_report
CREATE  FUNCTION "node_run_report"(
	"run_id" bigint /* Option < i64 > */
) RETURNS TEXT /* String */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'node_run_report_wrapper';

-- vs_ingest::write::merge::slots_to_fill
CREATE  FUNCTION "slots_to_fill"(
	"old" smallint[], /* Array < '_, i16 > */
	"new" smallint[] /* Array < '_, i16 > */
) RETURNS INT /* i32 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'slots_to_fill_wrapper';

-- vs_ingest::api::source::vs_ingest_add_source
CREATE  FUNCTION "vs_ingest_add_source"(
	"name" TEXT, /* Option < & str > */
	"dir" TEXT, /* Option < & str > */
	"pattern" TEXT DEFAULT '*', /* Option < & str > */
	"every" interval DEFAULT '1 minute', /* Option < Interval > */
	"target" TEXT DEFAULT 'public.vs_its_hourly', /* Option < & str > */
	"format" TEXT DEFAULT 'its_5min', /* Option < & str > */
	"source_timezone" TEXT DEFAULT NULL, /* Option < & str > */
	"max_reject_ratio" double precision DEFAULT NULL, /* Option < f64 > */
	"reload_changed" bool DEFAULT false, /* Option < bool > */
	"retain" interval DEFAULT NULL, /* Option < Interval > */
	"retain_action" TEXT DEFAULT 'detach', /* Option < & str > */
	"enabled" bool DEFAULT true /* Option < bool > */
) RETURNS INT /* i32 */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_add_source_wrapper';

-- vs_ingest::api::source::vs_ingest_alter_source
CREATE  FUNCTION "vs_ingest_alter_source"(
	"name" TEXT, /* Option < & str > */
	"dir" TEXT DEFAULT NULL, /* Option < & str > */
	"pattern" TEXT DEFAULT NULL, /* Option < & str > */
	"every" interval DEFAULT NULL, /* Option < Interval > */
	"target" TEXT DEFAULT NULL, /* Option < & str > */
	"format" TEXT DEFAULT NULL, /* Option < & str > */
	"source_timezone" TEXT DEFAULT NULL, /* Option < & str > */
	"max_reject_ratio" double precision DEFAULT NULL, /* Option < f64 > */
	"reload_changed" bool DEFAULT NULL, /* Option < bool > */
	"retain" interval DEFAULT NULL, /* Option < Interval > */
	"retain_action" TEXT DEFAULT NULL, /* Option < & str > */
	"enabled" bool DEFAULT NULL /* Option < bool > */
) RETURNS void
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_alter_source_wrapper';

-- vs_ingest::api::ingest::vs_ingest_cancel
CREATE  FUNCTION "vs_ingest_cancel"(
	"run_id" bigint /* Option < i64 > */
) RETURNS bool /* bool */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_cancel_wrapper';

-- vs_ingest::api::convert::vs_ingest_convert_target
CREATE  FUNCTION "vs_ingest_convert_target"(
	"target" TEXT DEFAULT 'public.vs_its_hourly', /* Option < & str > */
	"time_zone" TEXT DEFAULT 'Asia/Seoul' /* Option < & str > */
) RETURNS bigint /* i64 */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_convert_target_wrapper';

-- vs_ingest::api::target::vs_ingest_create_target
CREATE  FUNCTION "vs_ingest_create_target"(
	"target" TEXT DEFAULT 'public.vs_its_hourly', /* Option < & str > */
	"time_zone" TEXT DEFAULT 'Asia/Seoul', /* Option < & str > */
	"distributed" bool DEFAULT false, /* Option < bool > */
	"shard_count" INT DEFAULT NULL /* Option < i32 > */
) RETURNS TEXT /* String */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_create_target_wrapper';

-- vs_ingest::api::ingest::vs_ingest_dir
CREATE  FUNCTION "vs_ingest_dir"(
	"dir" TEXT, /* Option < & str > */
	"pattern" TEXT DEFAULT '*', /* Option < & str > */
	"target" TEXT DEFAULT 'public.vs_its_hourly', /* Option < & str > */
	"format" TEXT DEFAULT 'its_5min', /* Option < & str > */
	"source_timezone" TEXT DEFAULT NULL, /* Option < & str > */
	"max_reject_ratio" double precision DEFAULT NULL, /* Option < f64 > */
	"reload_changed" bool DEFAULT false, /* Option < bool > */
	"wait" bool DEFAULT true, /* Option < bool > */
	"nodes" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS vs_ingest.load_summary /* :: pgrx :: heap_tuple :: PgHeapTuple < '_, :: pgrx :: pgbox :: AllocatedByRust
> */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_dir_wrapper';

-- vs_ingest::api::source::vs_ingest_disable_source
CREATE  FUNCTION "vs_ingest_disable_source"(
	"name" TEXT /* Option < & str > */
) RETURNS void
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_disable_source_wrapper';

-- vs_ingest::api::source::vs_ingest_drop_source
CREATE  FUNCTION "vs_ingest_drop_source"(
	"name" TEXT /* Option < & str > */
) RETURNS void
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_drop_source_wrapper';

-- vs_ingest::api::source::vs_ingest_enable_source
CREATE  FUNCTION "vs_ingest_enable_source"(
	"name" TEXT /* Option < & str > */
) RETURNS void
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_enable_source_wrapper';

-- vs_ingest::api::ingest::vs_ingest_file
CREATE  FUNCTION "vs_ingest_file"(
	"path" TEXT, /* Option < & str > */
	"target" TEXT DEFAULT 'public.vs_its_hourly', /* Option < & str > */
	"format" TEXT DEFAULT 'its_5min', /* Option < & str > */
	"source_timezone" TEXT DEFAULT NULL, /* Option < & str > */
	"max_reject_ratio" double precision DEFAULT NULL, /* Option < f64 > */
	"reload_changed" bool DEFAULT false, /* Option < bool > */
	"wait" bool DEFAULT true /* Option < bool > */
) RETURNS vs_ingest.load_summary /* :: pgrx :: heap_tuple :: PgHeapTuple < '_, :: pgrx :: pgbox :: AllocatedByRust
> */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_file_wrapper';

-- vs_ingest::api::ingest::vs_ingest_resume
CREATE  FUNCTION "vs_ingest_resume"(
	"run_id" bigint, /* Option < i64 > */
	"wait" bool DEFAULT true /* Option < bool > */
) RETURNS vs_ingest.load_summary /* :: pgrx :: heap_tuple :: PgHeapTuple < '_, :: pgrx :: pgbox :: AllocatedByRust
> */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_resume_wrapper';

-- vs_ingest::api::source::vs_ingest_run_source
CREATE  FUNCTION "vs_ingest_run_source"(
	"name" TEXT, /* Option < & str > */
	"wait" bool DEFAULT true /* Option < bool > */
) RETURNS vs_ingest.load_summary /* :: pgrx :: heap_tuple :: PgHeapTuple < '_, :: pgrx :: pgbox :: AllocatedByRust
> */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vs_ingest_run_source_wrapper';

-- finalize
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
    nodes text DEFAULT NULL
) RETURNS vs_ingest.load_summary LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_dir(dir, pattern, target, format, source_timezone, max_reject_ratio, reload_changed, wait, nodes) $$;

CREATE FUNCTION public.vs_ingest_file(
    path text,
    target text DEFAULT 'public.vs_its_hourly',
    format text DEFAULT 'its_5min',
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT false,
    wait boolean DEFAULT true
) RETURNS vs_ingest.load_summary LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_file(path, target, format, source_timezone, max_reject_ratio, reload_changed, wait) $$;

CREATE FUNCTION public.vs_ingest_resume(run_id bigint, wait boolean DEFAULT true)
RETURNS vs_ingest.load_summary LANGUAGE sql VOLATILE
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
REVOKE ALL ON FUNCTION vs_ingest.ensure_target, vs_ingest.ensure_day_partition,
                       vs_ingest.merge_staged, vs_ingest.coverage_report, vs_ingest.gaps_report FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.ensure_target, vs_ingest.ensure_day_partition,
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
    enabled boolean DEFAULT true
) RETURNS int LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_add_source(name, dir, pattern, every, target, format, source_timezone,
                                            max_reject_ratio, reload_changed, retain, retain_action, enabled) $$;

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
    enabled boolean DEFAULT NULL
) RETURNS void LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_alter_source(name, dir, pattern, every, target, format, source_timezone,
                                              max_reject_ratio, reload_changed, retain, retain_action, enabled) $$;

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
                       vs_ingest.prune_history, vs_ingest.apply_retention,
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

-- Converting a target of 0.1.0 (see src/api/convert.rs).
CREATE FUNCTION public.vs_ingest_convert_target(target text DEFAULT 'public.vs_its_hourly',
                                                time_zone text DEFAULT 'Asia/Seoul') RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT vs_ingest.vs_ingest_convert_target($1, $2) $$;
REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_convert_target, public.vs_ingest_convert_target,
                       vs_ingest.convert_prepare, vs_ingest.convert_rows FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_convert_target, public.vs_ingest_convert_target,
                          vs_ingest.convert_prepare, vs_ingest.convert_rows TO pg_read_server_files;
