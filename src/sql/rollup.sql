-- Daily rollups of a target: `<target>_days`, one row per link and local day with the day's
-- sample count, sum (tenths of km/h), minimum and maximum and, per local hour, the sample count and
-- sum, partitioned by local day like the storage; and the view `vs_its_daily` (`<target>_daily`
-- for other targets) that shows them in km/h. The load writes a day's rollups in the transaction
-- that writes the day's rows (src/write/rollup.rs), so they always equal the stored samples.

-- Whether `rel` has exactly the rollup table's columns, in order (rows are COPYed by position),
-- compared by type oid, as has_block_shape does.
CREATE FUNCTION vs_ingest.has_days_shape(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum)
                        = ARRAY['link_id', 'day', 'samples', 'speed_sum', 'speed_min', 'speed_max',
                                'hour_samples', 'hour_speed_sum']
                    AND array_agg(a.atttypid ORDER BY a.attnum)
                        = ARRAY['int8'::regtype, 'date'::regtype, 'int2'::regtype, 'int4'::regtype, 'int2'::regtype,
                                'int2'::regtype, '_int2'::regtype, '_int4'::regtype]::oid[]
                    AND bool_and(a.attgenerated = ''), false)
      FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- The name of a target's daily view (unqualified): `_hourly` becomes `_daily`, else `_daily` is
-- appended, cut within 63 bytes.
CREATE FUNCTION vs_ingest.daily_view_name(target regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN c.relname ~ '_hourly$' THEN regexp_replace(c.relname, '_hourly$', '_daily')
                ELSE vs_ingest.derived_name(c.relname, '_daily') END
      FROM pg_class c WHERE c.oid = target
$$;

-- The rollup table of a target's storage, found by its name beside the storage and checked: a
-- partitioned table of the rollup shape owned by the storage's owner, with no code of another
-- role on it or its partitions. NULL when there is none.
CREATE FUNCTION vs_ingest.rollup_of(target regclass, storage regclass) RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nsp name;
    rel name;
    owner oid;
    days regclass;
    part regclass;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = target;
    owner := (SELECT c.relowner FROM pg_class c WHERE c.oid = storage);
    days := to_regclass(format('%I.%I', nsp, vs_ingest.derived_name(rel, '_days')));
    IF days IS NULL THEN
        RETURN NULL;
    END IF;
    IF NOT (vs_ingest.has_days_shape(days) AND EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = days)) THEN
        RAISE EXCEPTION 'cannot use % as the daily rollups of %: it is not a vs_ingest rollup table', days, target
            USING ERRCODE = 'duplicate_table', HINT = 'Drop or rename that relation: vs_ingest creates the rollup table itself.';
    END IF;
    PERFORM vs_ingest.check_part_owner(days, owner, 'rollup table', target::text, true);
    PERFORM vs_ingest.check_code_on(days);
    FOR part IN SELECT p.part FROM vs_ingest.day_partitions(days) p LOOP
        PERFORM vs_ingest.check_part_owner(part, owner, 'partition', days::text, false);
        PERFORM vs_ingest.check_code_on(part);
    END LOOP;
    RETURN days;
END
$$;

-- The rollup table and daily view of a target, created if missing (as the storage's owner's):
-- a new rollup table is filled from the rows stored, day by day. Returns the rollup table.
CREATE FUNCTION vs_ingest.ensure_rollups(target regclass, storage regclass) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nsp name;
    rel name;
    owner oid;
    days regclass;
    daily text;
    days_rel text;
    part record;
    citus_ddl text;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = target;
    owner := (SELECT c.relowner FROM pg_class c WHERE c.oid = storage);
    days := vs_ingest.rollup_of(target, storage);
    daily := vs_ingest.daily_view_name(target);
    IF days IS NULL THEN
        IF to_regclass(format('%I.%I', nsp, daily)) IS NOT NULL THEN
            RAISE EXCEPTION 'cannot create the daily view of %: % exists', target, format('%I.%I', nsp, daily)
                USING ERRCODE = 'duplicate_table',
                      DETAIL = 'vs_ingest names a target''s daily view after the target, and never takes over a relation.',
                      HINT = 'Drop or rename that relation, or use another target name.';
        END IF;
        days_rel := vs_ingest.derived_name(rel, '_days');
        EXECUTE format($ddl$
            CREATE TABLE %I.%I (
                link_id        bigint     NOT NULL,
                day            date       NOT NULL,
                samples        smallint   NOT NULL CHECK (samples BETWEEN 1 AND 288),
                speed_sum      integer    NOT NULL,
                speed_min      smallint   NOT NULL,
                speed_max      smallint   NOT NULL,
                hour_samples   smallint[] NOT NULL CHECK (cardinality(hour_samples) = 24),
                hour_speed_sum integer[]  NOT NULL CHECK (cardinality(hour_speed_sum) = 24),
                PRIMARY KEY (day, link_id)
            ) PARTITION BY RANGE (day)$ddl$, nsp, days_rel);
        days := format('%I.%I', nsp, days_rel)::regclass;
        EXECUTE format('CREATE INDEX ON %s (link_id)', days);
        EXECUTE format($c$COMMENT ON TABLE %s IS %L$c$, days,
            'Daily rollups of ' || target::text || ' kept by vs_ingest in the transaction of each load: one row per link '
            'and local day; speeds in tenths of km/h; element h + 1 of the hour arrays is local hour h. '
            'Query it through the view ' || format('%I.%I', nsp, daily) || '.');
        IF owner <> (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
            EXECUTE format('ALTER TABLE %s OWNER TO %I', days, pg_get_userbyid(owner));
        END IF;
    END IF;
    -- The rollups are of one storage table, named by its oid in a constraint: a storage dropped
    -- (DROP TABLE ... CASCADE takes the views, not the rollups) and made again under the same name
    -- finds rollups of rows that are gone, which are rebuilt from the new one's.
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = days AND conname = 'vs_ingest_rollups_of_' || storage::oid) THEN
        EXECUTE format('TRUNCATE %s', days);
        FOR part IN SELECT c.conname FROM pg_constraint c WHERE c.conrelid = days AND c.conname LIKE 'vs_ingest_rollups_of_%' LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', days, part.conname);
        END LOOP;
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (true)', days, 'vs_ingest_rollups_of_' || storage::oid);
        -- Dropping the storage drops its rollups (an automatic dependency, as an index has).
        PERFORM vs_ingest.link_rollups(days, storage);
        FOR part IN SELECT p.lo FROM vs_ingest.day_partitions(storage) p ORDER BY p.lo LOOP
            PERFORM vs_ingest.ensure_day_partition(days, part.lo);
            PERFORM vs_ingest.rebuild_days(storage, days, part.lo, NULL);
        END LOOP;
    END IF;
    IF to_regclass(format('%I.%I', nsp, daily)) IS NULL THEN
        citus_ddl := current_setting('citus.enable_ddl_propagation', true);
        IF citus_ddl IS NOT NULL THEN
            PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
        END IF;
        EXECUTE format($view$
            CREATE VIEW %I.%I AS
            SELECT d.link_id,
                   d.day AS local_day,
                   d.samples,
                   d.speed_sum / (10.0::float8 * d.samples) AS speed_avg,
                   d.speed_min::real / 10::real AS speed_min,
                   d.speed_max::real / 10::real AS speed_max,
                   d.hour_samples,
                   d.hour_speed_sum AS hour_speed_tenths
              FROM %s d$view$, nsp, daily, days);
        EXECUTE format($c$COMMENT ON VIEW %I.%I IS %L$c$, nsp, daily,
            'Daily link speeds of ' || target::text || ', kept exact by every load: one row per link and local day with a '
            'sample; hour_samples[h + 1] and hour_speed_tenths[h + 1] (the sum of its speeds, in tenths of km/h) are '
            'local hour h.');
        IF owner <> (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
            EXECUTE format('ALTER VIEW %I.%I OWNER TO %I', nsp, daily, pg_get_userbyid(owner));
        END IF;
        IF citus_ddl IS NOT NULL THEN
            PERFORM set_config('citus.enable_ddl_propagation', citus_ddl, true);
        END IF;
    END IF;
    RETURN days;
END
$$;

-- Drops a target's rollup table and its daily view (a target being distributed keeps none). Views
-- of users over them are not dropped with them: the DROP fails and names them.
CREATE FUNCTION vs_ingest.drop_rollups(target regclass, storage regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    days regclass := vs_ingest.rollup_of(target, storage);
    daily regclass;
BEGIN
    IF days IS NULL THEN
        RETURN;
    END IF;
    RAISE NOTICE 'dropping the daily rollups of %: a distributed target keeps none', target;
    -- The daily view: the view under the name vs_ingest gives it that reads the rollup table and
    -- belongs to their owner (a view of another role is not dropped: the DROP TABLE then fails
    -- and names it).
    daily := to_regclass(format('%I.%I', (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                           WHERE c.oid = target), vs_ingest.daily_view_name(target)));
    IF daily IS NOT NULL AND NOT (
           (SELECT c.relowner FROM pg_class c WHERE c.oid = daily) = (SELECT c.relowner FROM pg_class c WHERE c.oid = days)
           AND EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                        WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = days AND r.ev_class = daily)) THEN
        daily := NULL;
    END IF;
    IF daily IS NOT NULL THEN
        EXECUTE format('DROP VIEW %s', daily);
    END IF;
    EXECUTE format('DROP TABLE %s', days);
END
$$;
