-- DROP EXTENSION never drops loaded data. The targets' views use the extension's functions and
-- calendar, so a plain DROP EXTENSION refuses while targets exist (as PostGIS does for tables
-- with its types); with CASCADE it drops the views and keeps the storage tables, and a
-- reinstalled extension creates the views again over them and merges into them exactly.
SET client_min_messages = warning;
CREATE TEMP TABLE kept AS SELECT * FROM public.vs_its_hourly;
SELECT count(*) AS storage_rows FROM public.vs_its_hourly_blocks \gset
DO $$
BEGIN
    DROP EXTENSION vs_ingest;
EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE WARNING 'refused: %', sqlerrm;
END
$$;
DROP EXTENSION vs_ingest CASCADE;
SELECT to_regclass('public.vs_its_hourly') AS view_after_drop, to_regclass('vs_ingest.run') AS catalog_after_drop;
SELECT count(*) = :storage_rows AS data_kept FROM public.vs_its_hourly_blocks;

CREATE EXTENSION vs_ingest;
-- The ledger is new, so the files load again: every sample is a duplicate, nothing changes.
SELECT files_loaded, rows_loaded, rows_duplicate
  FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '20*_5Min.*');
SELECT count(*) AS changed FROM
  ((SELECT * FROM public.vs_its_hourly EXCEPT ALL SELECT * FROM kept)
   UNION ALL (SELECT * FROM kept EXCEPT ALL SELECT * FROM public.vs_its_hourly)) d;
