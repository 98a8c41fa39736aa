-- The PostgreSQL-native way to load one day, step 0 (not timed): an UNLOGGED staging table for
-- the CSV lines and an empty hourly table, the first release's definition of vs_ingest's table.
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
-- The first release's hourly table, which is what a native load would write: one row per link
-- and hour, partitioned by day, key (hour, link_id).
CREATE TABLE public.native_hourly (
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
SELECT format('CREATE TABLE public.native_hourly_day PARTITION OF public.native_hourly FOR VALUES FROM (%L) TO (%L)',
              (:'date'::date)::timestamp AT TIME ZONE :'tz', (:'date'::date + 1)::timestamp AT TIME ZONE :'tz') \gexec
