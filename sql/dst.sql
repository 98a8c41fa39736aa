-- Daylight saving (issue 17, item 4). New York's two changes of 2023, loaded into a target of that
-- zone and compared with what plain COPY and SQL say the views must show. A local time that does
-- not exist (2023-03-12 02:00-02:55: clocks go from 02:00 to 03:00) is rejected as
-- nonexistent_time. The hour that comes twice (2023-11-05 01:00-01:55: clocks go back from 02:00
-- to 01:00) is one local hour: the first sample of each slot wins, and the views show it once, at
-- the instant PostgreSQL gives `local_time AT TIME ZONE tz` (the second, standard-time one).
SET client_min_messages = warning;
SET TimeZone = 'UTC';

-- The nonexistent local slots of a zone, 1970-2100 (what a load hands the parser), against a check
-- of every 5-minute slot of 2023 and of 2011.
SELECT regress_try($$SELECT vs_ingest.local_time_gaps('Mars/Olympus')$$);
SELECT regress_try($$SELECT vs_ingest.local_time_gaps('America/New_York''; SELECT 1; --')$$);
SELECT z AS time_zone,
       (SELECT count(*) FROM vs_ingest.local_time_gaps(z)) AS slots_1970_2100,
       (SELECT string_agg(to_char(t, 'YYYY-MM-DD HH24:MI'), ' ' ORDER BY t)
          FROM vs_ingest.local_time_gaps(z) t
         WHERE t >= '2023-01-01' AND t < '2024-01-01' AND date_part('minute', t)::int IN (0, 25, 55)) AS some_of_2023,
       (SELECT count(*) FROM
          ((SELECT t FROM vs_ingest.local_time_gaps(z) t WHERE t >= '2011-01-01' AND t < '2012-01-01'
                                                            OR t >= '2023-01-01' AND t < '2024-01-01'
            EXCEPT ALL
            SELECT t FROM generate_series(timestamp '2011-01-01', '2011-12-31 23:55', '5 minutes') t
             WHERE (t AT TIME ZONE z) AT TIME ZONE z <> t
            EXCEPT ALL
            SELECT t FROM generate_series(timestamp '2023-01-01', '2023-12-31 23:55', '5 minutes') t
             WHERE (t AT TIME ZONE z) AT TIME ZONE z <> t)
           UNION ALL
           (SELECT t FROM generate_series(timestamp '2011-01-01', '2011-12-31 23:55', '5 minutes') t
             WHERE (t AT TIME ZONE z) AT TIME ZONE z <> t
            UNION ALL
            SELECT t FROM generate_series(timestamp '2023-01-01', '2023-12-31 23:55', '5 minutes') t
             WHERE (t AT TIME ZONE z) AT TIME ZONE z <> t
            EXCEPT ALL
            SELECT t FROM vs_ingest.local_time_gaps(z) t)) d) AS mismatches
  FROM unnest(ARRAY['America/New_York', 'Australia/Lord_Howe', 'Pacific/Apia', 'Asia/Seoul', 'UTC']) AS z;
-- Pacific/Apia skipped a whole day.
SELECT t::date AS day, count(*) AS slots FROM vs_ingest.local_time_gaps('Pacific/Apia') t
 WHERE t >= '2011-12-29' AND t < '2012-01-01' GROUP BY 1;
-- The instants PostgreSQL gives the local times around both changes.
SELECT lt AS local_time, lt AT TIME ZONE 'America/New_York' AS instant
  FROM unnest(ARRAY[timestamp '2023-03-12 01:55', '2023-03-12 02:00', '2023-03-12 03:00',
                    '2023-11-05 00:55', '2023-11-05 01:00', '2023-11-05 01:55', '2023-11-05 02:00']) AS lt;

-- The files, read by plain COPY: every line, numbered within its file.
CREATE TEMP TABLE raw (n bigserial, file text, line text);
COPY raw (line) FROM '/tmp/vs_ingest_regress/dst/20230312_5Min.csv' WITH (FORMAT text, DELIMITER E'\x01');
UPDATE raw SET file = '20230312_5Min.csv' WHERE file IS NULL;
COPY raw (line) FROM '/tmp/vs_ingest_regress/dst/20231105_5Min.csv' WITH (FORMAT text, DELIMITER E'\x01');
UPDATE raw SET file = '20231105_5Min.csv' WHERE file IS NULL;
CREATE TEMP VIEW lines AS
SELECT file, n - min(n) OVER (PARTITION BY file) + 1 AS line, line AS raw,
       f[3]::bigint AS link, f[5] AS speed, f[6] AS tt,
       to_timestamp(f[1] || f[2], 'YYYYMMDDHH24MI')::timestamp AS lt,
       -- Written out by hand: the hour New York skipped in 2023.
       f[1] = '20230312' AND f[2] BETWEEN '0200' AND '0255' AS nonexistent
  FROM (SELECT n, file, line, string_to_array(line, ',') AS f FROM raw) r;
-- The samples the views must show: valid, at a local time that exists, with a speed, and the
-- first of their link and slot.
CREATE TEMP VIEW want_5min AS
SELECT lt AT TIME ZONE 'America/New_York' AS ts, link AS link_id, speed::real AS speed,
       nullif(tt::int, 0) AS travel_time, lt::date AS local_day, lt AS local_time
  FROM (SELECT l.*, row_number() OVER (PARTITION BY link, lt ORDER BY file, line) AS nth
          FROM lines l WHERE NOT nonexistent AND speed <> '') s
 WHERE nth = 1;
CREATE TEMP VIEW want_hourly AS
SELECT date_trunc('hour', local_time) AT TIME ZONE 'America/New_York' AS hour, link_id,
       array_agg(speed ORDER BY slot) AS speed, array_agg(travel_time ORDER BY slot) AS travel_time,
       count(speed)::smallint AS samples, avg(speed)::real AS speed_avg, min(speed) AS speed_min,
       max(speed) AS speed_max, local_day, date_part('hour', local_time)::int AS local_hour
  FROM (SELECT k.h + s * interval '5 minutes' AS local_time, k.link_id, s AS slot, w.speed, w.travel_time,
               k.h::date AS local_day
          FROM (SELECT DISTINCT link_id, date_trunc('hour', local_time) AS h FROM want_5min) k
         CROSS JOIN generate_series(0, 11) AS s
          LEFT JOIN want_5min w ON w.link_id = k.link_id AND w.local_time = k.h + s * interval '5 minutes') g
  GROUP BY 1, 2, local_day, 10 ORDER BY 1, 2;
SELECT count(*) AS lines, count(*) FILTER (WHERE nonexistent) AS nonexistent,
       count(*) FILTER (WHERE NOT nonexistent AND speed = '') AS missing,
       (SELECT count(*) FROM want_5min) AS samples_shown,
       count(*) FILTER (WHERE NOT nonexistent AND speed <> '') - (SELECT count(*) FROM want_5min) AS duplicates
  FROM lines;

-- The load. The skipped hour is 1/24 of the spring day's rows (4.2 %): with the default
-- max_reject_ratio (1 %) that file would fail (its committed rows stay).
SELECT vs_ingest_create_target('public.ny_hourly', 'America/New_York') AS target;
SELECT files_seen, files_loaded, files_failed, rows_read, rows_loaded, rows_duplicate, rows_rejected
  FROM vs_ingest_dir('/tmp/vs_ingest_regress/dst', '*_5Min.csv', target => 'public.ny_hourly',
                     source_timezone => 'America/New_York', max_reject_ratio => 0.05);
SELECT regexp_replace(path, '.*/', '') AS file, status, rows_read, rows_loaded, rows_duplicate, rows_missing, rows_rejected
  FROM vs_ingest.file WHERE path LIKE '/tmp/vs_ingest_regress/dst/%' ORDER BY path;

-- The counters are those of the computation, per file, and every sample counted as loaded is shown.
SELECT count(*) AS counter_mismatches
  FROM vs_ingest.file f
  JOIN (SELECT file, count(*) AS rows_read,
               count(*) FILTER (WHERE nonexistent) AS rows_rejected,
               count(*) FILTER (WHERE NOT nonexistent AND speed = '') AS rows_missing,
               count(*) FILTER (WHERE NOT nonexistent AND speed <> '') AS with_speed
          FROM lines GROUP BY file) l ON f.path = '/tmp/vs_ingest_regress/dst/' || l.file
  LEFT JOIN (SELECT to_char(local_day, 'YYYYMMDD') || '_5Min.csv' AS file, count(*) AS shown
               FROM want_5min GROUP BY 1) w ON w.file = l.file
 WHERE (f.rows_read, f.rows_rejected, f.rows_missing, f.rows_loaded, f.rows_duplicate)
       IS DISTINCT FROM (l.rows_read, l.rows_rejected, l.rows_missing, w.shown, l.with_speed - w.shown);
SELECT (SELECT sum(rows_loaded) FROM vs_ingest.file WHERE path LIKE '/tmp/vs_ingest_regress/dst/%') AS rows_loaded,
       (SELECT count(*) FROM public.ny_5min) AS five_min_rows,
       (SELECT sum(samples) FROM public.ny_hourly) AS hourly_samples;

-- The rejects are exactly the lines of the hour that does not exist, with their raw text.
SELECT count(*) AS rejects, min(r.line) AS first_line, max(r.line) AS last_line, min(r.raw) AS first_raw
  FROM vs_ingest.reject r JOIN vs_ingest.file f USING (file_id)
 WHERE f.path LIKE '/tmp/vs_ingest_regress/dst/%' AND r.reason = 'nonexistent_time';
SELECT count(*) AS reject_mismatches FROM
  ((SELECT regexp_replace(f.path, '.*/', ''), r.line, r.reason, r.raw
      FROM vs_ingest.reject r JOIN vs_ingest.file f USING (file_id) WHERE f.path LIKE '/tmp/vs_ingest_regress/dst/%'
    EXCEPT ALL SELECT file, line, 'nonexistent_time', raw FROM lines WHERE nonexistent)
   UNION ALL
   (SELECT file, line, 'nonexistent_time', raw FROM lines WHERE nonexistent
    EXCEPT ALL SELECT regexp_replace(f.path, '.*/', ''), r.line, r.reason, r.raw
      FROM vs_ingest.reject r JOIN vs_ingest.file f USING (file_id) WHERE f.path LIKE '/tmp/vs_ingest_regress/dst/%')) d;

-- The views hold exactly the computed rows.
SELECT count(*) AS five_min_mismatches FROM
  ((SELECT * FROM public.ny_5min EXCEPT ALL SELECT * FROM want_5min)
   UNION ALL (SELECT * FROM want_5min EXCEPT ALL SELECT * FROM public.ny_5min)) d;
SELECT count(*) AS hourly_mismatches FROM
  ((SELECT * FROM public.ny_hourly EXCEPT ALL SELECT * FROM want_hourly)
   UNION ALL (SELECT * FROM want_hourly EXCEPT ALL SELECT * FROM public.ny_hourly)) d;

-- What that looks like: 23 local hours on 2023-03-12 (no 02), 24 on 2023-11-05, where 01 is
-- shown once, at 06:00 UTC (01:00 EST, the second 01:00), with the first occurrence's speeds
-- (link 1000000003's 01:30 was empty the first time, so the second time's speed fills it).
SELECT local_day, count(DISTINCT local_hour) AS local_hours, count(DISTINCT hour) AS instants,
       string_agg(DISTINCT local_hour::text, ',') FILTER (WHERE local_hour BETWEEN 0 AND 4) AS early_hours
  FROM public.ny_hourly GROUP BY 1 ORDER BY 1;
SELECT hour, local_hour, link_id, speed[1:7] AS speed_0_30
  FROM public.ny_hourly WHERE local_day = '2023-11-05' AND local_hour BETWEEN 0 AND 2 ORDER BY hour, link_id;
SELECT local_time, ts, link_id, speed FROM public.ny_5min
 WHERE local_time IN ('2023-03-12 01:55', '2023-03-12 03:00', '2023-11-05 01:30') ORDER BY ts, link_id;
