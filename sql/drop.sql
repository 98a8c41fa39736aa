-- DROP EXTENSION never drops loaded data; a reinstalled extension merges into it exactly.
SET client_min_messages = warning;
CREATE TEMP TABLE kept AS SELECT * FROM public.vs_its_hourly;
DROP EXTENSION vs_ingest;
SELECT count(*) = (SELECT count(*) FROM kept) AS data_kept FROM public.vs_its_hourly;
SELECT to_regclass('vs_ingest.run') AS catalog_after_drop;

CREATE EXTENSION vs_ingest;
-- The ledger is new, so the files load again: every sample is a duplicate, nothing changes.
SELECT files_loaded, rows_loaded, rows_duplicate
  FROM vs_ingest_dir('/tmp/vs_ingest_regress/data', '20*_5Min.*');
SELECT count(*) AS changed FROM
  ((SELECT * FROM public.vs_its_hourly EXCEPT ALL SELECT * FROM kept)
   UNION ALL (SELECT * FROM kept EXCEPT ALL SELECT * FROM public.vs_its_hourly)) d;
