-- vs_ingest 0.2.0 -> 0.3.0, run by ALTER EXTENSION vs_ingest UPDATE. After it, an installation
-- of 0.2.0 has the objects of a fresh 0.3.0 and keeps its ledger, sources, coverage and targets.
-- Unlike 0.1.0 -> 0.2.0, functions are replaced in place (CREATE OR REPLACE), never dropped
-- wholesale: the targets' views (owned by the loading roles) use the extension's C functions.
-- What changed and why: docs/catalog-changes.md ("0.3.0").
\echo Use "ALTER EXTENSION vs_ingest UPDATE" to load this file. \quit

------------------------------------------------------------------------------------------------
-- 1. Trust: objects a load adopts, code it runs (issue 17, items 1, 5, 6, 7).
------------------------------------------------------------------------------------------------

------------------------------------------------------------------------------------------------
-- 2. Visibility by identity; functions that run with the catalog owner's rights (issue 17,
--    items 2 and 3).
------------------------------------------------------------------------------------------------

-- Runs and sources name their role by oid (who it is); the names stay, for display. A role that
-- no longer exists gets NULL: its runs are seen by pg_monitor, superusers and the target's owner
-- (resumed by nobody), and its sources run for nobody.
ALTER TABLE vs_ingest.run ADD COLUMN started_by_oid oid;
UPDATE vs_ingest.run SET started_by_oid = pg_catalog.to_regrole(pg_catalog.quote_ident(started_by))::oid;
ALTER TABLE vs_ingest.source ADD COLUMN owner_oid oid;
UPDATE vs_ingest.source SET owner_oid = pg_catalog.to_regrole(pg_catalog.quote_ident(owner))::oid;

-- Who sees a run: by the starter's and the target's oids, never by a name (to_regclass raised
-- 42501 for every reader once any run's target was in a schema the reader may not use).
DROP POLICY own_runs ON vs_ingest.run;
DROP FUNCTION vs_ingest.sees_run(name, text);
CREATE FUNCTION vs_ingest.sees_run(started_by_oid oid, target_oid oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_has_role('pg_monitor', 'USAGE')
        OR CASE WHEN EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = sees_run.started_by_oid)
                THEN pg_has_role(sees_run.started_by_oid, 'USAGE') ELSE false END
        OR coalesce((SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = c.relowner)
                                 THEN pg_has_role(c.relowner, 'USAGE') ELSE false END
                       FROM pg_class c WHERE c.oid = sees_run.target_oid), false)
$$;
CREATE OR REPLACE FUNCTION vs_ingest.sees_rejects(file_id bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = r.started_by_oid)
                                 THEN pg_has_role(r.started_by_oid, 'USAGE') ELSE false END
                       FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                      WHERE f.file_id = $1), false)
$$;
CREATE POLICY own_runs ON vs_ingest.run FOR SELECT USING (vs_ingest.sees_run(started_by_oid, target_oid));

-- forget_coverage was SECURITY DEFINER, with no check of who called it: any loader could delete
-- another role's coverage. It becomes the Rust function (src/api/retention.rs) that checks the
-- caller has the privileges of the target's owner and then deletes as the catalog's owner: same
-- name, arguments, result and grants (CREATE OR REPLACE keeps them; it also drops SECURITY
-- DEFINER and the SET clause, which a C function of the extension does not have).
CREATE OR REPLACE FUNCTION vs_ingest.forget_coverage(table_name text, lo timestamptz, hi timestamptz)
RETURNS bigint VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'forget_coverage_wrapper';


------------------------------------------------------------------------------------------------
-- 3. Local times that do not exist (issue 17, item 4).
------------------------------------------------------------------------------------------------

-- New: the local times a load rejects as nonexistent_time (src/sql/time_zone.sql, as there).
-- The local 5-minute slots (their start, as a local timestamp) that do not exist in time zone
-- `tz` between 1970-01-01 and 2100-12-31: those that clocks skip when they go forward (daylight
-- saving begins, or the zone moves to a later offset; Pacific/Apia skipped 2011-12-30 whole). A
-- slot does not exist when `(t AT TIME ZONE tz) AT TIME ZONE tz <> t`: PostgreSQL reads such a
-- time with the offset in force before the change, which names a later local time.
--
-- Checking every slot of 131 years is slow (13.8 million), so: a gap ends on a day whose next
-- midnight comes less than 24 hours after its own; on such a day, in an hour whose end comes
-- less than an hour after its start, by as much as it is short (g); so only the slots of the g
-- before that hour and of the hour itself are checked (the gap may begin the day before). About
-- 2 conversions a day, ~50 ms, plus ~40 ms for check_time_zone (docs/storage.md). JIT is off: the
-- planner takes the series for 1000 rows each, and compiling would cost more than the query.
CREATE FUNCTION vs_ingest.local_time_gaps(tz text) RETURNS SETOF timestamp
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET jit = off AS $$
BEGIN
    PERFORM vs_ingest.check_time_zone(tz);
    RETURN QUERY
    WITH short_day AS (
        SELECT d FROM generate_series(timestamp '1970-01-01', timestamp '2100-12-31', interval '1 day') AS d
         WHERE ((d + interval '1 day') AT TIME ZONE tz) - (d AT TIME ZONE tz) < interval '24 hours'
    ), gap_end AS (
        SELECT h, interval '1 hour' - (((h + interval '1 hour') AT TIME ZONE tz) - (h AT TIME ZONE tz)) AS g
          FROM short_day CROSS JOIN LATERAL generate_series(d, d + interval '23 hours', interval '1 hour') AS h
         WHERE ((h + interval '1 hour') AT TIME ZONE tz) - (h AT TIME ZONE tz) < interval '1 hour'
    )
    SELECT DISTINCT t
      FROM gap_end
     CROSS JOIN LATERAL generate_series(date_trunc('hour', h - g), h + interval '55 minutes', interval '5 minutes') AS t
     WHERE (t AT TIME ZONE tz) AT TIME ZONE tz <> t
     ORDER BY t;
END
$$;
