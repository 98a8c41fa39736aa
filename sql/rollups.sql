-- Daily rollups: the load keeps public.vs_its_daily equal to the 5-minute data it stored (the
-- directory loaded by the load test), and an analyst's questions read it.
SET client_min_messages = warning;
SET TimeZone = 'Asia/Seoul';

SELECT relname, relkind FROM pg_class WHERE relname ~ '^vs_its_(daily|quality|monthly|hourly_days|hourly_months)' AND relkind IN ('v', 'p', 'r') ORDER BY 1;

-- Every rollup equals the aggregate of the 5-minute view, day and hour by hour, computed here.
CREATE TEMP VIEW want AS
WITH s AS (SELECT link_id, local_day, extract(hour FROM local_time)::int AS h, speed FROM public.vs_its_5min),
     hr AS (SELECT link_id, local_day, h, count(*)::int AS n, sum(speed::float8) AS total FROM s GROUP BY 1, 2, 3)
SELECT d.link_id, d.local_day, d.samples, d.speed_sum, d.speed_min, d.speed_max,
       ARRAY(SELECT coalesce((SELECT hr.n FROM hr WHERE hr.link_id = d.link_id AND hr.local_day = d.local_day AND hr.h = g), 0)
               FROM generate_series(0, 23) g) AS hour_samples,
       ARRAY(SELECT coalesce((SELECT round(hr.total * 10)::int FROM hr
                               WHERE hr.link_id = d.link_id AND hr.local_day = d.local_day AND hr.h = g), 0)
               FROM generate_series(0, 23) g) AS hour_speed_tenths
  FROM (SELECT link_id, local_day, count(*)::int AS samples, round(sum(speed::float8)::numeric, 1) AS speed_sum,
               min(speed) AS speed_min, max(speed) AS speed_max
          FROM s GROUP BY 1, 2) d;
CREATE TEMP VIEW got AS
SELECT link_id, local_day, samples::int, round((speed_avg * samples)::numeric, 1) AS speed_sum, speed_min, speed_max,
       hour_samples::int[], hour_speed_tenths
  FROM public.vs_its_daily;
SELECT (SELECT count(*) FROM public.vs_its_daily) AS link_days,
       (SELECT sum(samples) FROM public.vs_its_daily) = (SELECT count(*) FROM public.vs_its_5min) AS every_sample,
       (SELECT count(*) FROM ((SELECT * FROM got EXCEPT ALL SELECT * FROM want)
                              UNION ALL (SELECT * FROM want EXCEPT ALL SELECT * FROM got)) x) AS differences;

SELECT link_id, local_day, samples, round(speed_avg::numeric, 3) AS speed_avg, speed_min, speed_max,
       hour_samples[1:3] AS first_hours, hour_speed_tenths[1:3] AS first_sums
  FROM public.vs_its_daily ORDER BY link_id, local_day LIMIT 3;

-- Every monthly rollup equals the 5-minute view summed per link, local month and day type
-- (weekend: Saturday and Sunday), hour by hour, computed here.
CREATE TEMP VIEW month_want AS
WITH s AS (SELECT link_id, date_trunc('month', local_day)::date AS month, extract(isodow FROM local_day) > 5 AS weekend,
                  local_day, extract(hour FROM local_time)::int AS h, round(speed::numeric * 10)::int AS t
             FROM public.vs_its_5min),
     hr AS (SELECT link_id, month, weekend, h, count(*)::int AS n, sum(t)::int AS st FROM s GROUP BY 1, 2, 3, 4)
SELECT m.*,
       ARRAY(SELECT coalesce((SELECT hr.n FROM hr WHERE (hr.link_id, hr.month, hr.weekend, hr.h) = (m.link_id, m.month, m.weekend, g)), 0)
               FROM generate_series(0, 23) g) AS hn,
       ARRAY(SELECT coalesce((SELECT hr.st FROM hr WHERE (hr.link_id, hr.month, hr.weekend, hr.h) = (m.link_id, m.month, m.weekend, g)), 0)
               FROM generate_series(0, 23) g) AS hst
  FROM (SELECT link_id, month, weekend, count(DISTINCT local_day)::int AS days, count(*)::int AS samples, sum(t)::bigint AS speed_sum
          FROM s GROUP BY 1, 2, 3) m;
CREATE TEMP VIEW month_got AS
SELECT link_id, month, weekend, days::int, samples, speed_sum, hour_samples, hour_speed_sum FROM public.vs_its_hourly_months;
SELECT (SELECT count(*) FROM public.vs_its_monthly) AS link_months,
       (SELECT sum(days) FROM public.vs_its_monthly) = (SELECT count(*) FROM public.vs_its_daily) AS every_link_day,
       (SELECT count(*) FROM ((SELECT * FROM month_got EXCEPT ALL SELECT * FROM month_want)
                              UNION ALL (SELECT * FROM month_want EXCEPT ALL SELECT * FROM month_got)) x) AS differences;
SELECT link_id, month, weekend, days, samples, round(speed_avg::numeric, 3) AS speed_avg, hour_samples[8:9] AS peak_samples
  FROM public.vs_its_monthly ORDER BY link_id, month, weekend LIMIT 3;

-- QUERIES.md d (a morning peak) and g (missing data) in their rollup form, against the hourly view.
SELECT count(*) AS links,
       count(*) FILTER (WHERE abs(r.peak - h.peak) > 1e-4) AS differing
  FROM (SELECT link_id, sum(hour_speed_tenths[8] + hour_speed_tenths[9]) / 10.0 / nullif(sum(hour_samples[8] + hour_samples[9]), 0) AS peak
          FROM public.vs_its_daily GROUP BY link_id) r
  JOIN (SELECT link_id, sum(speed_avg::float8 * samples) / sum(samples) AS peak
          FROM public.vs_its_hourly WHERE local_hour IN (7, 8) GROUP BY link_id) h USING (link_id);
SELECT link_id, local_day, round(1 - samples / 288.0, 4) AS missing
  FROM public.vs_its_daily ORDER BY missing DESC, link_id, local_day LIMIT 3;
-- d on the monthly rollups (one row per link) against the hourly view, weekdays and weekends apart.
SELECT count(*) AS link_day_types,
       count(*) FILTER (WHERE abs(r.peak - h.peak) > 1e-4) AS differing
  FROM (SELECT link_id, weekend, (hour_speed_tenths[8] + hour_speed_tenths[9]) / 10.0 / nullif(hour_samples[8] + hour_samples[9], 0) AS peak
          FROM public.vs_its_monthly) r
  JOIN (SELECT link_id, extract(isodow FROM local_day) > 5 AS weekend, sum(speed_avg::float8 * samples) / sum(samples) AS peak
          FROM public.vs_its_hourly WHERE local_hour IN (7, 8) GROUP BY 1, 2) h USING (link_id, weekend);
-- g the way the index on samples answers it: the link-days with the fewest samples first.
SELECT link_id, local_day, round(1 - samples / 288.0, 4) AS missing
  FROM public.vs_its_daily ORDER BY samples, link_id, local_day LIMIT 3;

-- The quality view's figures equal those of the 5-minute view, computed here: the longest run of
-- consecutive slots with one speed (islands: a slot's index minus its rank among its speed's) and
-- the largest change between consecutive slots; and its flags follow its figures and settings.
CREATE TEMP VIEW slots AS
SELECT link_id, local_day, (extract(epoch FROM local_time - local_day) / 300)::int AS idx, speed FROM public.vs_its_5min;
SELECT count(*) AS link_days,
       count(*) FILTER (WHERE q.longest_same_run <> r.longest OR q.max_jump <> j.jump) AS differing,
       count(*) FILTER (WHERE q.stuck <> (r.longest >= 36) OR q.jump <> (j.jump > 80)
                           OR q.all_zero <> (q.speed_max = 0) OR q.implausible <> (q.speed_max > 140)
                           OR q.missing <> (q.samples < 144)) AS flags_differing,
       sum(q.longest_same_run) AS sum_runs
  FROM public.vs_its_quality q
  JOIN (SELECT link_id, local_day, max(n) AS longest
          FROM (SELECT link_id, local_day, count(*) AS n
                  FROM (SELECT link_id, local_day, speed,
                               idx - row_number() OVER (PARTITION BY link_id, local_day, speed ORDER BY idx) AS g
                          FROM slots) x GROUP BY link_id, local_day, speed, g) y
         GROUP BY 1, 2) r USING (link_id, local_day)
  JOIN (SELECT link_id, local_day, coalesce(max(abs(speed - p)) FILTER (WHERE idx - pi = 1), 0) AS jump
          FROM (SELECT link_id, local_day, idx, speed, lag(speed) OVER w AS p, lag(idx) OVER w AS pi
                  FROM slots WINDOW w AS (PARTITION BY link_id, local_day ORDER BY idx)) z
         GROUP BY 1, 2) j USING (link_id, local_day);
SELECT name, setting FROM pg_settings WHERE name LIKE 'vs\_ingest.quality\_%' ORDER BY 1;
SELECT link_id, days, days_flagged, missing_days, round(missing_rate::numeric, 4) AS missing_rate
  FROM vs_ingest_quality('2023-01-01', '2023-01-03') ORDER BY missing_rate DESC, link_id LIMIT 3;
SELECT regress_try($$SELECT * FROM vs_ingest_quality('2023-01-02', '2023-01-01')$$);
SELECT regress_try($$SELECT * FROM vs_ingest_quality('2023-01-01', '2023-01-02', worst => 0)$$);
SELECT regress_try($$SELECT * FROM vs_ingest_quality('2023-01-01', '2023-01-02', 'pg_catalog.pg_class')$$);

-- The rollups are the storage owner's, not the extension's, and belong to no other role.
SELECT c.relname, pg_get_userbyid(c.relowner) = pg_get_userbyid(s.relowner) AS storage_owner,
       EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = c.oid AND e.deptype = 'e') AS extension_member
  FROM pg_class c, pg_class s
 WHERE c.relname IN ('vs_its_daily', 'vs_its_quality', 'vs_its_monthly', 'vs_its_hourly_days', 'vs_its_hourly_months') AND s.oid = 'public.vs_its_hourly_blocks'::regclass
 ORDER BY 1;

-- Days stored before a target kept rollups (the update from 0.2.0 makes its rollup table empty, as
-- ensure_rollups does here over stored rows): listed as to build, warned of by the quality report,
-- built by CALL vs_ingest_build_rollups() a day per transaction, oldest first, outside a
-- transaction block; then equal to the 5-minute data again.
DROP VIEW got, month_got;
SELECT vs_ingest.drop_rollups('public.vs_its_hourly', 'public.vs_its_hourly_blocks');
SELECT vs_ingest.ensure_rollups('public.vs_its_hourly', 'public.vs_its_hourly_blocks')::text;
SELECT rollups, storage, days, first_day, last_day FROM vs_ingest.rollups_to_build;
SELECT count(*) AS links_reported FROM vs_ingest_quality('2023-01-01', '2023-01-03');
CALL vs_ingest_build_rollups(days => 1);
SELECT rollups, days, first_day, last_day FROM vs_ingest.rollups_to_build;
BEGIN;
CALL vs_ingest_build_rollups();
ROLLBACK;
SELECT regress_try($$CALL vs_ingest_build_rollups(days => 0)$$);
SELECT regress_try($$CALL vs_ingest_build_rollups(target => 'pg_catalog.pg_class')$$);
CALL vs_ingest_build_rollups(target => 'public.vs_its_hourly');
SELECT count(*) AS tables_to_build FROM vs_ingest.rollups_to_build;
CREATE TEMP VIEW got AS
SELECT link_id, local_day, samples::int, round((speed_avg * samples)::numeric, 1) AS speed_sum, speed_min, speed_max,
       hour_samples::int[], hour_speed_tenths
  FROM public.vs_its_daily;
SELECT (SELECT count(*) FROM public.vs_its_daily) AS link_days,
       (SELECT count(*) FROM ((SELECT * FROM got EXCEPT ALL SELECT * FROM want)
                              UNION ALL (SELECT * FROM want EXCEPT ALL SELECT * FROM got)) x) AS differences;
CREATE TEMP VIEW month_got AS
SELECT link_id, month, weekend, days::int, samples, speed_sum, hour_samples, hour_speed_sum FROM public.vs_its_hourly_months;
SELECT (SELECT count(*) FROM public.vs_its_monthly) AS link_months,
       (SELECT count(*) FROM ((SELECT * FROM month_got EXCEPT ALL SELECT * FROM month_want)
                              UNION ALL (SELECT * FROM month_want EXCEPT ALL SELECT * FROM month_got)) x) AS differences;
