-- Daily rollups of a target: `<target>_days`, one row per link and local day with the day's
-- sample count, sum (tenths of km/h), minimum and maximum and, per local hour, the sample count and
-- sum, and the longest run of one speed over consecutive slots and the largest change between
-- consecutive slots, partitioned by local day like the storage; the view `vs_its_daily`
-- (`<target>_daily` for other targets) that shows them in km/h, and the view `vs_its_quality`
-- (`<target>_quality`) that flags link-days by the `vs_ingest.quality_*` settings. Monthly
-- rollups beside them: `<target>_months`, one row per link, local month and day type with the
-- sums of its daily rows, and the view `vs_its_monthly` (`<target>_monthly`). The load writes a
-- day's rollups, daily and monthly, in the transaction that writes the day's rows
-- (src/write/rollup.rs), so they always equal the stored samples.

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

-- Whether `rel` has exactly the monthly rollup table's columns, in order, compared by type oid.
CREATE FUNCTION vs_ingest.has_months_shape(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum)
                        = ARRAY['link_id', 'month', 'weekend', 'days', 'samples', 'speed_sum',
                                'hour_samples', 'hour_speed_sum']
                    AND array_agg(a.atttypid ORDER BY a.attnum)
                        = ARRAY['int8'::regtype, 'date'::regtype, 'bool'::regtype, 'int2'::regtype, 'int4'::regtype,
                                'int8'::regtype, '_int4'::regtype, '_int4'::regtype]::oid[]
                    AND bool_and(a.attgenerated = ''), false)
      FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- The name of a view of a target's rollups (unqualified), `kind` 'daily', 'quality' or 'monthly':
-- `_hourly` becomes `_<kind>`, else `_<kind>` is appended, cut within 63 bytes.
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

-- The monthly rollup table of a rollup table `days`, found by its identity (the automatic
-- dependency on `days` that link_rollups records, as the rollup table's on the storage) and
-- checked: the monthly shape, the owner of `days`, no code of another role on it. NULL when there
-- is none. On a Citus worker node, which has the coordinator's distributed tables but not its
-- dependencies, the monthly table of a distributed `days` is the one under the name ensure_rollups
-- gave it (derived from `days`'s), checked the same and distributed colocated with `days`.
CREATE FUNCTION vs_ingest.months_of(days regclass) RETURNS regclass
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    months regclass;
    named regclass;
    colocated boolean;
BEGIN
    SELECT d.objid::regclass INTO months
      FROM pg_depend d JOIN pg_class c ON c.oid = d.objid AND c.relkind = 'r'
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
       AND d.refobjid = days AND d.objsubid = 0 AND d.refobjsubid = 0 AND vs_ingest.has_months_shape(d.objid)
     ORDER BY d.objid LIMIT 1;
    IF months IS NULL AND vs_ingest.is_distributed(days) THEN
        SELECT to_regclass(format('%I.%I', n.nspname,
                                  vs_ingest.derived_name(left(c.relname, char_length(c.relname) - 5), '_months')))
          INTO named
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = days AND c.relname ~ '_days$';
        IF named IS NOT NULL AND vs_ingest.has_months_shape(named) AND vs_ingest.is_distributed(named) THEN
            EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition a JOIN pg_catalog.pg_dist_partition b
                                      ON a.colocationid = b.colocationid
                                   WHERE a.logicalrelid = $1 AND b.logicalrelid = $2)'
               INTO colocated USING named, days;
            months := CASE WHEN colocated THEN named END;
        END IF;
    END IF;
    IF months IS NOT NULL THEN
        PERFORM vs_ingest.check_part_owner(months, (SELECT c.relowner FROM pg_class c WHERE c.oid = days),
                                           'monthly rollup table', days::text, true);
        PERFORM vs_ingest.check_code_on(months);
    END IF;
    RETURN months;
END
$$;

-- Takes the turn of `day`'s month at the monthly rollups of `days` until the transaction ends.
-- Writers of a month take turns from their first change of it to their commit, and take the
-- month before the day (write/rollup.rs locks the months of a transaction's days first), so two
-- writers of days of one month never wait for each other in opposite orders. Two-key advisory
-- lock on the rollup table's oid (as the day's turn, lock_rollup_day) and minus the month's
-- number (days since 1970, the day locks' second key, are not negative). Rollups distributed by
-- Citus are written from several nodes, and an advisory lock is one node's: there the turn is the
-- monthly table's SHARE UPDATE EXCLUSIVE lock, which Citus takes on every node in one order (it
-- conflicts with itself only: readers and the rows' own writes pass), for all months at once.
CREATE FUNCTION vs_ingest.lock_month(days regclass, day date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    months regclass;
BEGIN
    IF vs_ingest.is_distributed(days) THEN
        months := vs_ingest.months_of(days);
        IF months IS NOT NULL THEN
            EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE', months);
        END IF;
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(
                (CASE WHEN days::oid::int8 > 2147483647 THEN days::oid::int8 - 4294967296 ELSE days::oid::int8 END)::int4,
                -(extract(year FROM day)::int * 12 + extract(month FROM day)::int));
END
$$;

-- Takes the turn of `day` at the daily rollups `days` until the transaction ends (write/rollup.rs
-- says what it orders). Two-key advisory lock on the rollup table's oid and the day (days since
-- 1970); for rollups distributed by Citus, the rollup table's own SHARE UPDATE EXCLUSIVE lock
-- (ONLY: not its partitions'), taken by Citus on every node: the table's, not the day
-- partition's, because a loading role's grants are on the table (LOCK checks the relation it
-- names), and the monthly rollups' turn, taken first, orders the target's writers anyway.
CREATE FUNCTION vs_ingest.lock_rollup_day(days regclass, day date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF vs_ingest.is_distributed(days) THEN
        EXECUTE format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE', days);
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(
                (CASE WHEN days::oid::int8 > 2147483647 THEN days::oid::int8 - 4294967296 ELSE days::oid::int8 END)::int4,
                (day - '1970-01-01'::date)::int4);
END
$$;

-- Adds (`sign` 1) or takes away (-1) the daily rollups of `day` in `days` (of the links `links`,
-- or all) to or from the monthly rollups: every daily row is one day of its link, month and day
-- type, and sums, counts and per-hour figures are additions. The load calls it in the transaction
-- that changes the daily rows: with 1 after new rows, with -1 before rows are deleted or rebuilt
-- (write/rollup.rs, write/replace.rs, retention). Does nothing for a rollup table without one.
CREATE FUNCTION vs_ingest.add_to_months(days regclass, day date, links bigint[], sign int) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    months regclass := vs_ingest.months_of(days);
    filter text := CASE WHEN links IS NULL THEN '' ELSE ' AND d.link_id = ANY ($1)' END;
    month date := date_trunc('month', day)::date;
    weekend boolean := extract(isodow FROM day) > 5;
BEGIN
    IF months IS NULL THEN
        RETURN;
    END IF;
    IF sign NOT IN (1, -1) THEN
        RAISE EXCEPTION 'sign must be 1 or -1, not %', sign USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM vs_ingest.lock_month(days, day);
    -- Locked as the write will lock it, then checked again: no trigger, rule or policy can be
    -- added to it until the transaction ends.
    EXECUTE format('LOCK TABLE %s IN ROW EXCLUSIVE MODE', months);
    PERFORM vs_ingest.check_code_on(months);
    -- The day is a literal: the planner opens the day's partition only. An update of the rows
    -- there are, then an insert of the links new to the month: the month's turn (lock_month) keeps
    -- other writers of it out between the two, and an update joined in one pass measured half the
    -- time of INSERT ... ON CONFLICT DO UPDATE (docs/storage.md, "Monthly rollups").
    EXECUTE format($q$
        UPDATE %1$s m
           SET days = m.days + $2, samples = m.samples + $2 * d.samples, speed_sum = m.speed_sum + $2 * d.speed_sum,
               hour_samples = vs_ingest.hours_plus(m.hour_samples, d.hour_samples::int4[], $2),
               hour_speed_sum = vs_ingest.hours_plus(m.hour_speed_sum, d.hour_speed_sum, $2)
          FROM %2$s d
         WHERE d.day = %3$L::date AND m.month = %4$L::date AND m.weekend = %5$L::boolean AND m.link_id = d.link_id%6$s$q$,
        months, days, day, month, weekend, filter)
        USING links, sign;
    IF sign > 0 THEN
        EXECUTE format($q$
            INSERT INTO %1$s (link_id, month, weekend, days, samples, speed_sum, hour_samples, hour_speed_sum)
            SELECT d.link_id, %4$L::date, %5$L::boolean, 1, d.samples, d.speed_sum, d.hour_samples::int4[], d.hour_speed_sum
              FROM %2$s d
             WHERE d.day = %3$L::date%6$s
               AND NOT EXISTS (SELECT 1 FROM %1$s m WHERE m.month = %4$L::date AND m.weekend = %5$L::boolean
                                                      AND m.link_id = d.link_id)$q$,
            months, days, day, month, weekend, filter)
            USING links;
    ELSE
        EXECUTE format('DELETE FROM %s m WHERE m.month = %L::date AND m.weekend = %L::boolean AND m.days = 0%s',
                       months, month, weekend, replace(filter, 'd.link_id', 'm.link_id'))
            USING links;
    END IF;
END
$$;

-- The rollup table and daily view of a target, created if missing (as the storage's owner's):
-- the days of rows stored before are left to build (vs_ingest_build_rollups). Returns the rollup
-- table.
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
    months regclass;
    months_rel text;
    monthly text;
    part record;
    stored_days bigint;
    citus_ddl text;
    distributed boolean := vs_ingest.is_distributed(storage);
BEGIN
    SELECT n.nspname, c.relname INTO nsp, rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = target;
    owner := (SELECT c.relowner FROM pg_class c WHERE c.oid = storage);
    days := vs_ingest.rollup_of(target, storage);
    -- The rollups of a distributed target are made and distributed (colocated with its storage) on
    -- the coordinator, where Citus runs DDL; a worker node's load finds them. (Nested: the Citus
    -- function is named only once Citus is known to be there.)
    IF distributed THEN
        IF NOT pg_catalog.citus_is_coordinator() THEN
            IF days IS NULL OR vs_ingest.months_of(days) IS NULL THEN
                RAISE EXCEPTION 'the rollups of % are not made yet', target
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = 'The rollups of a distributed target are made on the Citus coordinator.',
                          HINT = 'Load the target from the coordinator (nodes => ''workers'' makes them first).';
            END IF;
            RETURN days;
        END IF;
    END IF;
    daily := vs_ingest.rollup_view_name(target, 'daily');
    quality := vs_ingest.rollup_view_name(target, 'quality');
    monthly := vs_ingest.rollup_view_name(target, 'monthly');
    IF days IS NULL THEN
        IF to_regclass(format('%I.%I', nsp, daily)) IS NOT NULL OR to_regclass(format('%I.%I', nsp, quality)) IS NOT NULL
           OR to_regclass(format('%I.%I', nsp, monthly)) IS NOT NULL THEN
            RAISE EXCEPTION 'cannot create the daily views of %: % exists', target,
                    format('%I.%I', nsp, CASE WHEN to_regclass(format('%I.%I', nsp, daily)) IS NOT NULL THEN daily
                                              WHEN to_regclass(format('%I.%I', nsp, quality)) IS NOT NULL THEN quality
                                              ELSE monthly END)
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
        -- The link-days with the fewest samples first (missing data), without reading the others.
        EXECUTE format('CREATE INDEX ON %s (samples)', days);
        EXECUTE format($c$COMMENT ON TABLE %s IS %L$c$, days,
            'Daily rollups of ' || target::text || ' kept by vs_ingest in the transaction of each load: one row per link '
            'and local day; speeds in tenths of km/h; element h + 1 of the hour arrays is local hour h; longest_run: the '
            'most consecutive 5-minute slots with one speed; max_jump: the largest change between consecutive slots. '
            'Query it through the views ' || format('%I.%I', nsp, daily) || ' and ' || format('%I.%I', nsp, quality) || '.');
        IF owner <> (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
            EXECUTE format('ALTER TABLE %s OWNER TO %I', days, pg_get_userbyid(owner));
        END IF;
    END IF;
    -- Distributed by link_id, colocated with the storage: a link's rows and rollups share a node,
    -- and the load's joins of them run shard by shard. (Rows a target stored before it was
    -- distributed move with them.)
    IF distributed AND NOT vs_ingest.is_distributed(days) THEN
        EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''link_id'', colocate_with => $2)'
          USING days, storage::text;
    END IF;
    -- The rollups are of one storage table, named by its oid in a constraint: a storage dropped
    -- (DROP TABLE ... CASCADE takes the views, not the rollups) and made again under the same name
    -- finds rollups of rows that are gone, which are dropped.
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = days AND conname = 'vs_ingest_rollups_of_' || storage::oid) THEN
        FOR part IN SELECT p.part FROM vs_ingest.day_partitions(days) p LOOP
            EXECUTE format('DROP TABLE %s', part.part);
        END LOOP;
        months := vs_ingest.months_of(days);
        IF months IS NOT NULL THEN
            EXECUTE format('TRUNCATE %s', months);
        END IF;
        FOR part IN SELECT c.conname FROM pg_constraint c WHERE c.conrelid = days AND c.conname LIKE 'vs_ingest_rollups_of_%' LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', days, part.conname);
        END LOOP;
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (true)', days, 'vs_ingest_rollups_of_' || storage::oid);
        -- Dropping the storage drops its rollups (an automatic dependency, as an index has).
        PERFORM vs_ingest.link_rollups(days, storage);
        -- Days the storage holds already are built later, each in a transaction of its own (a
        -- year in one would be hours of work lost to any interruption): a day with rows and no
        -- rollup partition is one to build (vs_ingest.rollup_days_to_build). A load builds the
        -- days it writes into; CALL vs_ingest_build_rollups() builds the others.
        stored_days := (SELECT count(*) FROM vs_ingest.day_partitions(storage));
        IF stored_days > 0 THEN
            RAISE NOTICE 'the daily rollups of % are to be built for % days of rows stored before', target, stored_days
                USING HINT = 'CALL vs_ingest_build_rollups() builds them, a day per transaction; until then '
                             'vs_ingest.rollup_days_to_build lists the days its daily and quality views lack.';
        END IF;
    END IF;
    -- The monthly rollups: one row per link, local month and day type (weekday or weekend) with
    -- the sums of its daily rows, kept by add_to_months wherever daily rows change. Made here for
    -- a rollup table without them, from the daily rows it holds.
    months := vs_ingest.months_of(days);
    IF months IS NULL THEN
        months_rel := vs_ingest.derived_name(rel, '_months');
        IF to_regclass(format('%I.%I', nsp, months_rel)) IS NOT NULL THEN
            RAISE EXCEPTION 'cannot create the monthly rollups of %: % exists', target, format('%I.%I', nsp, months_rel)
                USING ERRCODE = 'duplicate_table',
                      DETAIL = 'vs_ingest names a target''s rollup tables after the target, and never takes over a relation.',
                      HINT = 'Drop or rename that relation, or use another target name.';
        END IF;
        EXECUTE format($ddl$
            CREATE TABLE %I.%I (
                link_id        bigint    NOT NULL,
                month          date      NOT NULL,
                weekend        boolean   NOT NULL,
                days           smallint  NOT NULL,
                samples        integer   NOT NULL,
                speed_sum      bigint    NOT NULL,
                hour_samples   integer[] NOT NULL CHECK (cardinality(hour_samples) = 24),
                hour_speed_sum integer[] NOT NULL CHECK (cardinality(hour_speed_sum) = 24),
                PRIMARY KEY (month, weekend, link_id)
            ) WITH (fillfactor = 50)$ddl$, nsp, months_rel);
        months := format('%I.%I', nsp, months_rel)::regclass;
        EXECUTE format($c$COMMENT ON TABLE %s IS %L$c$, months,
            'Monthly rollups of ' || target::text || ' kept by vs_ingest in the transaction of each load: one row per '
            'link, local month and day type (weekend: Saturday and Sunday) with the sums of its daily rollups ' || days::text
            || '; days: the link-days summed. Query it through the view ' || format('%I.%I', nsp, monthly) || '.');
        IF owner <> (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
            EXECUTE format('ALTER TABLE %s OWNER TO %I', months, pg_get_userbyid(owner));
        END IF;
        IF distributed THEN
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''link_id'', colocate_with => $2)'
              USING months, storage::text;
        END IF;
        -- Dropping the rollup table drops them.
        PERFORM vs_ingest.link_rollups(months, days);
        FOR part IN SELECT p.lo FROM vs_ingest.day_partitions(days) p ORDER BY p.lo LOOP
            PERFORM vs_ingest.add_to_months(days, part.lo, NULL, 1);
        END LOOP;
    ELSIF distributed AND NOT vs_ingest.is_distributed(months) THEN
        EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''link_id'', colocate_with => $2)'
          USING months, storage::text;
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
    IF to_regclass(format('%I.%I', nsp, monthly)) IS NULL THEN
        EXECUTE format($view$
            CREATE VIEW %I.%I AS
            SELECT m.link_id,
                   m.month,
                   m.weekend,
                   m.days,
                   m.samples,
                   m.speed_sum / (10.0::float8 * m.samples) AS speed_avg,
                   m.hour_samples,
                   m.hour_speed_sum AS hour_speed_tenths
              FROM %s m$view$, nsp, monthly, months);
        EXECUTE format($c$COMMENT ON VIEW %I.%I IS %L$c$, nsp, monthly,
            'Monthly link speeds of ' || target::text || ' by day type (weekend: Saturday and Sunday), kept exact by every '
            'load: one row per link, local month and day type with a sample; hour_samples[h + 1] and '
            'hour_speed_tenths[h + 1] (the sum of its speeds, in tenths of km/h) are local hour h over the days summed.');
        IF owner <> (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
            EXECUTE format('ALTER VIEW %I.%I OWNER TO %I', nsp, monthly, pg_get_userbyid(owner));
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

-- Drops a target's rollup tables and their views. Views of users over them are not dropped with
-- them: the DROP fails and names them.
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
    RAISE NOTICE 'dropping the rollups of %', target;
    -- Their views, if they are vs_ingest's (a view of another role is not dropped: the DROP
    -- TABLE then fails and names it).
    FOREACH kind IN ARRAY ARRAY['daily', 'quality', 'monthly'] LOOP
        view := vs_ingest.rollup_view(target, CASE kind WHEN 'monthly' THEN vs_ingest.months_of(days) ELSE days END, kind);
        IF view IS NOT NULL THEN
            EXECUTE format('DROP VIEW %s', view);
        END IF;
    END LOOP;
    EXECUTE format('DROP TABLE %s', days);
END
$$;

-- The days whose rollups are still to build, of every rollup table (found by its identity: the
-- automatic dependency on its storage that link_rollups records): days of the storage with no
-- partition in the rollup table. A rollup table made for a target that held rows already (by the
-- update from 0.2.0, say) starts with all of them; a load builds a day it writes into, and
-- vs_ingest_build_rollups the others.
CREATE FUNCTION vs_ingest.rollup_days_to_build(OUT storage regclass, OUT days regclass, OUT day date)
RETURNS SETOF record LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT d.refobjid::regclass, d.objid::regclass, s.lo
      FROM pg_depend d
      JOIN pg_class r ON r.oid = d.objid AND r.relkind = 'p'
      JOIN pg_class t ON t.oid = d.refobjid AND t.relkind = 'p'
     CROSS JOIN LATERAL vs_ingest.day_partitions(d.refobjid::regclass) s
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
       AND d.objsubid = 0 AND d.refobjsubid = 0
       AND vs_ingest.has_days_shape(d.objid) AND vs_ingest.has_block_shape(d.refobjid)
       AND NOT EXISTS (SELECT 1 FROM vs_ingest.day_partitions(d.objid::regclass) p WHERE s.lo >= p.lo AND s.lo < p.hi)
$$;

CREATE VIEW vs_ingest.rollups_to_build AS
SELECT b.days AS rollups, b.storage, count(*)::int AS days, min(b.day) AS first_day, max(b.day) AS last_day
  FROM vs_ingest.rollup_days_to_build() b GROUP BY b.days, b.storage;
COMMENT ON VIEW vs_ingest.rollups_to_build IS
    'Rollup tables with days of stored rows whose daily rollups are not built yet (their daily and quality views lack '
    'those days): CALL vs_ingest_build_rollups() builds them.';

-- Builds the rollups of the oldest day still to build (of the target `target_view`, or of every
-- target whose owner the caller is or is a member of), as a load does: the day's rollup
-- partition, the same checks of the code a write runs, the day's turn at the rollup table, then
-- every link's sums from the stored rows. `done` days were built by this call before; at most `most` are
-- built. Returns done + 1, or NULL when nothing is left to do. One call per transaction:
-- vs_ingest_build_rollups commits after each.
CREATE FUNCTION vs_ingest.build_rollup_day(target_view regclass, most int, done int) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    only_storage regclass;
    next record;
    part regclass;
BEGIN
    IF most IS NOT NULL AND most < 1 THEN
        RAISE EXCEPTION 'days must be at least 1, not %', most
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give how many days to build at most, or NULL for all.';
    END IF;
    IF target_view IS NOT NULL THEN
        only_storage := vs_ingest.storage_of(target_view);
        IF only_storage IS NULL THEN
            RAISE EXCEPTION '% is not a vs_ingest target', target_view
                USING ERRCODE = 'wrong_object_type', HINT = 'Name the hourly view of a target, or NULL for all.';
        END IF;
    END IF;
    IF most IS NOT NULL AND done >= most THEN
        RAISE NOTICE 'built the daily rollups of % days (at most % were asked for)', done, most;
        RETURN NULL;
    END IF;
    -- The oldest day to build, and how many are left (one read of the catalogs).
    SELECT b.storage, b.days, b.day, count(*) OVER () AS left_to_build INTO next
      FROM vs_ingest.rollup_days_to_build() b
     WHERE (only_storage IS NULL OR b.storage = only_storage)
       AND pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = b.storage), 'MEMBER')
     ORDER BY b.day, b.days LIMIT 1;
    IF NOT FOUND THEN
        RAISE NOTICE 'built the daily rollups of % days; none is left to build%', done,
                     CASE WHEN target_view IS NULL THEN ' of the targets of ' || current_user ELSE ' of ' || target_view::text END;
        RETURN NULL;
    END IF;
    IF done = 0 THEN
        RAISE NOTICE 'building the daily rollups of % days, a day per transaction', next.left_to_build;
    END IF;
    -- Builders of one rollup table take turns (each makes partitions of it: two at once would
    -- deadlock upgrading their locks on it); one that waited finds its day built, and goes on.
    PERFORM pg_advisory_xact_lock(hashtext('vs_ingest.build_rollups'), hashtext(next.days::oid::text));
    IF vs_ingest.day_partition(next.days, next.day) IS NOT NULL THEN
        RETURN done;
    END IF;
    -- As a load writes: the tables and the day's partitions locked as a write locks them (no
    -- trigger, rule or policy can be added until the transaction ends), then what a write into
    -- them would run checked (vs_ingest.check_write).
    EXECUTE format('LOCK TABLE ONLY %s, ONLY %s IN ROW EXCLUSIVE MODE', next.storage, next.days);
    part := vs_ingest.day_partition(next.storage, next.day);
    IF part IS NULL THEN
        -- Dropped since it was listed (retention): nothing to build.
        RETURN done;
    END IF;
    EXECUTE format('LOCK TABLE %s IN ROW EXCLUSIVE MODE', part);
    PERFORM vs_ingest.check_write(next.storage, part);
    PERFORM vs_ingest.check_part_owner(next.days, (SELECT c.relowner FROM pg_class c WHERE c.oid = next.storage),
                                       'rollup table', next.storage::text, true);
    PERFORM vs_ingest.ensure_day_partition(next.days, next.day);
    part := vs_ingest.day_partition(next.days, next.day);
    EXECUTE format('LOCK TABLE %s IN ROW EXCLUSIVE MODE', part);
    PERFORM vs_ingest.check_write(next.days, part);
    PERFORM vs_ingest.rebuild_days(next.storage, next.days, next.day, NULL);
    RAISE NOTICE 'built the daily rollups of % for %', next.days, next.day;
    RETURN done + 1;
END
$$;

-- Builds the daily rollups of the days stored before a target kept them, a day per transaction,
-- oldest first: interrupted, it has lost at most the day in progress, and the next call goes on
-- from there. Called outside a transaction block (it commits).
-- (No SET clause: a procedure with one cannot commit. Its one statement calls vs_ingest's
-- function by its qualified name, and that function runs with a fixed search_path.)
CREATE PROCEDURE public.vs_ingest_build_rollups(target regclass DEFAULT NULL, days int DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    built int := 0;
BEGIN
    LOOP
        built := vs_ingest.build_rollup_day(target, days, built);
        EXIT WHEN built IS NULL;
        COMMIT;
    END LOOP;
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
    rollup_table regclass;
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
    -- (`days` is also the name of an output column: the rollup table is compared by another name.)
    rollup_table := days;
    IF EXISTS (SELECT 1 FROM vs_ingest.rollup_days_to_build() b
                WHERE b.days = rollup_table AND b.day >= since AND b.day < until) THEN
        RAISE WARNING 'the daily rollups of % lack days of [%, %): the report leaves them out', relid, since, until
            USING HINT = 'CALL vs_ingest_build_rollups() builds them (vs_ingest.rollups_to_build lists them).';
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

-- Building rollups writes as the caller, like a load: for the loading roles.
REVOKE ALL ON ROUTINE vs_ingest.build_rollup_day, public.vs_ingest_build_rollups FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.build_rollup_day TO pg_read_server_files;
GRANT EXECUTE ON PROCEDURE public.vs_ingest_build_rollups TO pg_read_server_files;
GRANT SELECT ON vs_ingest.rollups_to_build TO PUBLIC;
