-- The PostgreSQL-native way, step 1 (timed): COPY the day's CSV into the staging table.
--   psql -v program="unzip -p FILE | LC_ALL=C grep -E '...'" -f bench/native-copy.sql
-- PostgreSQL 15's COPY stops at the first bad line (it has no ON_ERROR), and the national files
-- have a few, so the program drops every line that is not a well-formed row of the file's day
-- (the same checks as vs_ingest's rejects, stray dates included). LC_ALL=C keeps grep fast: in a
-- UTF-8 locale it is 30x slower.
\set ON_ERROR_STOP on
COPY native_staging (d, t, link_id, agency, speed, travel_time) FROM PROGRAM :'program' WITH (FORMAT csv);
