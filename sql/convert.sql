-- A table of vs_ingest 0.1.0 (one row per link and hour) converted into the current layout: the
-- same rows through the hourly view, the ledger and coverage kept, the old table kept aside.
SET client_min_messages = warning;
CREATE TABLE public.old_hourly (
    hour        timestamptz NOT NULL,
    link_id     bigint      NOT NULL,
    speed       real[]      NOT NULL CHECK (cardinality(speed) = 12),
    travel_time int[]       NOT NULL CHECK (cardinality(travel_time) = 12),
    samples     smallint    NOT NULL CHECK (samples BETWEEN 0 AND 12),
    speed_avg   real,
    speed_min   real,
    speed_max   real,
    PRIMARY KEY (hour, link_id)
) PARTITION BY RANGE (hour);
CREATE TABLE public.old_hourly_p20230101 PARTITION OF public.old_hourly
    FOR VALUES FROM ('2023-01-01 00:00+09') TO ('2023-01-02 00:00+09');
CREATE TABLE public.old_hourly_p20230102 PARTITION OF public.old_hourly
    FOR VALUES FROM ('2023-01-02 00:00+09') TO ('2023-01-03 00:00+09');
INSERT INTO public.old_hourly
SELECT hour, link_id, speed, travel_time, samples, speed_avg, speed_min, speed_max
  FROM public.vs_its_hourly WHERE local_day IN ('2023-01-01', '2023-01-02');
-- Coverage as an upgraded 0.1.0 keeps it (here: copied from the loaded target), by the old
-- table's oid (the superuser running this may write the catalog; no other role may).
INSERT INTO vs_ingest.coverage (target_oid, target, hour, links, slot_links)
SELECT 'public.old_hourly'::regclass, 'public.old_hourly', hour, links, slot_links
  FROM vs_ingest.coverage WHERE target_oid = 'public.vs_its_hourly'::regclass AND hour < '2023-01-03 00:00+09';
-- A load refuses the old layout and names the conversion.
SELECT regress_try($$SELECT * FROM vs_ingest_file('/tmp/vs_ingest_regress/data/20230101_5Min.zip', target => 'public.old_hourly')$$);
SELECT vs_ingest_convert_target('public.old_hourly') AS hourly_rows_converted;
SELECT relname, relkind FROM pg_class WHERE relname ~ '^old_(hourly|5min)' AND relkind IN ('v', 'p') ORDER BY 1;
-- The view shows exactly the old rows.
SELECT count(*) AS differences FROM
  ((SELECT hour, link_id, speed, travel_time, samples, speed_avg, speed_min, speed_max FROM public.old_hourly
    EXCEPT ALL SELECT * FROM public.old_hourly_v0_1)
   UNION ALL (SELECT * FROM public.old_hourly_v0_1 EXCEPT ALL
              SELECT hour, link_id, speed, travel_time, samples, speed_avg, speed_min, speed_max FROM public.old_hourly)) d;
-- Its coverage moved with it, and loading the same files into it changes nothing.
SELECT count(*) AS hours_covered FROM vs_ingest.coverage WHERE target_oid = 'public.old_hourly'::regclass;
CREATE TEMP TABLE converted AS SELECT * FROM public.old_hourly;
SELECT files_loaded, rows_loaded, rows_duplicate
  FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '2023010[12]_5Min.*', target => 'public.old_hourly');
SELECT count(*) AS changed FROM
  ((SELECT * FROM public.old_hourly EXCEPT ALL SELECT * FROM converted)
   UNION ALL (SELECT * FROM converted EXCEPT ALL SELECT * FROM public.old_hourly)) d;
-- A speed finer than a tenth cannot be stored: the conversion refuses, and changes nothing.
CREATE TABLE public.fine_hourly (LIKE public.old_hourly_v0_1 INCLUDING ALL) PARTITION BY RANGE (hour);
CREATE TABLE public.fine_hourly_p PARTITION OF public.fine_hourly FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
INSERT INTO public.fine_hourly VALUES ('2023-01-01 00:00+09', 1, '{25.25,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL}',
    array_fill(NULL::int, ARRAY[12]), 1, 25.25, 25.25, 25.25);
SELECT regress_try($$SELECT vs_ingest_convert_target('public.fine_hourly')$$);
SELECT to_regclass('public.fine_hourly')::text AS still_there, to_regclass('public.fine_hourly_blocks') AS no_storage;
SELECT regress_try($$SELECT vs_ingest_convert_target('public.vs_its_hourly')$$);
DROP TABLE public.fine_hourly, public.old_hourly_v0_1, public.old_hourly_blocks CASCADE;
