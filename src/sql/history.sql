-- Housekeeping the scheduler does: pruning the job history and partition retention.

-- Deletes the history of runs that finished more than `days` days ago: their runs, files and
-- rejected lines. Kept whatever their age, per file and target: the newest `loaded` row (what
-- tells a load to skip the file, or that it changed) and the newest loaded, changed or failed
-- row (what tells the scheduler the file is settled; a skipped row says no more than the loaded
-- one); unfinished files (their resume offsets and rejects); and superseded files (what tells a
-- plain load to skip content a replacement took out). Returns what was deleted.
CREATE FUNCTION vs_ingest.prune_history(days int, OUT runs bigint, OUT files bigint, OUT rejects bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cutoff timestamptz := clock_timestamp() - make_interval(days => days);
BEGIN
    IF days IS NULL OR days < 0 THEN
        RAISE EXCEPTION 'days must be 0 or more, not %', days
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give how many days of history to keep.';
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS vs_ingest_pruned_files (file_id bigint) ON COMMIT DROP;
    TRUNCATE pg_temp.vs_ingest_pruned_files;
    INSERT INTO pg_temp.vs_ingest_pruned_files
    SELECT f.file_id
      FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
     WHERE r.finished_at < cutoff
       AND f.status NOT IN ('pending', 'loading', 'cancelled', 'superseded')
       AND f.file_id IS DISTINCT FROM (
               SELECT max(k.file_id) FROM vs_ingest.file k JOIN vs_ingest.run kr USING (run_id)
                WHERE k.path = f.path AND kr.target = r.target AND kr.target_oid IS NOT DISTINCT FROM r.target_oid
                  AND k.status = 'loaded')
       AND f.file_id IS DISTINCT FROM (
               SELECT max(k.file_id) FROM vs_ingest.file k JOIN vs_ingest.run kr USING (run_id)
                WHERE k.path = f.path AND kr.target = r.target AND kr.target_oid IS NOT DISTINCT FROM r.target_oid
                  AND k.status IN ('loaded', 'changed', 'failed'));
    DELETE FROM vs_ingest.reject j USING pg_temp.vs_ingest_pruned_files p WHERE j.file_id = p.file_id;
    GET DIAGNOSTICS rejects = ROW_COUNT;
    DELETE FROM vs_ingest.file f USING pg_temp.vs_ingest_pruned_files p WHERE f.file_id = p.file_id;
    GET DIAGNOSTICS files = ROW_COUNT;
    -- Coverage of tables that no longer exist.
    DELETE FROM vs_ingest.coverage c WHERE NOT EXISTS (SELECT 1 FROM pg_class t WHERE t.oid = c.target_oid);
    DELETE FROM vs_ingest.run r
     WHERE r.finished_at < cutoff
       AND NOT EXISTS (SELECT 1 FROM vs_ingest.file f WHERE f.run_id = r.run_id);
    GET DIAGNOSTICS runs = ROW_COUNT;
END
$$;

-- vs_ingest.forget_coverage(table_name, lo, hi), which apply_retention calls, is a Rust function
-- (src/api/retention.rs): it checks that the caller has the privileges of the target's owner, then
-- deletes the stale coverage as the catalog's owner.

-- Detaches or drops the daily partitions of `target`'s storage whose local day ended more than
-- `retain` ago (pg_partman style). Dropping a day also forgets its coverage. Returns the
-- partitions' names.
CREATE FUNCTION vs_ingest.apply_retention(target text, retain interval, action text)
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tname text := vs_ingest.target_name(target);
    storage regclass := vs_ingest.storage_of(to_regclass(target));
    tz text := vs_ingest.time_zone_of(to_regclass(target));
    part record;
    rel_name text;
    days regclass;
    days_part regclass;
BEGIN
    IF action NOT IN ('detach', 'drop') THEN
        RAISE EXCEPTION 'retain_action must be detach or drop, not %', action
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use detach (keep the table) or drop.';
    END IF;
    IF storage IS NULL THEN
        RAISE EXCEPTION '% is not a vs_ingest target', tname
            USING ERRCODE = 'wrong_object_type', HINT = 'Retention applies to targets vs_ingest created.';
    END IF;
    days := vs_ingest.rollup_of(to_regclass(target), storage);
    FOR part IN
        SELECT p.part AS rel, p.lo AS day, p.lo::timestamp AT TIME ZONE tz AS lo, p.hi::timestamp AT TIME ZONE tz AS hi
          FROM vs_ingest.day_partitions(storage) p
         WHERE p.hi::timestamp AT TIME ZONE tz <= clock_timestamp() - retain
         ORDER BY p.lo
    LOOP
        rel_name := part.rel::text;
        -- The day's rollups go with its rows.
        days_part := CASE WHEN days IS NOT NULL THEN vs_ingest.day_partition(days, part.day) END;
        IF action = 'drop' THEN
            EXECUTE format('DROP TABLE %s', part.rel);
            IF days_part IS NOT NULL THEN
                -- The monthly rollups lose the day with the daily ones. (After the storage's
                -- lock, as a load takes the storage's before the month's turn.)
                PERFORM vs_ingest.add_to_months(days, part.day, NULL, -1);
                EXECUTE format('DROP TABLE %s', days_part);
            END IF;
            PERFORM vs_ingest.forget_coverage(tname, part.lo, part.hi);
        ELSE
            EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', storage, part.rel);
            IF days_part IS NOT NULL THEN
                PERFORM vs_ingest.add_to_months(days, part.day, NULL, -1);
                EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', days, days_part);
            END IF;
        END IF;
        RETURN NEXT rel_name;
    END LOOP;
END
$$;
