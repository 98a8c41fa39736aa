-- A target: the relation users query, `target` (default public.vs_its_hourly), is a view with one
-- row per link and hour; the data lives in `<target>_blocks`, one row per link and block of six
-- local hours, partitioned by local day; `<target>_5min` (vs_its_5min for the default) is a view
-- with one row per link and 5-minute slot. Why this layout: docs/storage.md.
--
-- Targets are created by the loading role and are not extension members: DROP EXTENSION never
-- drops loaded data. Like every function of the extension, these run with a fixed search_path,
-- so no function or operator of another role can stand in for a built-in.

-- Whether `rel` has exactly the columns of a storage table, in order (rows are COPYed by position),
-- compared by type oid (a type of another schema that prints like a built-in one never matches).
CREATE FUNCTION vs_ingest.has_block_shape(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum)
                        = ARRAY['link_id', 'day', 'block', 'hours', 'speed', 'travel_time']
                    AND array_agg(a.atttypid ORDER BY a.attnum)
                        = ARRAY['int8'::regtype, 'date'::regtype, 'int2'::regtype, 'int2'::regtype,
                                '_int2'::regtype, '_int4'::regtype]::oid[]
                    AND bool_and(a.attgenerated = ''), false)
      FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- Whether `rel` is a table of vs_ingest 0.1.0: partitioned, one row per link and hour.
CREATE FUNCTION vs_ingest.is_v0_1_table(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = rel)
       AND (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
             WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped)
           IS NOT DISTINCT FROM ARRAY['hour', 'link_id', 'speed', 'travel_time', 'samples', 'speed_avg', 'speed_min', 'speed_max']
$$;

-- Raises 22023 unless `tz` names a time zone (pg_timezone_names): targets and the calendar take
-- only real zone names.
CREATE FUNCTION vs_ingest.check_time_zone(tz text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz) THEN
        RAISE EXCEPTION 'unknown time zone "%"', tz
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a name from pg_timezone_names, such as Asia/Seoul.';
    END IF;
END
$$;

-- The names of a target's relations are derived from its own: `<rel>_blocks` (storage),
-- `<rel>_5min` (or `_hourly` -> `_5min`), `<storage>_pYYYYMMDD` (day partitions), `<storage>_stage`
-- (Citus). `rel` is cut to whole characters so that the whole name fits Postgres' 63 bytes:
-- identifiers are cut by bytes, so a name cut by characters lost its suffix where characters take
-- several bytes (every day of a Korean-named target had one partition name).
CREATE FUNCTION vs_ingest.derived_name(rel text, suffix text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT (SELECT left(rel, n) FROM generate_series(char_length(rel), 0, -1) AS n
             WHERE octet_length(left(rel, n)) <= 63 - octet_length(suffix) LIMIT 1) || suffix
$$;

------------------------------------------------------------------------------------------------
-- What a load adopts and what it runs (SECURITY.md, "Objects a load uses"). A load writes as the
-- loading role, so code attached to what it writes runs with that role's privileges: it must be
-- code of a role that has those privileges already. And every relation of a target belongs to
-- the target's owner (or to such a role): one that another role created under a target's name
-- is never taken for part of it.
------------------------------------------------------------------------------------------------

-- Whether code that role `owner` owns may run as the current user: only if `owner` has the
-- current user's privileges already (the same role, a member of it, or a superuser), so that
-- running its code as the current user gives it nothing. A role that no longer exists: no.
CREATE FUNCTION vs_ingest.may_run_code_of(owner oid) RETURNS boolean
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = owner)
                THEN pg_has_role(owner, current_user, 'USAGE') ELSE false END
$$;

-- The code a write into `rel` can run, with the role it belongs to: its triggers' functions (a
-- trigger runs as the writer), its rules and row-level policies (its owner's), and the functions
-- (directly or behind an operator) and domains of its constraints, index expressions and
-- predicates, column defaults, triggers' WHEN clauses, policies and rules. Built-in code
-- (pg_catalog) and vs_ingest's own are not listed: only superusers and the extension create
-- functions there. (What the table's owner wrote with built-in functions is foreign_definitions'.)
CREATE FUNCTION vs_ingest.code_on(rel regclass, OUT what text, OUT owner oid) RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH trusted(nsp) AS (VALUES ('pg_catalog'::regnamespace::oid), ('vs_ingest'::regnamespace::oid)),
    -- The objects on `rel` that hold expressions, and what those expressions depend on.
    attached(classid, objid) AS (
        SELECT 'pg_constraint'::regclass::oid, k.oid FROM pg_constraint k WHERE k.conrelid = rel
        UNION ALL SELECT 'pg_class'::regclass::oid, i.indexrelid FROM pg_index i WHERE i.indrelid = rel
        UNION ALL SELECT 'pg_attrdef'::regclass::oid, a.oid FROM pg_attrdef a WHERE a.adrelid = rel
        UNION ALL SELECT 'pg_trigger'::regclass::oid, t.oid FROM pg_trigger t WHERE t.tgrelid = rel
        UNION ALL SELECT 'pg_policy'::regclass::oid, p.oid FROM pg_policy p WHERE p.polrelid = rel
        UNION ALL SELECT 'pg_rewrite'::regclass::oid, r.oid FROM pg_rewrite r WHERE r.ev_class = rel),
    uses AS (
        SELECT d.* FROM pg_depend d JOIN attached x ON x.classid = d.classid AND x.objid = d.objid)
    SELECT format('trigger %I on %s (function %s)', t.tgname, rel, p.oid::regprocedure), p.proowner
      FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
     WHERE t.tgrelid = rel AND NOT t.tgisinternal AND p.pronamespace NOT IN (SELECT nsp FROM trusted)
    UNION ALL
    SELECT format('rule %I on %s', r.rulename, rel), c.relowner
      FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
     WHERE r.ev_class = rel AND r.rulename <> '_RETURN'
    UNION ALL
    SELECT format('policy %I on %s', p.polname, rel), c.relowner
      FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
     WHERE p.polrelid = rel
    UNION ALL
    SELECT format('function %s in %s', f.oid::regprocedure, pg_describe_object(u.classid, u.objid, u.objsubid)),
           f.proowner
      FROM uses u
      JOIN pg_proc f ON f.oid = CASE u.refclassid
                                    WHEN 'pg_proc'::regclass THEN u.refobjid
                                    ELSE (SELECT o.oprcode::oid FROM pg_operator o WHERE o.oid = u.refobjid) END
     WHERE u.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)
       AND f.pronamespace NOT IN (SELECT nsp FROM trusted)
    UNION ALL
    -- A domain's CHECKs run wherever a value is cast to it.
    SELECT format('domain %s in %s', t.oid::regtype, pg_describe_object(u.classid, u.objid, u.objsubid)), t.typowner
      FROM uses u JOIN pg_type t ON t.oid = u.refobjid AND t.typtype = 'd'
     WHERE u.refclassid = 'pg_type'::regclass
$$;

-- What is on `rel` beyond the definitions vs_ingest itself gives a storage table and its
-- partitions: its triggers (Citus' truncate trigger aside), rules, policies, column defaults,
-- foreign-key, exclusion and constraint triggers, indexes with expressions or predicates, and
-- CHECKs other than vs_ingest's (0.2.0's included). Every expression on a table is its owner's
-- code, built-in functions included (query_to_xml runs any query): a load as another role runs
-- none of it unless the owner has that role's privileges (check_code_on).
CREATE FUNCTION vs_ingest.foreign_definitions(rel regclass) RETURNS SETOF text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('trigger %I', t.tgname) FROM pg_trigger t
     WHERE t.tgrelid = rel AND NOT t.tgisinternal
       AND NOT (t.tgfoid = to_regproc('pg_catalog.citus_truncate_trigger') AND t.tgqual IS NULL)
    UNION ALL
    SELECT format('rule %I', r.rulename) FROM pg_rewrite r WHERE r.ev_class = rel AND r.rulename <> '_RETURN'
    UNION ALL
    SELECT format('policy %I', p.polname) FROM pg_policy p WHERE p.polrelid = rel
    UNION ALL
    SELECT format('default of column %I', a.attname) FROM pg_attrdef d
      JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
     WHERE d.adrelid = rel
    UNION ALL
    SELECT format('index %s', i.indexrelid::regclass) FROM pg_index i
     WHERE i.indrelid = rel AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)
    UNION ALL
    SELECT format('constraint %I (%s)', k.conname, pg_get_constraintdef(k.oid)) FROM pg_constraint k
     WHERE k.conrelid = rel
       AND (k.contype NOT IN ('c', 'p')
            OR (k.contype = 'c' AND pg_get_constraintdef(k.oid) NOT IN (
                    'CHECK (((block >= 0) AND (block <= 3)))',
                    'CHECK (((hours >= 1) AND (hours <= 63)))',
                    'CHECK (vs_ingest.speed_fits(speed, hours))',
                    'CHECK (((array_ndims(travel_time) = 1) AND (array_lower(travel_time, 1) = 1) AND (cardinality(travel_time) = 72)))',
                    'CHECK ((cardinality(speed) = 72))',
                    'CHECK ((cardinality(travel_time) = 72))',
                    -- the daily rollups' (src/sql/rollup.sql)
                    'CHECK (((samples >= 1) AND (samples <= 288)))',
                    'CHECK ((cardinality(hour_samples) = 24))',
                    'CHECK ((cardinality(hour_speed_sum) = 24))',
                    'CHECK (((longest_run >= 1) AND (longest_run <= 288)))',
                    'CHECK ((max_jump >= 0))',
                    'CHECK (true)')))
$$;

-- Raises 42501 when a write into `rel` (a storage table or one of its partitions) would run code
-- that a role without the current user's privileges controls:
-- - anything beyond vs_ingest's own definitions (foreign_definitions) on a table whose owner
--   lacks those privileges: every expression on a table is its owner's code;
-- - a function, operator or domain of such a role in the table's code (code_on), whoever owns it;
-- - any trigger, when such a role (or PUBLIC) holds TRIGGER on the table: it may have made it.
CREATE FUNCTION vs_ingest.check_code_on(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel_owner oid := (SELECT c.relowner FROM pg_class c WHERE c.oid = rel);
    what text;
    whose oid;
BEGIN
    IF NOT vs_ingest.may_run_code_of(rel_owner) THEN
        SELECT d INTO what FROM vs_ingest.foreign_definitions(rel) AS d LIMIT 1;
        whose := rel_owner;
    END IF;
    IF what IS NULL THEN
        SELECT c.what, c.owner INTO what, whose FROM vs_ingest.code_on(rel) c
         WHERE NOT vs_ingest.may_run_code_of(c.owner) LIMIT 1;
    END IF;
    IF what IS NULL AND EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = rel AND NOT t.tgisinternal) THEN
        SELECT 'trigger that ' || CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END
               || ' may have created (TRIGGER privilege)', a.grantee
          INTO what, whose
          FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
         WHERE c.oid = rel AND a.privilege_type = 'TRIGGER'
           AND (a.grantee = 0 OR NOT vs_ingest.may_run_code_of(a.grantee))
         LIMIT 1;
    END IF;
    IF what IS NOT NULL THEN
        RAISE EXCEPTION 'vs_ingest will not write into % as role %: it would run the % of role %',
                        rel, current_user, what, coalesce(pg_get_userbyid(whose), 'PUBLIC')
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A load writes as the loading role, so code on what it writes runs with that role''s '
                           'privileges; this code belongs to a role that does not have them.',
                  HINT = format('Load as role %s (or a member of it), or drop that code.',
                                coalesce(pg_get_userbyid(whose), 'the table''s owner'));
    END IF;
END
$$;

-- Raises 42P07 unless relation `rel`, found under the name of a part of target `target`, belongs to
-- `owner` (the target's owner) or, unless `exact`, to a role with the current user's privileges:
-- a relation that another role created under that name is never taken for part of the target.
-- The storage must be the view's owner's exactly (`exact`): runs and coverage follow the view, so
-- a view of one role over another's storage would show that role the other's loads.
CREATE FUNCTION vs_ingest.check_part_owner(rel regclass, owner oid, part text, target text, exact boolean)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel_owner oid := (SELECT c.relowner FROM pg_class c WHERE c.oid = rel);
BEGIN
    IF rel_owner IS DISTINCT FROM owner AND (exact OR NOT vs_ingest.may_run_code_of(rel_owner)) THEN
        RAISE EXCEPTION 'cannot use % as the % of target %: it belongs to role %, not to %',
                        rel, part, target, pg_get_userbyid(rel_owner), pg_get_userbyid(owner)
            USING ERRCODE = 'duplicate_table',
                  DETAIL = 'Another role created a relation under a name vs_ingest derives from the target''s.',
                  HINT = 'Drop or rename that relation (as its owner or a superuser), or use another target name.';
    END IF;
END
$$;

-- Checks what a transaction that writes into `part`, a day partition of `storage`, would run: the
-- code on both and the partition's kind and owner. The writer has found `part` and locked both
-- (ROW EXCLUSIVE, as its COPY will), so no trigger, rule or policy can be added to either before
-- the transaction ends.
CREATE FUNCTION vs_ingest.check_write(storage regclass, part regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM vs_ingest.check_code_on(storage);
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = part) <> 'r' THEN
        RAISE EXCEPTION 'the partition % of % is not a plain table', part, storage
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'vs_ingest writes day partitions it created: detach this one and load again.';
    END IF;
    PERFORM vs_ingest.check_part_owner(part, (SELECT c.relowner FROM pg_class c WHERE c.oid = storage),
                                       'partition', storage::text, false);
    PERFORM vs_ingest.check_code_on(part);
END
$$;

-- The partition of `storage` that holds local day `day`, or NULL.
CREATE FUNCTION vs_ingest.day_partition(storage regclass, day date) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.part FROM vs_ingest.day_partitions(storage) p WHERE day >= p.lo AND day < p.hi
$$;

-- The day partitions of a storage table, with the local days each holds, [lo, hi).
CREATE FUNCTION vs_ingest.day_partitions(storage regclass, OUT part regclass, OUT lo date, OUT hi date)
RETURNS SETOF record LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.oid::regclass,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::date,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::date
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = storage AND NOT i.inhdetachpending
$$;

-- The storage table behind a target view, or NULL when `target` is not one: the partitioned
-- table of block rows its definition reads.
CREATE FUNCTION vs_ingest.storage_of(target regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT d.refobjid::regclass
      FROM pg_rewrite r
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                      AND d.refclassid = 'pg_class'::regclass
      JOIN pg_partitioned_table p ON p.partrelid = d.refobjid
                                 -- RANGE (day) and nothing else: a key expression would run as the loader
                                 AND p.partstrat = 'r' AND p.partnatts = 1 AND p.partattrs[0] = 2
                                 AND p.partexprs IS NULL
     WHERE r.ev_class = target AND r.rulename = '_RETURN' AND d.refobjid <> target
       AND vs_ingest.has_block_shape(d.refobjid)
     LIMIT 1
$$;

-- Whether `rel` is a Citus-distributed table (false where Citus is not installed; only a superuser
-- can create a relation in pg_catalog).
CREATE FUNCTION vs_ingest.is_distributed(rel regclass) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found boolean := false;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
           INTO found USING rel;
    END IF;
    RETURN found;
END
$$;

-- The stage table of a distributed storage table: `<storage>_stage`, distributed and colocated
-- with it by link_id, so that a merge joins shard to shard on the workers (a temporary table
-- cannot be distributed). NULL if it does not exist.
CREATE FUNCTION vs_ingest.stage_of(storage regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT to_regclass(format('%I.%I', n.nspname, vs_ingest.derived_name(c.relname, '_stage')))
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = storage
$$;

-- Whether `stage` can serve as the stage of `storage`: a distributed plain table of the storage's
-- shape and owner, without triggers of its own. (A role with CREATE on the schema could create a
-- table of that name first; every load would then run its triggers.)
CREATE FUNCTION vs_ingest.is_stage_of(stage regclass, storage regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.relkind = 'r' AND s.relowner = c.relowner AND vs_ingest.has_block_shape(stage)
           AND vs_ingest.is_distributed(stage)
           AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = stage AND NOT t.tgisinternal
                                                         AND t.tgfoid::regproc::text <> 'citus_truncate_trigger')
           AND NOT EXISTS (SELECT 1 FROM vs_ingest.code_on(stage) k WHERE NOT vs_ingest.may_run_code_of(k.owner))
      FROM pg_class s, pg_class c WHERE s.oid = stage AND c.oid = storage
$$;

-- Distributes a target's storage with Citus by link_id (`vs_ingest_create_target(...,
-- distributed => true)`), in `shard_count` shards (NULL: citus.shard_count), and creates its
-- colocated stage, and its rollups. Its day partitions, now and later, are distributed with it.
-- Runs as the caller, who must own the target. Idempotent.
CREATE FUNCTION vs_ingest.distribute_target(hourly regclass, shard_count int) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    storage regclass := vs_ingest.storage_of(hourly);
    nsp name;
    rel name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'a distributed target needs Citus, which is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Create it on a Citus coordinator (CREATE EXTENSION citus), or with distributed => false.';
    END IF;
    IF shard_count IS NOT NULL AND shard_count NOT BETWEEN 1 AND 64000 THEN
        RAISE EXCEPTION 'shard_count must be between 1 and 64000, not %', shard_count
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave it NULL for citus.shard_count.';
    END IF;
    SELECT n.nspname, c.relname INTO nsp, rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = storage;
    IF NOT vs_ingest.is_distributed(storage) THEN
        EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''link_id'', shard_count => $2)'
          USING storage, coalesce(shard_count, current_setting('citus.shard_count')::int);
    END IF;
    IF vs_ingest.stage_of(storage) IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I (LIKE %s)', nsp, vs_ingest.derived_name(rel, '_stage'), storage);
        -- The storage's owner owns its stage (a superuser may be distributing another role's target).
        EXECUTE format('ALTER TABLE %s OWNER TO %I', vs_ingest.stage_of(storage),
                       (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = storage));
        EXECUTE 'SELECT pg_catalog.create_distributed_table($1, ''link_id'', colocate_with => $2)'
          USING vs_ingest.stage_of(storage), storage::text;
    ELSIF NOT vs_ingest.is_stage_of(vs_ingest.stage_of(storage), storage) THEN
        RAISE EXCEPTION 'cannot distribute %: % exists and is not its stage', hourly, vs_ingest.stage_of(storage)
            USING ERRCODE = 'duplicate_table',
                  HINT = 'Drop or rename that table, then call vs_ingest_create_target again.';
    END IF;
    -- Its rollups, daily and monthly, distributed colocated with the storage (made if missing).
    PERFORM vs_ingest.ensure_rollups(hourly, storage);
END
$$;

-- The time zone whose local days a target stores (its views select the calendar of that zone).
CREATE FUNCTION vs_ingest.time_zone_of(target regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT replace((regexp_match(pg_get_viewdef(target), 'c\.time_zone = ''((?:[^'']|'''')*)''::text'))[1], '''''', '''')
$$;

-- The CHECKs every storage table carries, in one place: each array has 72 slots subscripted from
-- 1 (the views read slots both by subscript and by position), and `hours` has bit h set exactly
-- when hour h of the block has a sample (the hourly view shows the hours it marks). Added as NOT
-- VALID where the table may hold rows (the upgrade; an adopted storage): new rows are checked at
-- once, `ALTER TABLE ... VALIDATE CONSTRAINT` checks the old ones when its owner chooses.
CREATE FUNCTION vs_ingest.add_slot_checks(storage regclass, validate boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = storage AND conname = 'vs_ingest_speed_slots') THEN
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT vs_ingest_speed_slots CHECK (vs_ingest.speed_fits(speed, hours))%s',
                       storage, CASE WHEN validate THEN '' ELSE ' NOT VALID' END);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = storage AND conname = 'vs_ingest_travel_time_slots') THEN
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT vs_ingest_travel_time_slots CHECK (array_ndims(travel_time) = 1 '
                       'AND array_lower(travel_time, 1) = 1 AND cardinality(travel_time) = 72)%s',
                       storage, CASE WHEN validate THEN '' ELSE ' NOT VALID' END);
    END IF;
END
$$;

-- The 5-minute view `view` (schema-qualified, quoted) of storage `storage`, for time zone `tz`:
-- one row per link and 5-minute slot with a sample. Its speed is the same `real` as the hourly
-- view's (tenths / 10 in single precision, correctly rounded).
CREATE FUNCTION vs_ingest.create_five_min_view(view text, storage regclass, tz text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format($view$
        CREATE VIEW %s AS
        SELECT c.ts,
               b.link_id,
               b.speed[c.slot]::real / 10::real AS speed,
               b.travel_time[c.slot] AS travel_time,
               b.day AS local_day,
               c.local_time
          FROM %s b
          JOIN vs_ingest.calendar_5min c ON c.local_day = b.day AND c.block = b.block
         WHERE c.time_zone = %L AND b.speed[c.slot] IS NOT NULL$view$, view, storage, tz);
    EXECUTE format($c$COMMENT ON VIEW %s IS %L$c$, view,
        'Link speeds loaded by vs_ingest (time zone ' || tz || '), one row per link and 5-minute slot with a sample.');
END
$$;

-- Creates the target `target` (its storage table and its two views) unless it exists, for local
-- days of time zone `tz`; returns the hourly view and the storage table. Every relation it uses
-- under a derived name belongs to the target's owner (check_part_owner), and no code of another
-- role is on the storage (check_code_on): a name taken by something else is an error, never a
-- part adopted.
CREATE FUNCTION vs_ingest.ensure_target(target text, tz text, OUT hourly regclass, OUT storage regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parts text[] := parse_ident(target);
    nsp text;
    rel text;
    owner oid;
    existing regclass;
    existing_tz text;
    storage_rel text;
    five_min text;
    part regclass;
    citus_ddl text;
BEGIN
    IF cardinality(parts) NOT IN (1, 2) THEN
        RAISE EXCEPTION 'invalid target table name "%"', target
            USING ERRCODE = 'invalid_name', HINT = 'Give a table name, optionally schema-qualified.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(parts) AS p WHERE octet_length(p) > 63 OR p = '') THEN
        RAISE EXCEPTION 'invalid target table name "%": each part must have 1 to 63 bytes', target
            USING ERRCODE = 'name_too_long',
                  HINT = 'PostgreSQL cuts longer names; give a shorter one (a Korean character takes 3 bytes).';
    END IF;
    PERFORM vs_ingest.check_time_zone(tz);
    -- The callers qualify the name first (under the caller's search_path; this function's is fixed).
    IF cardinality(parts) <> 2 THEN
        RAISE EXCEPTION 'target name "%" is not schema-qualified', target
            USING ERRCODE = 'invalid_name', HINT = 'Schema-qualify the target name.';
    END IF;
    nsp := parts[1];
    rel := parts[cardinality(parts)];
    -- Two first loads of a new target at once: the second waits here until the first's
    -- transaction ends, then finds the target (read from pg_class with this statement's snapshot,
    -- not from a cache that may predate the other's commit).
    PERFORM pg_advisory_xact_lock(hashtext('vs_ingest.target'), hashtext(format('%I.%I', nsp, rel)));
    SELECT c.oid INTO existing FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = nsp AND c.relname = rel;
    IF existing IS NOT NULL THEN
        storage := vs_ingest.storage_of(existing);
        IF storage IS NULL THEN
            IF vs_ingest.is_v0_1_table(existing) THEN
                RAISE EXCEPTION 'table % stores one row per link and hour, the layout of vs_ingest 0.1.0', existing
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = format('Convert it to the current layout with SELECT vs_ingest_convert_target(%L).', existing::text);
            END IF;
            RAISE EXCEPTION '% is not a vs_ingest target', existing
                USING ERRCODE = 'wrong_object_type',
                      DETAIL = 'A target is a view over a partitioned table of six-hour rows, both created by vs_ingest.',
                      HINT = 'vs_ingest writes into a target it created: pick another target name.';
        END IF;
        -- The view reads the storage, so they belong together: a view of one role over another
        -- role's storage is not a target. The code on the storage is checked again before every
        -- write (check_write).
        PERFORM vs_ingest.check_part_owner(storage, (SELECT c.relowner FROM pg_class c WHERE c.oid = existing),
                                           'storage', existing::text, true);
        PERFORM vs_ingest.check_code_on(storage);
        existing_tz := vs_ingest.time_zone_of(existing);
        IF existing_tz IS DISTINCT FROM tz THEN
            RAISE EXCEPTION 'target % stores local days of time zone %, not %', existing, existing_tz, tz
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('Load with time_zone => %L, or into another target.', existing_tz);
        END IF;
        hourly := existing;
        RETURN;
    END IF;

    -- A new target: the caller will own it.
    owner := (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user);
    storage_rel := vs_ingest.derived_name(rel, '_blocks');
    five_min := CASE WHEN rel ~ '_hourly$' THEN regexp_replace(rel, '_hourly$', '_5min')
                     ELSE vs_ingest.derived_name(rel, '_5min') END;
    IF to_regclass(format('%I.%I', nsp, five_min)) IS NOT NULL THEN
        RAISE EXCEPTION 'cannot create target %.%: % exists', quote_ident(nsp), quote_ident(rel), format('%I.%I', nsp, five_min)
            USING ERRCODE = 'duplicate_table',
                  DETAIL = 'vs_ingest names a target''s 5-minute view after the target, and never takes over a relation.',
                  HINT = 'Drop or rename that relation, or use another target name.';
    END IF;
    storage := to_regclass(format('%I.%I', nsp, storage_rel));
    IF storage IS NOT NULL AND NOT (vs_ingest.has_block_shape(storage)
                                    AND EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = storage)) THEN
        RAISE EXCEPTION 'cannot create target %.%: % exists and is not a vs_ingest storage table', quote_ident(nsp), quote_ident(rel), storage
            USING ERRCODE = 'duplicate_table', HINT = 'Drop or rename that relation, or use another target name.';
    END IF;
    IF storage IS NOT NULL AND EXISTS (
           SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
            WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = storage AND r.ev_class <> storage) THEN
        RAISE EXCEPTION 'cannot create target %.%: its storage name % is used by another target', quote_ident(nsp), quote_ident(rel), storage
            USING ERRCODE = 'duplicate_table', HINT = 'Use a target name whose first 56 bytes differ from the other''s.';
    END IF;
    IF storage IS NOT NULL THEN
        -- A storage table without its views (they went with DROP EXTENSION ... CASCADE) is adopted
        -- (the views are created again over it) if it is the caller's, with nothing of another
        -- role on it or on its partitions.
        PERFORM vs_ingest.check_part_owner(storage, owner, 'storage', format('%I.%I', nsp, rel), true);
        PERFORM vs_ingest.check_code_on(storage);
        FOR part IN SELECT p.part FROM vs_ingest.day_partitions(storage) p LOOP
            PERFORM vs_ingest.check_part_owner(part, owner, 'partition', storage::text, false);
            PERFORM vs_ingest.check_code_on(part);
        END LOOP;
        PERFORM vs_ingest.add_slot_checks(storage, false);
    ELSE
        EXECUTE format($ddl$
            CREATE TABLE %I.%I (
                link_id     bigint     NOT NULL,
                day         date       NOT NULL,
                block       smallint   NOT NULL CHECK (block BETWEEN 0 AND 3),
                hours       smallint   NOT NULL CHECK (hours BETWEEN 1 AND 63),
                speed       smallint[] NOT NULL,
                travel_time int[],
                -- (day, block, link_id): a block's rows append at the index's right edge, and a
                -- view query reaches one block of one day through the calendar (docs/storage.md).
                PRIMARY KEY (day, block, link_id)
            ) PARTITION BY RANGE (day)$ddl$, nsp, storage_rel);
        storage := format('%I.%I', nsp, storage_rel)::regclass;
        PERFORM vs_ingest.add_slot_checks(storage, true);
        -- One link's days: without it PostgreSQL 15 (no skip scan) reads every index page of
        -- every day for `link_id = X` (docs/storage.md).
        EXECUTE format('CREATE INDEX ON %s (link_id)', storage);
    END IF;
    EXECUTE format($c$COMMENT ON TABLE %s IS %L$c$, storage,
        'Link speeds loaded by vs_ingest, one row per link and block of six local hours (block 0-3 of day): '
        'slot 12 * h + i + 1 of speed (tenths of km/h) and travel_time is minutes 5i..5i+4 of hour 6 * block + h; '
        'bit h of hours: hour h has a sample. Query it through the view ' || format('%I.%I', nsp, rel) || '.');
    -- On a Citus node the views stay local: they join the calendar, a local catalog table, so
    -- Citus could not create them on the other nodes, and would warn so at every target. (Set
    -- back right after: a day partition of a distributed storage, later in this transaction, must
    -- reach the workers.)
    citus_ddl := current_setting('citus.enable_ddl_propagation', true);
    IF citus_ddl IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    END IF;
    EXECUTE format($view$
        CREATE VIEW %I.%I AS
        SELECT c.hour,
               b.link_id,
               vs_ingest.hour_speed(b.speed, c.hour_in_block) AS speed,
               coalesce(b.travel_time[c.first_slot:c.last_slot], '{NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL}'::int[]) AS travel_time,
               vs_ingest.hour_samples(b.speed, c.hour_in_block) AS samples,
               vs_ingest.hour_speed_avg(b.speed, c.hour_in_block) AS speed_avg,
               vs_ingest.hour_speed_min(b.speed, c.hour_in_block) AS speed_min,
               vs_ingest.hour_speed_max(b.speed, c.hour_in_block) AS speed_max,
               b.day AS local_day,
               c.local_hour
          FROM %s b
          JOIN vs_ingest.calendar_hour c ON c.local_day = b.day AND c.block = b.block
         WHERE c.time_zone = %L AND b.hours & c.hour_bit <> 0$view$, nsp, rel, storage, tz);
    hourly := format('%I.%I', nsp, rel)::regclass;
    EXECUTE format($c$COMMENT ON VIEW %s IS %L$c$, hourly,
        'Hourly link speeds loaded by vs_ingest (time zone ' || tz || '): twelve 5-minute slots per row '
        '(slot i = minutes 5i..5i+4); local_day and local_hour are the hour in that time zone.');
    PERFORM vs_ingest.create_five_min_view(format('%I.%I', nsp, five_min), storage, tz);
    IF citus_ddl IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', citus_ddl, true);
    END IF;
END
$$;

-- Creates the partition of `storage` for local day `day` unless one exists. It belongs to the
-- storage's owner, whoever loads (a superuser loading another role's target, for one).
CREATE FUNCTION vs_ingest.ensure_day_partition(storage regclass, day date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nsp name;
    rel name;
    owner oid;
    part text;
BEGIN
    SELECT n.nspname, c.relname, c.relowner INTO nsp, rel, owner
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = storage;
    -- (A rollup table's partitions are `_d...`: cut to 63 bytes, a long target's storage and
    -- rollup names can share their first bytes.)
    part := vs_ingest.derived_name(rel, CASE WHEN vs_ingest.has_days_shape(storage) THEN '_d' ELSE '_p' END
                                        || to_char(day, 'YYYYMMDD'));
    -- The day's partition usually exists: found without the lock below, which is held until the
    -- transaction ends (a loader's transaction is a whole day) and would make every other writer
    -- of the table wait at its first row of any day.
    IF vs_ingest.day_partition(storage, day) IS NOT NULL THEN
        RETURN;
    END IF;
    -- Serialise partition creation per table across sessions.
    PERFORM pg_advisory_xact_lock(hashtext('vs_ingest.partition'), hashtext(storage::text));
    IF vs_ingest.day_partition(storage, day) IS NOT NULL THEN
        RETURN;
    END IF;
    IF to_regclass(format('%I.%I', nsp, part)) IS NOT NULL THEN
        RAISE EXCEPTION 'cannot create the partition of % for %: % exists and is not one of its partitions',
                        storage, day, format('%I.%I', nsp, part)
            USING ERRCODE = 'duplicate_table',
                  HINT = 'Drop or rename that relation (vs_ingest never takes one over), or use a target name whose first 53 bytes differ.';
    END IF;
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                   nsp, part, storage, day, day + 1);
    -- PostgreSQL 15 costs a scan of the storage parameterized by (day, block), the views' join
    -- from the calendar, as a scan of every day's partition, each estimated at its whole block
    -- (its one value of `day` always matches), and does not count the run-time pruning that then
    -- reads one partition: it would rather hash-join every day. Telling it that `day` has 100
    -- values makes a probe's estimate the size of a block when about 100 days are stored, and
    -- within 4x of it from 25 to 400 days, so it takes the nested loop (docs/storage.md). A
    -- constant day is still estimated from the partition's statistics. (Citus does not take this
    -- ALTER on a distributed table, whose partition here is an empty shell anyway.)
    IF NOT vs_ingest.is_distributed(storage) THEN
        EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN day SET (n_distinct = 100)', nsp, part);
    END IF;
    IF owner <> (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user) THEN
        EXECUTE format('ALTER TABLE %I.%I OWNER TO %I', nsp, part, pg_get_userbyid(owner));
    END IF;
END
$$;

-- The instants of local hours 0..24 of `day` in `tz` (hour 24 is the next midnight), as epoch
-- microseconds: the writer stamps coverage with them.
CREATE FUNCTION vs_ingest.day_hours(day date, tz text) RETURNS bigint[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT array_agg((extract(epoch FROM ((day::timestamp + make_interval(hours => h)) AT TIME ZONE tz)) * 1000000)::bigint
                     ORDER BY h)
      FROM generate_series(0, 24) AS h
$$;

-- Adds local day `day` of `tz` to the calendar (run as the catalog's owner); true when it was new. Where a local hour
-- does not exist (a daylight-saving gap) it names the same instant as the next one, which keeps
-- it: hours are inserted from the last, and the first to claim an instant wins.
CREATE FUNCTION vs_ingest.fill_calendar(tz text, day date) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    stats name;
BEGIN
    -- Runs as the catalog's owner: only a real zone name, never a string a target's view holds.
    PERFORM vs_ingest.check_time_zone(tz);
    IF EXISTS (SELECT 1 FROM vs_ingest.calendar_hour
                WHERE time_zone = tz AND hour = (day::timestamp + interval '12 hours') AT TIME ZONE tz) THEN
        RETURN false;
    END IF;
    -- The local-time expressions analysts filter on get statistics of their own, so that the
    -- planner knows `extract(hour FROM hour AT TIME ZONE tz) IN (7, 8)` keeps 2 hours of 24.
    -- (Created once per zone; a concurrent first load of the zone waits for the other's commit.)
    stats := 'calendar_hour_' || left(md5(tz), 12);
    IF NOT EXISTS (SELECT 1 FROM pg_statistic_ext WHERE stxnamespace = 'vs_ingest'::regnamespace AND stxname = stats) THEN
        PERFORM pg_advisory_xact_lock(hashtext('vs_ingest.calendar'), hashtext(tz));
        IF NOT EXISTS (SELECT 1 FROM pg_statistic_ext WHERE stxnamespace = 'vs_ingest'::regnamespace AND stxname = stats) THEN
            EXECUTE format('CREATE STATISTICS vs_ingest.%I ON (extract(hour FROM hour AT TIME ZONE %L)), '
                           '(extract(isodow FROM hour AT TIME ZONE %L)), (extract(dow FROM hour AT TIME ZONE %L)), '
                           '((hour AT TIME ZONE %L)::date) FROM vs_ingest.calendar_hour', stats, tz, tz, tz, tz);
        END IF;
    END IF;
    INSERT INTO vs_ingest.calendar_hour AS c
        (time_zone, hour, local_day, local_hour, block, hour_in_block, hour_bit, first_slot, last_slot)
    SELECT tz, (day::timestamp + make_interval(hours => h)) AT TIME ZONE tz, day, h, h / 6, h % 6,
           (1 << (h % 6))::smallint, 12 * (h % 6) + 1, 12 * (h % 6) + 12
      FROM generate_series(23, 0, -1) AS h
    ON CONFLICT DO NOTHING;
    INSERT INTO vs_ingest.calendar_5min AS c (time_zone, ts, local_day, local_time, block, slot)
    SELECT tz, t AT TIME ZONE tz, day, t, s / 72, s % 72 + 1
      FROM generate_series(287, 0, -1) AS s
     CROSS JOIN LATERAL (SELECT day::timestamp + make_interval(mins => 5 * s) AS t) l
    ON CONFLICT DO NOTHING;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION vs_ingest.fill_calendar FROM PUBLIC;

-- Merges the staged block rows `stage` into `storage`: a slot already filled keeps its sample
-- (first sample wins). Returns the staged samples that were duplicates and the rows inserted or
-- changed.
CREATE FUNCTION vs_ingest.merge_staged(storage regclass, stage regclass, OUT duplicate bigint, OUT rows_written bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format($merge$
        WITH existing AS (
            SELECT coalesce(sum(cardinality(array_remove(s.speed, NULL)) - vs_ingest.slots_to_fill(t.speed, s.speed)), 0)::bigint
                   AS duplicate
              FROM %2$s s JOIN %1$s t ON t.day = s.day AND t.block = s.block AND t.link_id = s.link_id
        ), merged AS (
            INSERT INTO %1$s AS t SELECT * FROM %2$s
            ON CONFLICT (day, block, link_id) DO UPDATE SET
                hours = t.hours | excluded.hours,
                speed = vs_ingest.merge_speed(t.speed, excluded.speed),
                travel_time = vs_ingest.merge_travel_time(t.speed, t.travel_time, excluded.speed, excluded.travel_time)
            WHERE vs_ingest.slots_to_fill(t.speed, excluded.speed) > 0
            RETURNING 1
        )
        SELECT (SELECT duplicate FROM existing), (SELECT count(*) FROM merged)$merge$, storage, stage)
    INTO duplicate, rows_written;
END
$$;

-- The merge for a distributed target, of the block (`day`, `block`) staged in its colocated
-- stage: each statement runs shard by shard on the workers. Citus runs the steps of one statement
-- with CTEs one after the other, so they are separate statements here; the caller holds the
-- block's lock, so no other writer changes its rows in between. Counts as merge_staged.
CREATE FUNCTION vs_ingest.merge_staged_block(storage regclass, stage regclass, day date, block smallint,
                                             OUT duplicate bigint, OUT rows_written bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    inserted bigint;
BEGIN
    EXECUTE format($q$
        SELECT coalesce(sum(cardinality(array_remove(t.speed, NULL)) - vs_ingest.slots_to_fill(s.speed, t.speed)), 0)::bigint
          FROM %1$s s JOIN %2$s t ON t.link_id = s.link_id AND t.day = s.day AND t.block = s.block
         WHERE s.day = $1 AND s.block = $2 AND t.day = $1 AND t.block = $2$q$, storage, stage)
       INTO duplicate USING day, block;
    EXECUTE format($q$
        UPDATE %1$s s SET hours = s.hours | t.hours,
                          speed = vs_ingest.merge_speed(s.speed, t.speed),
                          travel_time = vs_ingest.merge_travel_time(s.speed, s.travel_time, t.speed, t.travel_time)
          FROM %2$s t
         WHERE t.link_id = s.link_id AND t.day = s.day AND t.block = s.block
           AND s.day = $1 AND s.block = $2 AND t.day = $1 AND t.block = $2
           AND vs_ingest.slots_to_fill(s.speed, t.speed) > 0$q$, storage, stage)
      USING day, block;
    GET DIAGNOSTICS rows_written = ROW_COUNT;
    EXECUTE format($q$
        INSERT INTO %1$s SELECT t.* FROM %2$s t
         WHERE t.day = $1 AND t.block = $2
           AND NOT EXISTS (SELECT 1 FROM %1$s s WHERE s.link_id = t.link_id AND s.day = $1 AND s.block = $2)$q$,
        storage, stage)
      USING day, block;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    rows_written := rows_written + inserted;
    EXECUTE format('DELETE FROM %s WHERE day = $1 AND block = $2', stage) USING day, block;
END
$$;

-- Converting a target of 0.1.0 (one row per link and hour) into this layout, for
-- vs_ingest_convert_target (src/api/convert.rs). Step 1, as the caller (the table's owner):
-- renames the old table to <name>_v0_1, creates the target under the old name and the partitions
-- of its local days; returns the old table and those days.
CREATE FUNCTION vs_ingest.convert_prepare(target text, tz text, OUT old_table regclass, OUT days date[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old regclass := to_regclass(target);
    nsp text;
    rel text;
    kept text;
    storage regclass;
BEGIN
    IF old IS NULL THEN
        RAISE EXCEPTION 'table "%" does not exist', target
            USING ERRCODE = 'undefined_table', HINT = 'Name a table that vs_ingest 0.1.0 loaded into.';
    END IF;
    IF NOT vs_ingest.is_v0_1_table(old) THEN
        RAISE EXCEPTION '% is not a table of vs_ingest 0.1.0', old
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Only a partitioned table with one row per link and hour, as 0.1.0 created it, is converted.';
    END IF;
    SELECT n.nspname, c.relname INTO nsp, rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = old;
    kept := vs_ingest.derived_name(rel, '_v0_1');
    IF to_regclass(format('%I.%I', nsp, kept)) IS NOT NULL THEN
        RAISE EXCEPTION 'cannot keep % as %.%: that name is taken', old, nsp, kept
            USING ERRCODE = 'duplicate_table', HINT = 'Rename or drop that relation first.';
    END IF;
    EXECUTE format('ALTER TABLE %s RENAME TO %I', old, kept);
    SELECT e.storage INTO storage FROM vs_ingest.ensure_target(format('%I.%I', nsp, rel), tz) e;
    EXECUTE format('SELECT coalesce(array_agg(DISTINCT (hour AT TIME ZONE %L)::date), ''{}'') FROM %s', tz, old) INTO days;
    PERFORM vs_ingest.ensure_day_partition(storage, d) FROM unnest(days) AS d;
    old_table := old;
END
$$;

-- Step 2, as the caller, after the calendar has the days: each link's hours of a block become one
-- row. Returns the hourly rows converted and the target's view.
CREATE FUNCTION vs_ingest.convert_rows(old regclass, target text, tz text, OUT rows bigint, OUT view regclass)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    storage regclass;
    collisions bigint;
    grant_row record;
BEGIN
    view := to_regclass(target);
    storage := vs_ingest.storage_of(view);
    -- Two hourly rows of one link on the same local hour (a table loaded in another time zone, or
    -- a daylight-saving day) would overwrite each other's slots: refuse rather than lose them.
    EXECUTE format('SELECT count(*) - count(DISTINCT (link_id, hour AT TIME ZONE %L)) FROM %s WHERE samples > 0', tz, old)
       INTO collisions;
    IF collisions > 0 THEN
        RAISE EXCEPTION '% hourly rows of % fall on the same local hour of time zone % as another row of their link', collisions, old, tz
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Convert with the time zone the table was loaded with (its partitions start at that zone''s midnights).';
    END IF;
    EXECUTE format($q$
        INSERT INTO %s (link_id, day, block, hours, speed, travel_time)
        SELECT link_id, day, block, bit_or(1 << hour_in_block)::smallint,
               vs_ingest.block_speed(array_agg(hour_in_block ORDER BY hour_in_block), array_agg(speed ORDER BY hour_in_block)),
               vs_ingest.block_travel_time(array_agg(hour_in_block ORDER BY hour_in_block),
                                           array_agg(travel_time ORDER BY hour_in_block))
          FROM (SELECT link_id, l::date AS day, (extract(hour FROM l)::int / 6)::smallint AS block,
                       (extract(hour FROM l)::int %% 6)::smallint AS hour_in_block, speed, travel_time
                  FROM %s CROSS JOIN LATERAL (SELECT hour AT TIME ZONE %L AS l) AS x
                 WHERE samples > 0) AS h
         GROUP BY link_id, day, block$q$, storage, old, tz);
    EXECUTE format('SELECT count(*) FROM %s WHERE samples > 0', old) INTO rows;
    -- Whoever could use the old table can use the target: its privileges go to the view (SELECT)
    -- and to the storage (all of them).
    FOR grant_row IN
        SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee
          FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
         WHERE c.oid = old AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON %s TO %s', grant_row.privilege_type, storage, grant_row.grantee);
        IF grant_row.privilege_type = 'SELECT' THEN
            EXECUTE format('GRANT SELECT ON %s TO %s', view, grant_row.grantee);
        END IF;
    END LOOP;
    RAISE NOTICE '% hourly rows of % are now in %; drop % when you have checked them', rows, old, view, old;
END
$$;
