-- Local times that do not exist in a time zone. The engine has no time zone database: a load asks
-- this once per run for its source's zone and rejects the rows at these times (nonexistent_time).

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
