-- Daily rollups: the load keeps public.vs_its_daily equal to the 5-minute data it stored (the
-- directory loaded by the load test), and an analyst's questions read it.
SET client_min_messages = warning;
SET TimeZone = 'Asia/Seoul';

SELECT relname, relkind FROM pg_class WHERE relname ~ '^vs_its_(daily|hourly_days)' AND relkind IN ('v', 'p', 'r') ORDER BY 1;

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

-- QUERIES.md d (a morning peak) and g (missing data) in their rollup form, against the hourly view.
SELECT count(*) AS links,
       count(*) FILTER (WHERE abs(r.peak - h.peak) > 1e-4) AS differing
  FROM (SELECT link_id, sum(hour_speed_tenths[8] + hour_speed_tenths[9]) / 10.0 / nullif(sum(hour_samples[8] + hour_samples[9]), 0) AS peak
          FROM public.vs_its_daily GROUP BY link_id) r
  JOIN (SELECT link_id, sum(speed_avg::float8 * samples) / sum(samples) AS peak
          FROM public.vs_its_hourly WHERE local_hour IN (7, 8) GROUP BY link_id) h USING (link_id);
SELECT link_id, local_day, round(1 - samples / 288.0, 4) AS missing
  FROM public.vs_its_daily ORDER BY missing DESC, link_id, local_day LIMIT 3;

-- The rollups are the storage owner's, not the extension's, and belong to no other role.
SELECT c.relname, pg_get_userbyid(c.relowner) = pg_get_userbyid(s.relowner) AS storage_owner,
       EXISTS (SELECT 1 FROM pg_depend e WHERE e.objid = c.oid AND e.deptype = 'e') AS extension_member
  FROM pg_class c, pg_class s
 WHERE c.relname IN ('vs_its_daily', 'vs_its_hourly_days') AND s.oid = 'public.vs_its_hourly_blocks'::regclass
 ORDER BY 1;
