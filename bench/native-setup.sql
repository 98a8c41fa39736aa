-- The PostgreSQL-native way to load one day, step 0 (not timed): an UNLOGGED staging table for
-- the CSV lines and an empty hourly table with exactly vs_ingest's definition (made by the
-- extension's own function, so columns, CHECKs, primary key and daily partitions are the same).
--   psql -v date=2023-07-01 -v tz=Asia/Seoul -f bench/native-setup.sql
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS native_staging, public.native_hourly;
CREATE UNLOGGED TABLE native_staging (
    line        bigint GENERATED ALWAYS AS IDENTITY,   -- file order, for "the first sample wins"
    d           date,
    t           int,
    link_id     bigint,
    agency      text,
    speed       real,
    travel_time int
);
SELECT vs_ingest.ensure_hourly_table('public.native_hourly') IS NOT NULL AS created;
SELECT vs_ingest.ensure_day_partition('public.native_hourly', :'date'::date, :'tz') IS NOT NULL AS partitioned;
