-- Loading a directory: the summary, the rows, the ledger and the rejects; then again.
SET client_min_messages = warning;

SELECT files_seen, files_loaded, files_skipped, files_failed,
       rows_read, rows_loaded, rows_duplicate, rows_rejected, seconds >= 0 AS timed
  FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '20*_5Min.*');

SELECT status, files_seen, files_loaded, rows_read, rows_missing, rows_rejected, error
  FROM vs_ingest.run ORDER BY run_id;
SELECT regexp_replace(path, '.*/', '') AS file, container, status,
       rows_read, rows_loaded, rows_duplicate, rows_missing, rows_rejected
  FROM vs_ingest.file ORDER BY path;

-- The target is a view over a table of six-hour rows with one partition per local (Seoul) day.
SELECT relname, relkind FROM pg_class WHERE relname ~ '^vs_its_(hourly|5min)' AND relkind IN ('v', 'p', 'r') ORDER BY 1;
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bounds
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'public.vs_its_hourly_blocks'::regclass ORDER BY 1;
SELECT day, block, count(*) AS rows, sum(cardinality(array_remove(speed, NULL))) AS samples
  FROM public.vs_its_hourly_blocks GROUP BY 1, 2 ORDER BY 1, 2;

SET TimeZone = 'Asia/Seoul';
SELECT count(*) AS hourly_rows, sum(samples) AS samples, count(DISTINCT link_id) AS links,
       min(hour) AS first_hour, max(hour) AS last_hour
  FROM public.vs_its_hourly;
SELECT hour, link_id, speed, travel_time, samples, speed_avg, speed_min, speed_max
  FROM public.vs_its_hourly ORDER BY link_id, hour LIMIT 3;
-- Rows keep their twelve slots; samples counts the non-NULL ones.
SELECT count(*) AS inconsistent FROM public.vs_its_hourly
 WHERE cardinality(speed) <> 12 OR samples <> (SELECT count(x) FROM unnest(speed) x);

-- The 5-minute view: one row per sample, at its slot's time, with the hourly view's values.
CREATE TEMP VIEW unnested AS
SELECT h.link_id, h.hour + (s.i - 1) * interval '5 minutes' AS ts, s.v AS speed, h.travel_time[s.i] AS travel_time
  FROM public.vs_its_hourly h CROSS JOIN LATERAL unnest(h.speed) WITH ORDINALITY AS s(v, i) WHERE s.v IS NOT NULL;
SELECT (SELECT count(*) FROM public.vs_its_5min) AS five_min_rows,
       (SELECT count(*) FROM ((SELECT link_id, ts, speed, travel_time FROM public.vs_its_5min EXCEPT ALL
                               SELECT * FROM unnested)
                              UNION ALL (SELECT * FROM unnested EXCEPT ALL
                                         SELECT link_id, ts, speed, travel_time FROM public.vs_its_5min)) d)
       AS mismatches;

-- Local time does not depend on the session's TimeZone: local_day and local_hour are Seoul's.
SET TimeZone = 'UTC';
SELECT local_day, local_hour, hour, count(*) AS links
  FROM public.vs_its_hourly WHERE local_day = '2023-01-01' AND local_hour IN (0, 9) GROUP BY 1, 2, 3 ORDER BY 3;
SELECT local_day, local_time, ts FROM public.vs_its_5min ORDER BY ts LIMIT 2;
SET TimeZone = 'Asia/Seoul';

SELECT regexp_replace(f.path, '.*/', '') AS file, r.line, r.reason, r.raw
  FROM vs_ingest.reject r JOIN vs_ingest.file f USING (file_id) ORDER BY f.path, r.line;

-- The same directory again: every file is skipped and no row changes.
CREATE TEMP TABLE before AS SELECT * FROM public.vs_its_hourly;
SELECT files_seen, files_loaded, files_skipped, rows_read, rows_loaded
  FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '20*_5Min.*');
SELECT count(*) AS changed FROM
  ((SELECT * FROM public.vs_its_hourly EXCEPT ALL SELECT * FROM before)
   UNION ALL (SELECT * FROM before EXCEPT ALL SELECT * FROM public.vs_its_hourly)) d;

-- One file by path, into another table, in another time zone.
SELECT files_seen, files_loaded, rows_loaded
  FROM vs_ingest.vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip',
                                target => 'public.utc_hourly', source_timezone => 'UTC');
SELECT min(hour) AS first_hour FROM public.utc_hourly;

-- A corrupt archive fails alone; the good file beside it loads.
SELECT files_seen, files_loaded, files_failed, rows_loaded > 0 AS loaded_some
  FROM vs_ingest_dir('/tmp/vs_ingest_regress/broken', '*.zip', target => 'public.broken_hourly');
SELECT regexp_replace(path, '.*/', '') AS file, status, error
  FROM vs_ingest.file WHERE path LIKE '/tmp/vs_ingest_regress/broken/%' ORDER BY path;

-- The missing-data report over 2023-01-01..04 (Seoul): the two loaded days, then a day whose
-- file never came. It reads vs_ingest.coverage, which must match a count over the rows.
SET TimeZone = 'Asia/Seoul';
SELECT kind, interval_start, interval_end, intervals, links_expected, links_reported
  FROM vs_ingest_gaps('2023-01-01', '2023-01-04 00:00', min_coverage => 0.5);
SELECT count(*) AS hours, min(links_reported) AS min_links, max(slots_missing) AS max_slots_missing
  FROM vs_ingest_coverage('2023-01-01', '2023-01-03') WHERE links_reported > 0;
SELECT count(*) AS coverage_mismatches FROM (
    SELECT hour, count(*)::int AS links, array[count(speed[1])::int, count(speed[2])::int, count(speed[3])::int,
           count(speed[4])::int, count(speed[5])::int, count(speed[6])::int, count(speed[7])::int,
           count(speed[8])::int, count(speed[9])::int, count(speed[10])::int, count(speed[11])::int,
           count(speed[12])::int] AS slot_links
      FROM public.vs_its_hourly GROUP BY hour
    EXCEPT SELECT hour, links, slot_links FROM vs_ingest.coverage WHERE target = 'public.vs_its_hourly') d;
RESET TimeZone;
