-- Creating the extension, and a helper the other scripts use to show an error's SQLSTATE,
-- message and hint without the parts that change from run to run.
CREATE EXTENSION vs_ingest;
\dx vs_ingest
SELECT n.nspname, p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proname IN ('vs_ingest_dir', 'vs_ingest_file') ORDER BY 1, 2;
SELECT table_name FROM information_schema.tables WHERE table_schema = 'vs_ingest' ORDER BY 1;

CREATE FUNCTION regress_try(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; message text; hint text;
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN state || ': ' || message || coalesce(E'\nHINT: ' || nullif(hint, ''), '');
END
$$;

-- Every setting, with its value and source; reading it loads the library (so ALTER SYSTEM can set
-- them in this session).
SELECT name, setting, source, context FROM vs_ingest.settings ORDER BY name;
