-- The PostgreSQL-native way, step 2 (timed): fold the staged samples into hourly rows.
--   psql -v tz=Asia/Seoul -f bench/native-insert.sql
-- The first sample of each (link, day, time) wins (DISTINCT ON in file order); empty speeds are
-- missing samples; a travel time of 0 is missing. One row per link and hour, twelve 5-minute
-- slots, as vs_ingest writes them: on the generated files both tables hold the same rows.
\set ON_ERROR_STOP on
ANALYZE native_staging;
INSERT INTO public.native_hourly
SELECT (d + h * interval '1 hour') AT TIME ZONE :'tz' AS hour, link_id,
       ARRAY[max(speed) FILTER (WHERE slot = 0), max(speed) FILTER (WHERE slot = 1),
             max(speed) FILTER (WHERE slot = 2), max(speed) FILTER (WHERE slot = 3),
             max(speed) FILTER (WHERE slot = 4), max(speed) FILTER (WHERE slot = 5),
             max(speed) FILTER (WHERE slot = 6), max(speed) FILTER (WHERE slot = 7),
             max(speed) FILTER (WHERE slot = 8), max(speed) FILTER (WHERE slot = 9),
             max(speed) FILTER (WHERE slot = 10), max(speed) FILTER (WHERE slot = 11)] AS speed,
       ARRAY[max(travel_time) FILTER (WHERE slot = 0), max(travel_time) FILTER (WHERE slot = 1),
             max(travel_time) FILTER (WHERE slot = 2), max(travel_time) FILTER (WHERE slot = 3),
             max(travel_time) FILTER (WHERE slot = 4), max(travel_time) FILTER (WHERE slot = 5),
             max(travel_time) FILTER (WHERE slot = 6), max(travel_time) FILTER (WHERE slot = 7),
             max(travel_time) FILTER (WHERE slot = 8), max(travel_time) FILTER (WHERE slot = 9),
             max(travel_time) FILTER (WHERE slot = 10), max(travel_time) FILTER (WHERE slot = 11)] AS travel_time,
       count(*)::smallint AS samples, avg(speed)::real AS speed_avg, min(speed) AS speed_min, max(speed) AS speed_max
  FROM (SELECT DISTINCT ON (link_id, d, t) link_id, d, t / 100 AS h, t % 100 / 5 AS slot,
               speed, nullif(travel_time, 0) AS travel_time
          FROM native_staging
         WHERE speed IS NOT NULL AND speed <= 300 AND t / 100 < 24 AND t % 100 < 60 AND t % 5 = 0
         ORDER BY link_id, d, t, line) AS first_sample
 GROUP BY link_id, d, h;
