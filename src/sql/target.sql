-- The hourly data table and its daily partitions. The table is created on first use by the
-- loading role and is not an extension member: DROP EXTENSION never drops loaded data.
-- Like every function of the extension, these run with a fixed search_path, so no function or
-- operator of another role can stand in for a built-in (they run as the loading role, which may
-- be a superuser or the scheduler acting for a source's owner).

-- Creates the hourly table named `target` unless it exists; returns it.
CREATE FUNCTION vs_ingest.ensure_hourly_table(target text) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parts text[] := parse_ident(target);
    qualified text;
    existing regclass;
    shape text[];
    distributed boolean;
BEGIN
    IF cardinality(parts) NOT IN (1, 2) THEN
        RAISE EXCEPTION 'invalid target table name "%"', target
            USING ERRCODE = 'invalid_name', HINT = 'Give a table name, optionally schema-qualified.';
    END IF;
    existing := to_regclass(target);
    IF existing IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = existing) THEN
            RAISE EXCEPTION '% is not a partitioned table', existing
                USING ERRCODE = 'wrong_object_type',
                      HINT = 'vs_ingest writes into a table it created: pick another target name.';
        END IF;
        -- Rows are written by position: the columns must be exactly these, in this order.
        shape := (SELECT array_agg(a.attname::text || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
                    FROM pg_attribute a WHERE a.attrelid = existing AND a.attnum > 0 AND NOT a.attisdropped);
        IF shape IS DISTINCT FROM ARRAY['hour timestamp with time zone', 'link_id bigint', 'speed real[]',
                                        'travel_time integer[]', 'samples smallint', 'speed_avg real',
                                        'speed_min real', 'speed_max real'] THEN
            RAISE EXCEPTION 'table % does not have the columns of a vs_ingest hourly table', existing
                USING ERRCODE = 'wrong_object_type',
                      DETAIL = format('Its columns are: %s.', array_to_string(shape, ', ')),
                      HINT = 'vs_ingest writes into a table it created: pick another target name.';
        END IF;
        -- COPY into a Citus-distributed table from here would only fill the coordinator's shell.
        IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
            EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
               INTO distributed USING existing;
            IF distributed THEN
                RAISE EXCEPTION 'table % is distributed by Citus, which vs_ingest cannot load into yet', existing
                    USING ERRCODE = 'feature_not_supported',
                          HINT = 'Load into a local table, then copy it into the distributed one.';
            END IF;
        END IF;
        RETURN existing;
    END IF;
    qualified := CASE cardinality(parts) WHEN 1 THEN format('%I', parts[1]) ELSE format('%I.%I', parts[1], parts[2]) END;
    EXECUTE format($ddl$
        CREATE TABLE %s (
            hour        timestamptz NOT NULL,
            link_id     bigint      NOT NULL,
            speed       real[]      NOT NULL CHECK (cardinality(speed) = 12),
            travel_time int[]       NOT NULL CHECK (cardinality(travel_time) = 12),
            samples     smallint    NOT NULL CHECK (samples BETWEEN 0 AND 12),
            speed_avg   real,
            speed_min   real,
            speed_max   real,
            -- (hour, link_id): each hour's rows append at the index's right edge; with
            -- (link_id, hour) every hour's rows land all across it (1.35-1.4x slower COPY, see README).
            PRIMARY KEY (hour, link_id)
        ) PARTITION BY RANGE (hour)$ddl$, qualified);
    EXECUTE format($c$COMMENT ON TABLE %s IS %L$c$, qualified,
        'Hourly link speeds loaded by vs_ingest: twelve 5-minute slots per row (slot i = minutes 5i..5i+4).');
    RETURN to_regclass(qualified);
END
$$;

-- Creates the partition of `target` for the local day `day` in time zone `tz` unless one exists;
-- returns the day's bounds as epoch microseconds of each local hour 00..24 (25 values; hour 24
-- is the next midnight), which the writer uses to stamp rows.
CREATE FUNCTION vs_ingest.ensure_day_partition(target regclass, day date, tz text) RETURNS bigint[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    hours bigint[];
    lo timestamptz := (day::timestamp) AT TIME ZONE tz;
    hi timestamptz := ((day + 1)::timestamp) AT TIME ZONE tz;
    nsp name;
    rel name;
BEGIN
    SELECT array_agg((extract(epoch FROM ((day::timestamp + make_interval(hours => h)) AT TIME ZONE tz))
                      * 1000000)::bigint ORDER BY h)
      INTO hours FROM generate_series(0, 24) AS h;
    SELECT n.nspname, c.relname INTO nsp, rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
    -- Serialise partition creation per table across sessions.
    PERFORM pg_advisory_xact_lock(hashtext('vs_ingest.partition'), hashtext(target::text));
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                   nsp, left(rel, 53) || '_p' || to_char(day, 'YYYYMMDD'), target, lo, hi);
    RETURN hours;
END
$$;

-- Merges the staged rows `stage` into `target`: a slot already filled keeps its sample (first
-- sample wins). Returns the staged samples that were duplicates and the rows inserted or changed.
CREATE FUNCTION vs_ingest.merge_staged(target regclass, stage regclass, OUT duplicate bigint, OUT rows_written bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format($merge$
        WITH existing AS (
            SELECT coalesce(sum(s.samples - vs_ingest.slots_to_fill(t.speed, s.speed)), 0)::bigint AS duplicate
              FROM %2$s s JOIN %1$s t ON t.link_id = s.link_id AND t.hour = s.hour
        ), merged AS (
            INSERT INTO %1$s AS t SELECT * FROM %2$s
            ON CONFLICT (hour, link_id) DO UPDATE SET
                speed = vs_ingest.merge_speed(t.speed, excluded.speed),
                travel_time = vs_ingest.merge_travel_time(t.speed, t.travel_time, excluded.speed, excluded.travel_time),
                (samples, speed_avg, speed_min, speed_max) = (
                    SELECT count(x)::smallint, avg(x)::real, min(x), max(x)
                      FROM unnest(vs_ingest.merge_speed(t.speed, excluded.speed)) AS x)
            WHERE vs_ingest.slots_to_fill(t.speed, excluded.speed) > 0
            RETURNING 1
        )
        SELECT (SELECT duplicate FROM existing), (SELECT count(*) FROM merged)$merge$, target, stage)
    INTO duplicate, rows_written;
END
$$;
