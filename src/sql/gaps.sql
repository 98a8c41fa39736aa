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
