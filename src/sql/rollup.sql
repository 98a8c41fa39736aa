-- Daily rollups of a target: `<target>_days`, one row per link and local day with the day's
-- sample count, sum (tenths of km/h), minimum and maximum and, per local hour, the sample count and
-- sum, and the longest run of one speed over consecutive slots and the largest change between
-- consecutive slots, partitioned by local day like the storage; the view `vs_its_daily`
-- (`<target>_daily` for other targets) that shows them in km/h, and the view `vs_its_quality`
-- (`<target>_quality`) that flags link-days by the `vs_ingest.quality_*` settings. The load
-- writes a day's rollups in the transaction that writes the day's rows (src/write/rollup.rs), so
-- they always equal the stored samples.

-- Whether `rel` has exactly the rollup table's columns, in order (rows are COPYed by position),
-- compared by type oid, as has_block_shape does.
CREATE FUNCTION vs_ingest.has_days_shape(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum)
                        = ARRAY['link_id', 'day', 'samples', 'speed_sum', 'speed_min', 'speed_max',
                                'hour_samples', 'hour_speed_sum', 'longest_run', 'max_jump']
                    AND array_agg(a.atttypid ORDER BY a.attnum)
                        = ARRAY['int8'::regtype, 'date'::regtype, 'int2'::regtype, 'int4'::regtype, 'int2'::regtype,
                                'int2'::regtype, '_int2'::regtype, '_int4'::regtype, 'int2'::regtype,
                                'int2'::regtype]::oid[]
                    AND bool_and(a.attgenerated = ''), false)
      FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- The name of a view of a target's rollups (unqualified), `kind` 'daily' or 'quality':
-- `_hourly` becomes `_daily`, else `_daily` is appended, cut within 63 bytes.
CREATE FUNCTION vs_ingest.rollup_view_name(target regclass, kind text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN c.relname ~ '_hourly$' THEN regexp_replace(c.relname, '_hourly$', '_' || kind)
                ELSE vs_ingest.derived_name(c.relname, '_' || kind) END
      FROM pg_class c WHERE c.oid = target
$$;

-- The view of kind `kind` of a target's rollup table `days`: the view under the name vs_ingest
-- gives it, if it is one that reads the rollup table and belongs to its owner (found by its
-- identity, never taken on its name alone). NULL otherwise.
CREATE FUNCTION vs_ingest.rollup_view(target regclass, days regclass, kind text) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT v.oid::regclass
      FROM pg_class t JOIN pg_class v ON v.relnamespace = t.relnamespace
     WHERE t.oid = target AND v.relname = vs_ingest.rollup_view_name(target, kind) AND v.relkind = 'v'
       AND v.relowner = (SELECT c.relowner FROM pg_class c WHERE c.oid = days)
       AND EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                    WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = days AND r.ev_class = v.oid)
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
    quality text;
    tz text := vs_ingest.time_zone_of(target);
    days_rel text;
    part record;
    citus_ddl text;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = target;
    owner := (SELECT c.relowner FROM pg_class c WHERE c.oid = storage);
    days := vs_ingest.rollup_of(target, storage);
    daily := vs_ingest.rollup_view_name(target, 'daily');
    quality := vs_ingest.rollup_view_name(target, 'quality');
    IF days IS NULL THEN
        IF to_regclass(format('%I.%I', nsp, daily)) IS NOT NULL OR to_regclass(format('%I.%I', nsp, quality)) IS NOT NULL THEN
            RAISE EXCEPTION 'cannot create the daily views of %: % exists', target,
                    format('%I.%I', nsp, CASE WHEN to_regclass(format('%I.%I', nsp, daily)) IS NOT NULL THEN daily ELSE quality END)
                USING ERRCODE = 'duplicate_table',
                      DETAIL = 'vs_ingest names a target''s daily and quality views after the target, and never takes over a relation.',
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
                longest_run    smallint   NOT NULL CHECK (longest_run BETWEEN 1 AND 288),
                max_jump       smallint   NOT NULL CHECK (max_jump >= 0),
                PRIMARY KEY (day, link_id)
            ) PARTITION BY RANGE (day)$ddl$, nsp, days_rel);
        days := format('%I.%I', nsp, days_rel)::regclass;
        EXECUTE format('CREATE INDEX ON %s (link_id)', days);
        EXECUTE format($c$COMMENT ON TABLE %s IS %L$c$, days,
            'Daily rollups of ' || target::text || ' kept by vs_ingest in the transaction of each load: one row per link '
            'and local day; speeds in tenths of km/h; element h + 1 of the hour arrays is local hour h; longest_run: the '
            'most consecutive 5-minute slots with one speed; max_jump: the largest change between consecutive slots. '
            'Query it through the views ' || format('%I.%I', nsp, daily) || ' and ' || format('%I.%I', nsp, quality) || '.');
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
    -- The views stay local on a Citus node, like the rollups.
    citus_ddl := current_setting('citus.enable_ddl_propagation', true);
    IF citus_ddl IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    END IF;
    IF to_regclass(format('%I.%I', nsp, daily)) IS NULL THEN
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
    END IF;
    IF to_regclass(format('%I.%I', nsp, quality)) IS NULL THEN
        -- Flags are figures against thresholds read when the view is queried
        -- (vs_ingest.quality_thresholds), so changing a setting needs no rebuild.
        EXECUTE format($view$
            CREATE VIEW %I.%I AS
            SELECT d.link_id,
                   d.day AS local_day,
                   d.samples,
                   e.slots AS slots_expected,
                   greatest(1 - d.samples::float8 / e.slots, 0) AS missing_rate,
                   d.longest_run AS longest_same_run,
                   d.max_jump::real / 10::real AS max_jump,
                   d.speed_min::real / 10::real AS speed_min,
                   d.speed_max::real / 10::real AS speed_max,
                   f.stuck, f.all_zero, f.implausible, f.jump, f.missing,
                   f.stuck OR f.all_zero OR f.implausible OR f.jump OR f.missing AS flagged
              FROM %s d
             CROSS JOIN vs_ingest.quality_thresholds() t
             CROSS JOIN LATERAL (
                   SELECT (extract(epoch FROM ((d.day + 1)::timestamp AT TIME ZONE %L) - (d.day::timestamp AT TIME ZONE %L))
                           / 300)::int AS slots) e
             CROSS JOIN LATERAL (
                   SELECT d.longest_run >= t.stuck_slots AS stuck,
                          d.speed_max = 0 AS all_zero,
                          d.speed_max > t.max_speed * 10 AS implausible,
                          d.max_jump > t.max_jump * 10 AS jump,
                          1 - d.samples::float8 / e.slots > t.max_missing_rate AS missing) f$view$,
            nsp, quality, days, tz, tz);
        EXECUTE format($c$COMMENT ON VIEW %I.%I IS %L$c$, nsp, quality,
            'Data quality per link and local day of ' || target::text || ', kept exact by every load; the flags compare '
            'the figures with the vs_ingest.quality_* settings of the session (see vs_ingest.quality_thresholds()).');
        IF owner <> (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
            EXECUTE format('ALTER VIEW %I.%I OWNER TO %I', nsp, quality, pg_get_userbyid(owner));
        END IF;
    END IF;
    IF citus_ddl IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', citus_ddl, true);
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
    kind text;
    view regclass;
BEGIN
    IF days IS NULL THEN
        RETURN;
    END IF;
    RAISE NOTICE 'dropping the daily rollups of %: a distributed target keeps none', target;
    -- Their views, if they are vs_ingest's (a view of another role is not dropped: the DROP
    -- TABLE then fails and names it).
    FOREACH kind IN ARRAY ARRAY['daily', 'quality'] LOOP
        view := vs_ingest.rollup_view(target, days, kind);
        IF view IS NOT NULL THEN
            EXECUTE format('DROP VIEW %s', view);
        END IF;
    END LOOP;
    EXECUTE format('DROP TABLE %s', days);
END
$$;

-- The quality report: each link's days of [since, until) by flag, and its missing-data rate over
-- the period's days (the days with any sample of the target: a day a link lacks counts as wholly
-- missing), worst first. Reads the target's quality view (found by identity: rollup_view) as
-- the caller, who needs SELECT on it as on the target's other views.
CREATE FUNCTION vs_ingest.quality_report(rel regclass, target text, since date, until date, worst int)
RETURNS TABLE (
    link_id bigint, days int, days_flagged int, stuck_days int, zero_days int, implausible_days int,
    jump_days int, missing_days int, missing_rate double precision
) LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    relid regclass := vs_ingest.target_name(coalesce(rel::text, target))::regclass;
    storage regclass := vs_ingest.storage_of(relid);
    days regclass;
    view regclass;
BEGIN
    IF since IS NULL OR until IS NULL OR until <= since THEN
        RAISE EXCEPTION 'invalid day range [%, %)', since, until
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give since < until (local days; until is not included).';
    END IF;
    IF worst IS NULL OR worst < 1 THEN
        RAISE EXCEPTION 'worst must be at least 1, not %', worst
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give how many links to list.';
    END IF;
    IF storage IS NOT NULL THEN
        days := vs_ingest.rollup_of(relid, storage);
    END IF;
    IF days IS NOT NULL THEN
        view := vs_ingest.rollup_view(relid, days, 'quality');
    END IF;
    IF view IS NULL THEN
        RAISE EXCEPTION '% has no quality view', relid
            USING ERRCODE = 'undefined_table',
                  HINT = 'Name the hourly view of a vs_ingest target that keeps daily rollups (a target on one server; '
                         'a distributed target keeps none).';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH q AS (SELECT * FROM %s q WHERE q.local_day >= $1 AND q.local_day < $2),
             period AS (SELECT sum(s.slots)::float8 AS slots
                          FROM (SELECT max(q.slots_expected) AS slots FROM q GROUP BY q.local_day) s)
        SELECT q.link_id, count(*)::int, count(*) FILTER (WHERE q.flagged)::int,
               count(*) FILTER (WHERE q.stuck)::int, count(*) FILTER (WHERE q.all_zero)::int,
               count(*) FILTER (WHERE q.implausible)::int, count(*) FILTER (WHERE q.jump)::int,
               count(*) FILTER (WHERE q.missing)::int,
               1 - sum(q.samples) / (SELECT period.slots FROM period)
          FROM q GROUP BY q.link_id
         ORDER BY 3 DESC, 9 DESC, 1 LIMIT $3$q$, view)
        USING since, until, worst;
END
$$;

CREATE FUNCTION public.vs_ingest_quality(
    since date,
    until date,
    target text DEFAULT 'public.vs_its_hourly',
    worst int DEFAULT 100
) RETURNS TABLE (
    link_id bigint, days int, days_flagged int, stuck_days int, zero_days int, implausible_days int,
    jump_days int, missing_days int, missing_rate double precision
) LANGUAGE sql STABLE
AS $$ SELECT * FROM vs_ingest.quality_report(pg_catalog.to_regclass($3), $3, $1, $2, $4) $$;
