-- vs_ingest 0.2.0 -> 0.3.0, run by ALTER EXTENSION vs_ingest UPDATE. After it, an installation
-- of 0.2.0 has the objects of a fresh 0.3.0 and keeps its ledger, sources, coverage and targets.
-- Unlike 0.1.0 -> 0.2.0, functions are replaced in place (CREATE OR REPLACE), never dropped
-- wholesale: the targets' views (owned by the loading roles) use the extension's C functions.
-- What changed and why: docs/catalog-changes.md ("0.3.0").
\echo Use "ALTER EXTENSION vs_ingest UPDATE" to load this file. \quit

------------------------------------------------------------------------------------------------
-- 1. Trust: objects a load adopts, code it runs (issue 17, items 1, 5, 6, 7).
------------------------------------------------------------------------------------------------
-- The storage's CHECK function (src/api/hours.rs).
CREATE FUNCTION vs_ingest.speed_fits(speed smallint[], hours smallint) RETURNS boolean
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_speed_fits';
COMMENT ON FUNCTION vs_ingest.speed_fits IS 'The storage''s CHECK: 72 speed slots from subscript 1, and hours marks exactly the hours with a sample.';

-- Every function of src/sql/target.sql, as a fresh 0.3.0 has it (new ones created, changed ones
-- replaced in place: the targets' views depend on none of these).
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
CREATE OR REPLACE FUNCTION vs_ingest.has_block_shape(rel oid) RETURNS boolean
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
CREATE OR REPLACE FUNCTION vs_ingest.is_v0_1_table(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = rel)
       AND (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
             WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped)
           IS NOT DISTINCT FROM ARRAY['hour', 'link_id', 'speed', 'travel_time', 'samples', 'speed_avg', 'speed_min', 'speed_max']
$$;

-- Raises 22023 unless `tz` names a time zone (pg_timezone_names): targets and the calendar take
-- only real zone names.
CREATE OR REPLACE FUNCTION vs_ingest.check_time_zone(tz text) RETURNS void
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
CREATE OR REPLACE FUNCTION vs_ingest.derived_name(rel text, suffix text) RETURNS text
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
CREATE OR REPLACE FUNCTION vs_ingest.may_run_code_of(owner oid) RETURNS boolean
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
CREATE OR REPLACE FUNCTION vs_ingest.code_on(rel regclass, OUT what text, OUT owner oid) RETURNS SETOF record
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
CREATE OR REPLACE FUNCTION vs_ingest.foreign_definitions(rel regclass) RETURNS SETOF text
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
CREATE OR REPLACE FUNCTION vs_ingest.check_code_on(rel regclass) RETURNS void
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
CREATE OR REPLACE FUNCTION vs_ingest.check_part_owner(rel regclass, owner oid, part text, target text, exact boolean)
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
CREATE OR REPLACE FUNCTION vs_ingest.check_write(storage regclass, part regclass) RETURNS void
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
CREATE OR REPLACE FUNCTION vs_ingest.day_partition(storage regclass, day date) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.part FROM vs_ingest.day_partitions(storage) p WHERE day >= p.lo AND day < p.hi
$$;

-- The day partitions of a storage table, with the local days each holds, [lo, hi).
CREATE OR REPLACE FUNCTION vs_ingest.day_partitions(storage regclass, OUT part regclass, OUT lo date, OUT hi date)
RETURNS SETOF record LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.oid::regclass,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::date,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::date
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = storage AND NOT i.inhdetachpending
$$;

-- The storage table behind a target view, or NULL when `target` is not one: the partitioned
-- table of block rows its definition reads.
CREATE OR REPLACE FUNCTION vs_ingest.storage_of(target regclass) RETURNS regclass
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
CREATE OR REPLACE FUNCTION vs_ingest.is_distributed(rel regclass) RETURNS boolean
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
CREATE OR REPLACE FUNCTION vs_ingest.stage_of(storage regclass) RETURNS regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT to_regclass(format('%I.%I', n.nspname, vs_ingest.derived_name(c.relname, '_stage')))
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = storage
$$;

-- Whether `stage` can serve as the stage of `storage`: a distributed plain table of the storage's
-- shape and owner, without triggers of its own. (A role with CREATE on the schema could create a
-- table of that name first; every load would then run its triggers.)
CREATE OR REPLACE FUNCTION vs_ingest.is_stage_of(stage regclass, storage regclass) RETURNS boolean
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
CREATE OR REPLACE FUNCTION vs_ingest.distribute_target(hourly regclass, shard_count int) RETURNS void
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
CREATE OR REPLACE FUNCTION vs_ingest.time_zone_of(target regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT replace((regexp_match(pg_get_viewdef(target), 'c\.time_zone = ''((?:[^'']|'''')*)''::text'))[1], '''''', '''')
$$;

-- The CHECKs every storage table carries, in one place: each array has 72 slots subscripted from
-- 1 (the views read slots both by subscript and by position), and `hours` has bit h set exactly
-- when hour h of the block has a sample (the hourly view shows the hours it marks). Added as NOT
-- VALID where the table may hold rows (the upgrade; an adopted storage): new rows are checked at
-- once, `ALTER TABLE ... VALIDATE CONSTRAINT` checks the old ones when its owner chooses.
CREATE OR REPLACE FUNCTION vs_ingest.add_slot_checks(storage regclass, validate boolean) RETURNS void
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
CREATE OR REPLACE FUNCTION vs_ingest.create_five_min_view(view text, storage regclass, tz text) RETURNS void
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
CREATE OR REPLACE FUNCTION vs_ingest.ensure_target(target text, tz text, OUT hourly regclass, OUT storage regclass)
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
CREATE OR REPLACE FUNCTION vs_ingest.ensure_day_partition(storage regclass, day date) RETURNS void
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
CREATE OR REPLACE FUNCTION vs_ingest.day_hours(day date, tz text) RETURNS bigint[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT array_agg((extract(epoch FROM ((day::timestamp + make_interval(hours => h)) AT TIME ZONE tz)) * 1000000)::bigint
                     ORDER BY h)
      FROM generate_series(0, 24) AS h
$$;

-- Adds local day `day` of `tz` to the calendar (run as the catalog's owner); true when it was new. Where a local hour
-- does not exist (a daylight-saving gap) it names the same instant as the next one, which keeps
-- it: hours are inserted from the last, and the first to claim an instant wins.
CREATE OR REPLACE FUNCTION vs_ingest.fill_calendar(tz text, day date) RETURNS boolean
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
CREATE OR REPLACE FUNCTION vs_ingest.merge_staged(storage regclass, stage regclass, OUT duplicate bigint, OUT rows_written bigint)
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
CREATE OR REPLACE FUNCTION vs_ingest.merge_staged_block(storage regclass, stage regclass, day date, block smallint,
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
CREATE OR REPLACE FUNCTION vs_ingest.convert_prepare(target text, tz text, OUT old_table regclass, OUT days date[])
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
CREATE OR REPLACE FUNCTION vs_ingest.convert_rows(old regclass, target text, tz text, OUT rows bigint, OUT view regclass)
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

-- Helpers that create tables and views run as the loading role (src/sql/api.sql).
REVOKE ALL ON FUNCTION vs_ingest.add_slot_checks, vs_ingest.create_five_min_view FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.add_slot_checks, vs_ingest.create_five_min_view TO pg_read_server_files;

-- Existing targets (0.2.0 created them; they are their loading roles' objects, not the
-- extension's): their storage gets the CHECKs of the stored layout, NOT VALID (new rows are
-- checked; `ALTER TABLE ... VALIDATE CONSTRAINT vs_ingest_speed_slots` checks the old ones, a scan
-- of the whole storage, when its owner chooses), and their 5-minute view, whose speed was double
-- precision, is made again with the hourly view's `real` (same owner, privileges and comment). A
-- 5-minute view that other views depend on is left as it was, with a WARNING.
DO $targets$
DECLARE
    t record;
    five record;
    grant_row record;
BEGIN
    -- The targets: hourly views over a storage (those that read calendar_hour).
    FOR t IN
        SELECT v.oid::regclass AS hourly, n.nspname, v.relname, s.storage, vs_ingest.time_zone_of(v.oid) AS tz
          FROM pg_catalog.pg_class v
          JOIN pg_catalog.pg_namespace n ON n.oid = v.relnamespace
         CROSS JOIN LATERAL (SELECT vs_ingest.storage_of(v.oid) AS storage) s
         WHERE v.relkind = 'v' AND s.storage IS NOT NULL AND vs_ingest.time_zone_of(v.oid) IS NOT NULL
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_depend k
                          ON k.classid = 'pg_catalog.pg_rewrite'::regclass AND k.objid = r.oid
                       WHERE r.ev_class = v.oid AND k.refobjid = 'vs_ingest.calendar_hour'::regclass)
         ORDER BY v.oid
    LOOP
        PERFORM vs_ingest.add_slot_checks(t.storage, false);
        -- Its 5-minute view, by the name 0.2.0 gave it, if it is still that: a view of the same
        -- storage over calendar_5min with a double precision speed.
        FOR five IN
            SELECT c.oid::regclass AS view, c.relowner, c.relacl, c.reloptions,
                   pg_catalog.format('%I.%I', t.nspname, c.relname) AS name,
                   pg_catalog.obj_description(c.oid, 'pg_class') AS comment
              FROM pg_catalog.pg_class c
             WHERE c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = t.nspname)
               AND c.relkind = 'v'
               AND c.relname = CASE WHEN t.relname ~ '_hourly$' THEN pg_catalog.regexp_replace(t.relname, '_hourly$', '_5min')
                                    ELSE pg_catalog.left(t.relname, 58) || '_5min' END
               AND vs_ingest.storage_of(c.oid) = t.storage
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_depend k
                              ON k.classid = 'pg_catalog.pg_rewrite'::regclass AND k.objid = r.oid
                           WHERE r.ev_class = c.oid AND k.refobjid = 'vs_ingest.calendar_5min'::regclass)
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = c.oid AND a.attname = 'speed'
                              AND a.atttypid = 'pg_catalog.float8'::regtype)
        LOOP
            BEGIN
                EXECUTE pg_catalog.format('DROP VIEW %s', five.view);
                PERFORM vs_ingest.create_five_min_view(five.name, t.storage, t.tz);
                -- Made inside the extension's script, the view became a member: it is the role's.
                IF EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                            WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = five.name::regclass
                              AND e.deptype = 'e') THEN
                    EXECUTE pg_catalog.format('ALTER EXTENSION vs_ingest DROP VIEW %s', five.name);
                END IF;
                EXECUTE pg_catalog.format('ALTER VIEW %s OWNER TO %I', five.name, pg_catalog.pg_get_userbyid(five.relowner));
                IF five.reloptions IS NOT NULL THEN
                    EXECUTE pg_catalog.format('ALTER VIEW %s SET (%s)', five.name, pg_catalog.array_to_string(five.reloptions, ', '));
                END IF;
                FOR grant_row IN
                    SELECT a.privilege_type,
                           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END AS grantee,
                           a.is_grantable
                      FROM pg_catalog.aclexplode(five.relacl) a WHERE a.grantee <> five.relowner
                LOOP
                    EXECUTE pg_catalog.format('GRANT %s ON %s TO %s%s', grant_row.privilege_type, five.name,
                                              grant_row.grantee, CASE WHEN grant_row.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
                END LOOP;
                IF five.comment IS NOT NULL THEN
                    EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', five.name, five.comment);
                END IF;
            EXCEPTION WHEN dependent_objects_still_exist THEN
                RAISE WARNING 'the 5-minute view % was left as it was: other objects depend on it', five.view
                    USING HINT = pg_catalog.format('Its speed stays double precision. To give it the hourly view''s real: '
                                                   'drop the views that use it, then DROP VIEW %s; '
                                                   'SELECT vs_ingest.create_five_min_view(%L, %L, %L);',
                                                   five.name, five.name, t.storage::text, t.tz);
            END;
        END LOOP;
    END LOOP;
END
$targets$;

------------------------------------------------------------------------------------------------
-- 2. Visibility by identity; functions that run with the catalog owner's rights (issue 17,
--    items 2 and 3).
------------------------------------------------------------------------------------------------

-- Runs and sources name their role by oid (who it is); the names stay, for display. A role that
-- no longer exists gets NULL: its runs are seen by pg_monitor, superusers and the target's owner
-- (resumed by nobody), and its sources run for nobody.
ALTER TABLE vs_ingest.run ADD COLUMN started_by_oid oid;
UPDATE vs_ingest.run SET started_by_oid = pg_catalog.to_regrole(pg_catalog.quote_ident(started_by))::oid;
ALTER TABLE vs_ingest.source ADD COLUMN owner_oid oid;
UPDATE vs_ingest.source SET owner_oid = pg_catalog.to_regrole(pg_catalog.quote_ident(owner))::oid;

-- Who sees a run: by the starter's and the target's oids, never by a name (to_regclass raised
-- 42501 for every reader once any run's target was in a schema the reader may not use).
DROP POLICY own_runs ON vs_ingest.run;
DROP FUNCTION vs_ingest.sees_run(name, text);
CREATE FUNCTION vs_ingest.sees_run(started_by_oid oid, target_oid oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_has_role('pg_monitor', 'USAGE')
        OR CASE WHEN EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = sees_run.started_by_oid)
                THEN pg_has_role(sees_run.started_by_oid, 'USAGE') ELSE false END
        OR coalesce((SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = c.relowner)
                                 THEN pg_has_role(c.relowner, 'USAGE') ELSE false END
                       FROM pg_class c WHERE c.oid = sees_run.target_oid), false)
$$;
CREATE OR REPLACE FUNCTION vs_ingest.sees_rejects(file_id bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles a WHERE a.oid = r.started_by_oid)
                                 THEN pg_has_role(r.started_by_oid, 'USAGE') ELSE false END
                       FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                      WHERE f.file_id = $1), false)
$$;
CREATE POLICY own_runs ON vs_ingest.run FOR SELECT USING (vs_ingest.sees_run(started_by_oid, target_oid));

-- forget_coverage was SECURITY DEFINER, with no check of who called it: any loader could delete
-- another role's coverage. It becomes the Rust function (src/api/retention.rs) that checks the
-- caller has the privileges of the target's owner and then deletes as the catalog's owner: same
-- name, arguments, result and grants (CREATE OR REPLACE keeps them; it also drops SECURITY
-- DEFINER and the SET clause, which a C function of the extension does not have).
CREATE OR REPLACE FUNCTION vs_ingest.forget_coverage(table_name text, lo timestamptz, hi timestamptz)
RETURNS bigint VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'forget_coverage_wrapper';

------------------------------------------------------------------------------------------------
-- 3. Local times that do not exist (issue 17, item 4).
------------------------------------------------------------------------------------------------

-- New: the local times a load rejects as nonexistent_time (src/sql/time_zone.sql, as there).
-- The local 5-minute slots (their start, as a local timestamp) that do not exist in time zone
-- `tz` between 1970-01-01 and 2100-12-31: those that clocks skip when they go forward (daylight
-- saving begins, or the zone moves to a later offset; Pacific/Apia skipped 2011-12-30 whole). A
-- slot does not exist when `(t AT TIME ZONE tz) AT TIME ZONE tz <> t`: PostgreSQL reads such a
-- time with the offset in force before the change, which names a later local time.
--
-- Checking every slot of 131 years is slow (13.8 million), so: a gap ends on a day whose next
-- midnight comes less than 24 hours after its own; on such a day, in an hour whose end comes
-- less than an hour after its start, by as much as it is short (g); so only the slots of the g
-- before that hour and of the hour itself are checked (the gap may begin the day before). About
-- 2 conversions a day, ~50 ms, plus ~40 ms for check_time_zone (docs/storage.md). JIT is off: the
-- planner takes the series for 1000 rows each, and compiling would cost more than the query.
CREATE FUNCTION vs_ingest.local_time_gaps(tz text) RETURNS SETOF timestamp
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET jit = off AS $$
BEGIN
    PERFORM vs_ingest.check_time_zone(tz);
    RETURN QUERY
    WITH short_day AS (
        SELECT d FROM generate_series(timestamp '1970-01-01', timestamp '2100-12-31', interval '1 day') AS d
         WHERE ((d + interval '1 day') AT TIME ZONE tz) - (d AT TIME ZONE tz) < interval '24 hours'
    ), gap_end AS (
        SELECT h, interval '1 hour' - (((h + interval '1 hour') AT TIME ZONE tz) - (h AT TIME ZONE tz)) AS g
          FROM short_day CROSS JOIN LATERAL generate_series(d, d + interval '23 hours', interval '1 hour') AS h
         WHERE ((h + interval '1 hour') AT TIME ZONE tz) - (h AT TIME ZONE tz) < interval '1 hour'
    )
    SELECT DISTINCT t
      FROM gap_end
     CROSS JOIN LATERAL generate_series(date_trunc('hour', h - g), h + interval '55 minutes', interval '5 minutes') AS t
     WHERE (t AT TIME ZONE tz) AT TIME ZONE tz <> t
     ORDER BY t;
END
$$;

------------------------------------------------------------------------------------------------
-- 4. Daily rollups kept by the load (issue 18).
------------------------------------------------------------------------------------------------
-- Their functions (src/write/rollup.rs).
CREATE FUNCTION vs_ingest.rebuild_days(storage oid, days oid, day date, links bigint[]) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'rebuild_days_wrapper';
CREATE FUNCTION vs_ingest.link_rollups(days oid, storage oid) RETURNS void
VOLATILE STRICT LANGUAGE c AS 'MODULE_PATHNAME', 'link_rollups_wrapper';
CREATE FUNCTION vs_ingest.hours_plus(acc integer[], add integer[], sign integer) RETURNS integer[]
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'hours_plus_wrapper';
-- Their quality thresholds (src/api/quality.rs).
CREATE FUNCTION vs_ingest.quality_thresholds()
RETURNS TABLE (stuck_slots int, max_speed double precision, max_jump double precision, max_missing_rate double precision)
STABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'quality_thresholds_wrapper';

-- src/sql/rollup.sql, as a fresh 0.3.0 has it.
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

-- Retention detaches or drops a day's rollups with its rows (src/sql/history.sql).
-- Detaches or drops the daily partitions of `target`'s storage whose local day ended more than
-- `retain` ago (pg_partman style). Dropping a day also forgets its coverage. Returns the
-- partitions' names.
CREATE OR REPLACE FUNCTION vs_ingest.apply_retention(target text, retain interval, action text)
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

-- Helpers that create tables and views run as the loading role (src/sql/api.sql).
REVOKE ALL ON FUNCTION vs_ingest.ensure_rollups, vs_ingest.rebuild_days, vs_ingest.link_rollups FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.ensure_rollups, vs_ingest.rebuild_days, vs_ingest.link_rollups TO pg_read_server_files;

-- Existing targets get their rollup tables now; the days they store are built afterwards, a day
-- per transaction, by CALL vs_ingest_build_rollups() (or by a load into the day): a year in this
-- one transaction would be hours lost to any interruption. Their monthly rollups too (made empty
-- with them; building a day adds it). A distributed target gets both at its next load from the
-- Citus coordinator (or its next vs_ingest_create_target(..., distributed => true)), which
-- distributes them as Citus runs DDL there: not from this script. A target whose
-- rollup table or view name is taken by another relation is left without, with a WARNING; its
-- next load reports the conflict.
DO $rollups$
DECLARE
    t record;
    made regclass;
    to_build bigint;
    member record;
BEGIN
    FOR t IN
        SELECT v.oid::regclass AS hourly, s.storage
          FROM pg_catalog.pg_class v
         CROSS JOIN LATERAL (SELECT vs_ingest.storage_of(v.oid) AS storage) s
         WHERE v.relkind = 'v' AND s.storage IS NOT NULL AND vs_ingest.time_zone_of(v.oid) IS NOT NULL
           AND NOT vs_ingest.is_distributed(s.storage)
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_depend k
                          ON k.classid = 'pg_catalog.pg_rewrite'::regclass AND k.objid = r.oid
                       WHERE r.ev_class = v.oid AND k.refobjid = 'vs_ingest.calendar_hour'::regclass)
         ORDER BY v.oid
    LOOP
        BEGIN
            made := vs_ingest.ensure_rollups(t.hourly, t.storage);
            -- (An extension script's NOTICEs are not shown: this one is a WARNING.)
            to_build := (SELECT pg_catalog.count(*) FROM vs_ingest.rollup_days_to_build() b WHERE b.days = made);
            IF to_build > 0 THEN
                RAISE WARNING 'the daily rollups of % are to be built for the % days it stored before this update',
                              t.hourly, to_build
                    USING HINT = 'CALL vs_ingest_build_rollups() builds them, a day per transaction; until then '
                                 'vs_ingest.rollups_to_build lists the days the daily and quality views lack.';
            END IF;
            -- Made in this script, they were recorded as the extension's: they are the target's
            -- owner's, like its storage (DROP EXTENSION never drops loaded data).
            FOR member IN
                SELECT c.oid::regclass AS rel, c.relkind
                  FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class c ON c.oid = d.objid
                 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'e'
                   AND d.refclassid = 'pg_catalog.pg_extension'::regclass
                   AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'vs_ingest')
                   AND (c.oid IN (made, vs_ingest.months_of(made))
                        OR c.oid IN (SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = made)
                        OR c.oid IN (SELECT r.ev_class FROM pg_catalog.pg_rewrite r
                                       JOIN pg_catalog.pg_depend k ON k.classid = 'pg_catalog.pg_rewrite'::regclass
                                                                  AND k.objid = r.oid
                                      WHERE k.refobjid IN (made, vs_ingest.months_of(made))
                                        AND r.ev_class NOT IN (made, vs_ingest.months_of(made))))
                 ORDER BY c.relkind = 'v' DESC
            LOOP
                EXECUTE pg_catalog.format('ALTER EXTENSION vs_ingest DROP %s %s',
                                          CASE member.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, member.rel);
            END LOOP;
        EXCEPTION WHEN duplicate_table OR insufficient_privilege OR wrong_object_type THEN
            RAISE WARNING 'target % keeps no daily rollups for now: %', t.hourly, SQLERRM;
        END;
    END LOOP;
END
$rollups$;

------------------------------------------------------------------------------------------------
-- 5. Corrections: replace => true (issue 23; src/write/replace.rs).
------------------------------------------------------------------------------------------------
ALTER TABLE vs_ingest.source ADD COLUMN replace boolean NOT NULL DEFAULT false;
-- Alerts (issue 20; section 9).
ALTER TABLE vs_ingest.source ADD COLUMN due_after interval CHECK (due_after >= interval '0'),
                             ADD COLUMN min_coverage real CHECK (min_coverage BETWEEN 0 AND 1);
-- Files loaded before 0.3.0 have no days recorded: a replacement cannot tell that they filled a
-- day, and leaves their ledger rows `loaded` (docs/catalog-changes.md).
ALTER TABLE vs_ingest.file ADD COLUMN days date[], ADD COLUMN superseded_by bigint;
ALTER TABLE vs_ingest.file DROP CONSTRAINT file_status_check;
ALTER TABLE vs_ingest.file ADD CONSTRAINT file_status_check
    CHECK (status IN ('pending', 'loading', 'loaded', 'skipped', 'changed', 'failed', 'cancelled', 'resumed',
                      'superseded'));

-- History pruning keeps superseded rows (src/sql/history.sql, as a fresh 0.3.0 has it).
CREATE OR REPLACE FUNCTION vs_ingest.prune_history(days int, OUT runs bigint, OUT files bigint, OUT rejects bigint)
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

-- The load and source functions take `replace` (last, so calls by position keep working).
DROP FUNCTION public.vs_ingest_dir(text, text, text, text, text, double precision, boolean, boolean, text);
DROP FUNCTION vs_ingest.vs_ingest_dir(text, text, text, text, text, double precision, boolean, boolean, text);
DROP FUNCTION public.vs_ingest_file(text, text, text, text, double precision, boolean, boolean);
DROP FUNCTION vs_ingest.vs_ingest_file(text, text, text, text, double precision, boolean, boolean);
DROP FUNCTION public.vs_ingest_add_source(text, text, text, interval, text, text, text, double precision, boolean,
                                          interval, text, boolean);
DROP FUNCTION vs_ingest.vs_ingest_add_source(text, text, text, interval, text, text, text, double precision, boolean,
                                             interval, text, boolean);
DROP FUNCTION public.vs_ingest_alter_source(text, text, text, interval, text, text, text, double precision, boolean,
                                            interval, text, boolean);
DROP FUNCTION vs_ingest.vs_ingest_alter_source(text, text, text, interval, text, text, text, double precision,
                                               boolean, interval, text, boolean);

CREATE FUNCTION vs_ingest.vs_ingest_dir(
	"dir" TEXT,
	"pattern" TEXT DEFAULT '*',
	"target" TEXT DEFAULT 'public.vs_its_hourly',
	"format" TEXT DEFAULT 'its_5min',
	"source_timezone" TEXT DEFAULT NULL,
	"max_reject_ratio" double precision DEFAULT NULL,
	"reload_changed" bool DEFAULT false,
	"wait" bool DEFAULT true,
	"nodes" TEXT DEFAULT NULL,
	"replace" bool DEFAULT false,
	"links" TEXT DEFAULT NULL,
	"unknown_links" TEXT DEFAULT NULL
) RETURNS vs_ingest.load_summary VOLATILE PARALLEL UNSAFE LANGUAGE c
AS 'MODULE_PATHNAME', 'vs_ingest_dir_wrapper';

CREATE FUNCTION vs_ingest.vs_ingest_file(
	"path" TEXT,
	"target" TEXT DEFAULT 'public.vs_its_hourly',
	"format" TEXT DEFAULT 'its_5min',
	"source_timezone" TEXT DEFAULT NULL,
	"max_reject_ratio" double precision DEFAULT NULL,
	"reload_changed" bool DEFAULT false,
	"wait" bool DEFAULT true,
	"replace" bool DEFAULT false,
	"links" TEXT DEFAULT NULL,
	"unknown_links" TEXT DEFAULT NULL
) RETURNS vs_ingest.load_summary VOLATILE PARALLEL UNSAFE LANGUAGE c
AS 'MODULE_PATHNAME', 'vs_ingest_file_wrapper';

CREATE FUNCTION vs_ingest.vs_ingest_add_source(
	"name" TEXT,
	"dir" TEXT,
	"pattern" TEXT DEFAULT '*',
	"every" interval DEFAULT '1 minute',
	"target" TEXT DEFAULT 'public.vs_its_hourly',
	"format" TEXT DEFAULT 'its_5min',
	"source_timezone" TEXT DEFAULT NULL,
	"max_reject_ratio" double precision DEFAULT NULL,
	"reload_changed" bool DEFAULT false,
	"retain" interval DEFAULT NULL,
	"retain_action" TEXT DEFAULT 'detach',
	"enabled" bool DEFAULT true,
	"replace" bool DEFAULT false,
	"due_after" interval DEFAULT NULL,
	"min_coverage" double precision DEFAULT NULL,
	"links" TEXT DEFAULT NULL,
	"unknown_links" TEXT DEFAULT NULL
) RETURNS INT VOLATILE PARALLEL UNSAFE LANGUAGE c
AS 'MODULE_PATHNAME', 'vs_ingest_add_source_wrapper';

CREATE FUNCTION vs_ingest.vs_ingest_alter_source(
	"name" TEXT,
	"dir" TEXT DEFAULT NULL,
	"pattern" TEXT DEFAULT NULL,
	"every" interval DEFAULT NULL,
	"target" TEXT DEFAULT NULL,
	"format" TEXT DEFAULT NULL,
	"source_timezone" TEXT DEFAULT NULL,
	"max_reject_ratio" double precision DEFAULT NULL,
	"reload_changed" bool DEFAULT NULL,
	"retain" interval DEFAULT NULL,
	"retain_action" TEXT DEFAULT NULL,
	"enabled" bool DEFAULT NULL,
	"replace" bool DEFAULT NULL,
	"due_after" interval DEFAULT NULL,
	"min_coverage" double precision DEFAULT NULL,
	"links" TEXT DEFAULT NULL,
	"unknown_links" TEXT DEFAULT NULL
) RETURNS void VOLATILE PARALLEL UNSAFE LANGUAGE c
AS 'MODULE_PATHNAME', 'vs_ingest_alter_source_wrapper';

-- The public wrappers, as src/sql/api.sql has them.
CREATE FUNCTION public.vs_ingest_dir(
    dir text,
    pattern text DEFAULT '*',
    target text DEFAULT 'public.vs_its_hourly',
    format text DEFAULT 'its_5min',
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT false,
    wait boolean DEFAULT true,
    nodes text DEFAULT NULL,
    replace boolean DEFAULT false,
    links text DEFAULT NULL,
    unknown_links text DEFAULT NULL
) RETURNS vs_ingest.load_summary LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_dir(dir, pattern, target, format, source_timezone, max_reject_ratio, reload_changed, wait, nodes, replace, links, unknown_links) $$;

CREATE FUNCTION public.vs_ingest_file(
    path text,
    target text DEFAULT 'public.vs_its_hourly',
    format text DEFAULT 'its_5min',
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT false,
    wait boolean DEFAULT true,
    replace boolean DEFAULT false,
    links text DEFAULT NULL,
    unknown_links text DEFAULT NULL
) RETURNS vs_ingest.load_summary LANGUAGE sql VOLATILE
AS $$ SELECT * FROM vs_ingest.vs_ingest_file(path, target, format, source_timezone, max_reject_ratio, reload_changed, wait, replace, links, unknown_links) $$;

CREATE FUNCTION public.vs_ingest_add_source(
    name text,
    dir text,
    pattern text DEFAULT '*',
    every interval DEFAULT '1 minute',
    target text DEFAULT 'public.vs_its_hourly',
    format text DEFAULT 'its_5min',
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT false,
    retain interval DEFAULT NULL,
    retain_action text DEFAULT 'detach',
    enabled boolean DEFAULT true,
    replace boolean DEFAULT false,
    due_after interval DEFAULT NULL,
    min_coverage double precision DEFAULT NULL,
    links text DEFAULT NULL,
    unknown_links text DEFAULT NULL
) RETURNS int LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_add_source(name, dir, pattern, every, target, format, source_timezone,
                                            max_reject_ratio, reload_changed, retain, retain_action, enabled,
                                            replace, due_after, min_coverage, links, unknown_links) $$;

CREATE FUNCTION public.vs_ingest_alter_source(
    name text,
    dir text DEFAULT NULL,
    pattern text DEFAULT NULL,
    every interval DEFAULT NULL,
    target text DEFAULT NULL,
    format text DEFAULT NULL,
    source_timezone text DEFAULT NULL,
    max_reject_ratio double precision DEFAULT NULL,
    reload_changed boolean DEFAULT NULL,
    retain interval DEFAULT NULL,
    retain_action text DEFAULT NULL,
    enabled boolean DEFAULT NULL,
    replace boolean DEFAULT NULL,
    due_after interval DEFAULT NULL,
    min_coverage double precision DEFAULT NULL,
    links text DEFAULT NULL,
    unknown_links text DEFAULT NULL
) RETURNS void LANGUAGE sql VOLATILE
AS $$ SELECT vs_ingest.vs_ingest_alter_source(name, dir, pattern, every, target, format, source_timezone,
                                              max_reject_ratio, reload_changed, retain, retain_action, enabled,
                                              replace, due_after, min_coverage, links, unknown_links) $$;

REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_dir, vs_ingest.vs_ingest_file, public.vs_ingest_dir, public.vs_ingest_file,
                       vs_ingest.vs_ingest_add_source, vs_ingest.vs_ingest_alter_source,
                       public.vs_ingest_add_source, public.vs_ingest_alter_source FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_dir, vs_ingest.vs_ingest_file, public.vs_ingest_dir,
                          public.vs_ingest_file, vs_ingest.vs_ingest_add_source, vs_ingest.vs_ingest_alter_source,
                          public.vs_ingest_add_source, public.vs_ingest_alter_source TO pg_read_server_files;

------------------------------------------------------------------------------------------------
-- 6. Monitoring figures for pg_monitor (issue 20; src/api/monitoring.rs, monitoring/queries.yaml).
------------------------------------------------------------------------------------------------
CREATE FUNCTION vs_ingest.reject_counts() RETURNS TABLE ("reason" TEXT, "rejects" bigint)
STABLE STRICT PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'reject_counts_wrapper';
CREATE FUNCTION vs_ingest.source_freshness() RETURNS TABLE (
	"source" TEXT,
	"target" TEXT,
	"enabled" bool,
	"failing" bool,
	"newest_hour" timestamp with time zone,
	"age_seconds" double precision,
	"day_coverage" double precision
) STABLE STRICT PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'source_freshness_wrapper';
REVOKE ALL ON FUNCTION vs_ingest.reject_counts, vs_ingest.source_freshness FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.reject_counts, vs_ingest.source_freshness TO pg_monitor, pg_read_server_files;

-- Every setting with its value and source (src/api/settings.rs); reading it loads the library.
CREATE FUNCTION vs_ingest.settings() RETURNS TABLE (
	"name" TEXT,
	"setting" TEXT,
	"unit" TEXT,
	"source" TEXT,
	"context" TEXT,
	"description" TEXT
) STABLE STRICT PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'settings_wrapper';
CREATE VIEW vs_ingest.settings AS SELECT * FROM vs_ingest.settings();
COMMENT ON VIEW vs_ingest.settings IS 'Every vs_ingest setting, its value and where it comes from.';
GRANT SELECT ON vs_ingest.settings TO PUBLIC;

------------------------------------------------------------------------------------------------
-- 7. Progress that tells the truth about the run (issue 20, item 1).
------------------------------------------------------------------------------------------------
-- Each file's size as the run listed it, so that a run's total is known from its start.
ALTER TABLE vs_ingest.file ADD COLUMN listed_size bigint;
-- The summary's seconds and MB/s to 2 decimals.
ALTER TYPE vs_ingest.load_summary ALTER ATTRIBUTE seconds TYPE numeric, ALTER ATTRIBUTE mb_per_s TYPE numeric;
-- The run's input bytes and the run_* columns (src/sql/catalog.sql, as a fresh 0.3.0 has them).
-- A run's input bytes, one definition for vs_ingest.progress and the waiting caller's NOTICEs
-- (src/postgres/catalog.rs, run_view): done (every finished file whole, loaded or skipped or
-- failed, and the committed part of each file in flight), total (every file, as listed until a
-- worker claims it), read (what its workers read: skipped files excluded, the run's throughput).
-- It reads the ledger with its caller's rights.
CREATE FUNCTION vs_ingest.run_input(run_id bigint, OUT done bigint, OUT total bigint, OUT read bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(sum(CASE WHEN f.status IN ('pending', 'loading') THEN f.input_done
                             ELSE coalesce(f.size, f.listed_size, f.input_done) END), 0)::bigint,
           coalesce(sum(coalesce(f.size, f.listed_size, f.input_done)), 0)::bigint,
           coalesce(sum(f.input_done) FILTER (WHERE f.status NOT IN ('skipped', 'changed')), 0)::bigint
      FROM vs_ingest.file f WHERE f.run_id = $1
$$;

-- Live progress of loads, from any session: it reflects committed chunks. security_invoker: the
-- reader's own row-level security applies, so each role sees its own loads' progress. Per file,
-- its bytes and throughput; per run (the run_* columns, the same on each of its rows), the bytes
-- of all its files, started or not (a finished file counts whole, a skipped one too), and an ETA
-- from the run's own throughput: the bytes its workers read so far over its elapsed time.
CREATE OR REPLACE VIEW vs_ingest.progress WITH (security_invoker = true) AS
SELECT f.run_id, f.file_id, f.path, f.status,
       f.input_done AS bytes_done, f.size AS bytes_total,
       f.rows_read AS rows,
       round(f.rows_read / t.seconds) AS rows_per_s,
       round((f.bytes / 1e6 / t.seconds)::numeric, 1) AS mb_per_s,
       CASE WHEN f.status = 'loading' AND f.input_done > 0
            THEN make_interval(secs => (f.size - f.input_done) * t.seconds / f.input_done) END AS eta,
       f.chunks, f.worker_pid, f.node,
       w.done AS run_bytes_done, w.total AS run_bytes_total,
       round(100.0 * w.done / nullif(w.total, 0), 1) AS run_percent,
       CASE WHEN w.read > 0 AND w.total > w.done
            THEN make_interval(secs => (w.total - w.done)
                                       * greatest(extract(epoch FROM clock_timestamp() - r.started_at), 0.001)
                                       / w.read) END AS run_eta
  FROM vs_ingest.file f
  JOIN vs_ingest.run r USING (run_id)
 CROSS JOIN LATERAL (SELECT greatest(extract(epoch FROM coalesce(f.finished_at, clock_timestamp())
                                                      - coalesce(f.started_at, clock_timestamp())), 0.001)
                            AS seconds) t
 CROSS JOIN LATERAL vs_ingest.run_input(f.run_id) w
 WHERE r.status IN ('running', 'cancelling');
COMMENT ON VIEW vs_ingest.progress IS 'Files of running loads and their runs, as of their last committed chunks.';

------------------------------------------------------------------------------------------------
-- 8. A plan before a big load (issue 20, item 5; src/api/plan.rs).
------------------------------------------------------------------------------------------------
CREATE FUNCTION vs_ingest.vs_ingest_plan(
	"dir" TEXT,
	"pattern" TEXT DEFAULT '*',
	"target" TEXT DEFAULT 'public.vs_its_hourly',
	"reload_changed" bool DEFAULT false,
	"replace" bool DEFAULT false
) RETURNS TABLE (
	"file" TEXT,
	"action" TEXT,
	"bytes" bigint,
	"estimated_seconds" NUMERIC,
	"reason" TEXT
) STABLE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', 'vs_ingest_plan_wrapper';
CREATE FUNCTION public.vs_ingest_plan(
    dir text,
    pattern text DEFAULT '*',
    target text DEFAULT 'public.vs_its_hourly',
    reload_changed boolean DEFAULT false,
    replace boolean DEFAULT false
) RETURNS TABLE (file text, action text, bytes bigint, estimated_seconds numeric, reason text)
LANGUAGE sql STABLE
AS $$ SELECT * FROM vs_ingest.vs_ingest_plan(dir, pattern, target, reload_changed, replace) $$;
REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_plan, public.vs_ingest_plan FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_plan, public.vs_ingest_plan TO pg_read_server_files;

------------------------------------------------------------------------------------------------
-- 9. Alerts on late, missing and thin data (issue 20, item 3): src/sql/alerts.sql, as a fresh
-- 0.3.0 has it (the source's due_after and min_coverage are added in section 5).
------------------------------------------------------------------------------------------------
-- Alerts on late, missing and thin data and on files that keep failing (README "Alerts"). The
-- scheduler evaluates them at every tick (vs_ingest.evaluate_alerts): a new alert is recorded in
-- vs_ingest.alert and announced once with NOTIFY on channel `vs_ingest`, and once more when it
-- clears. The table's DDL lives here and only here.

CREATE TABLE vs_ingest.alert (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id       int         NOT NULL,
    -- The source's name when the alert was raised, for display, and its owner (by oid): who
    -- sees the alert.
    source          text        NOT NULL,
    owner_oid       oid,
    -- overdue: local days (source time zone) from `day` to `last_day` have no data, and their
    -- file was due `due_after` after each ended; thin: the loaded day `day` has a mean coverage
    -- below the source's `min_coverage`; failing: the file `subject` failed in two runs or more,
    -- the last time in its newest.
    kind            text        NOT NULL CHECK (kind IN ('overdue', 'thin', 'failing')),
    day             date,
    last_day        date,
    subject         text        NOT NULL DEFAULT '',
    detail          text        NOT NULL,
    since           timestamptz NOT NULL DEFAULT clock_timestamp(),
    cleared_at      timestamptz
);
COMMENT ON TABLE vs_ingest.alert IS 'Alerts raised by the scheduler, open until cleared_at.';
CREATE UNIQUE INDEX alert_open_idx ON vs_ingest.alert (source_id, kind, coalesce(day, '-infinity'), subject)
    WHERE cleared_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.alert', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('vs_ingest.alert', 'alert_id'), '');

-- An alert is seen by the roles its source's runs are seen by: its owner (and roles with its
-- privileges), pg_monitor and superusers (by oid, as everywhere).
ALTER TABLE vs_ingest.alert ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_alerts ON vs_ingest.alert FOR SELECT USING (vs_ingest.sees_run(owner_oid, NULL));

-- The open alerts.
CREATE VIEW vs_ingest.alerts WITH (security_invoker = true) AS
SELECT a.source, a.day, a.kind, a.since, a.detail, a.last_day, nullif(a.subject, '') AS file
  FROM vs_ingest.alert a WHERE a.cleared_at IS NULL;
COMMENT ON VIEW vs_ingest.alerts IS 'Open alerts: late or missing days, thin days, files that keep failing.';
REVOKE ALL ON vs_ingest.alert, vs_ingest.alerts FROM PUBLIC;
GRANT SELECT ON vs_ingest.alert, vs_ingest.alerts TO pg_read_server_files, pg_monitor;

-- The alerts that hold now, for every source with due_after or min_coverage, and every source's
-- failing files. Days are local days of the source's time zone; coverage is what the load keeps
-- (vs_ingest.coverage), so nothing here reads a target's rows.
CREATE FUNCTION vs_ingest.current_alerts(
    OUT source_id int, OUT source text, OUT owner_oid oid, OUT kind text, OUT day date, OUT last_day date,
    OUT subject text, OUT detail text)
RETURNS SETOF record LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH s AS (
        SELECT s.source_id, s.name, s.owner_oid, s.due_after, s.min_coverage, to_regclass(s.target) AS rel,
               coalesce(s.source_timezone, current_setting('vs_ingest.source_timezone', true), 'Asia/Seoul') AS tz
          FROM vs_ingest.source s
         WHERE s.enabled
    ), span AS (
        -- From the first loaded day to the last day whose file is due by now.
        SELECT s.*, (min(c.hour) AT TIME ZONE s.tz)::date AS first_day,
               ((clock_timestamp() - coalesce(s.due_after, interval '0')) AT TIME ZONE s.tz)::date - 1 AS last_due
          FROM s JOIN vs_ingest.coverage c ON c.target_oid = s.rel
         GROUP BY s.source_id, s.name, s.owner_oid, s.due_after, s.min_coverage, s.rel, s.tz
    ), days AS (
        SELECT span.*, d::date AS day,
               EXISTS (SELECT 1 FROM vs_ingest.coverage c
                        WHERE c.target_oid = span.rel
                          AND c.hour >= (d::date)::timestamp AT TIME ZONE span.tz
                          AND c.hour < (d::date + 1)::timestamp AT TIME ZONE span.tz) AS loaded
          FROM span, generate_series(span.first_day, span.last_due, interval '1 day') AS d
    ), missing AS (
        -- Runs of consecutive days without data: one alert each, keyed by its first day.
        SELECT source_id, name, owner_oid, due_after, tz, min(day) AS first, max(day) AS last, count(*) AS n
          FROM (SELECT d.*, d.day - (row_number() OVER (PARTITION BY d.source_id ORDER BY d.day))::int AS grp
                  FROM days d WHERE NOT d.loaded AND d.due_after IS NOT NULL) x
         GROUP BY source_id, name, owner_oid, due_after, tz, grp
    ), thin AS (
        -- The last 35 loaded days, each with its mean coverage over its hours with a reference.
        SELECT d.source_id, d.name, d.owner_oid, d.day, d.min_coverage,
               (SELECT avg(r.coverage) FROM vs_ingest.coverage_report(d.rel, NULL,
                        (d.day)::timestamp AT TIME ZONE d.tz, (d.day + 1)::timestamp AT TIME ZONE d.tz, 7) r)
                   AS coverage
          FROM (SELECT days.*, row_number() OVER (PARTITION BY days.source_id ORDER BY days.day DESC) AS back
                  FROM days WHERE days.loaded AND days.min_coverage IS NOT NULL) d
         WHERE d.back <= 35
    )
    SELECT m.source_id, m.name, m.owner_oid, 'overdue', m.first, m.last, '',
           format('%s day(s) without data, %s to %s (%s); each day''s file was due %s after the day ended',
                  m.n, m.first, m.last, m.tz, m.due_after)
      FROM missing m
    UNION ALL
    SELECT t.source_id, t.name, t.owner_oid, 'thin', t.day, t.day, '',
           format('%s: %s%% of the expected links reported on average, below %s%%', t.day,
                  round((100 * t.coverage)::numeric, 1), round((100 * t.min_coverage)::numeric, 1))
      FROM thin t WHERE t.coverage < t.min_coverage
    UNION ALL
    SELECT s.source_id, s.name, s.owner_oid, 'failing', NULL, NULL, f.path,
           format('%s failed in %s runs, the last time: %s', f.path, f.failures, f.error)
      FROM vs_ingest.source s
      JOIN LATERAL (
            SELECT l.path, count(*) FILTER (WHERE l.status = 'failed') AS failures,
                   (array_agg(l.status ORDER BY l.file_id DESC))[1] AS newest,
                   (array_agg(l.error ORDER BY l.file_id DESC))[1] AS error
              FROM vs_ingest.file l JOIN vs_ingest.run r USING (run_id)
             WHERE r.source_id = s.source_id
             GROUP BY l.path) f ON f.newest = 'failed' AND f.failures >= 2
     WHERE s.enabled
$$;

-- Announces an alert's event ('raised' or 'cleared') on channel `vs_ingest`.
CREATE FUNCTION vs_ingest.notify_alert(event text, a vs_ingest.alert) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_notify('vs_ingest', json_build_object('event', event, 'source', a.source, 'kind', a.kind,
                                                   'day', a.day, 'last_day', a.last_day,
                                                   'file', nullif(a.subject, ''), 'detail', a.detail)::text)
$$;

-- Records the alerts that hold now and announces the changes: a NOTIFY on channel `vs_ingest`
-- with a JSON payload ({"event": "raised" | "cleared", "source", "kind", "day", "last_day",
-- "file", "detail"}) once when an alert is raised and once when it clears. An overdue run whose
-- last day moves on (one more day without data) is updated in place, not announced again.
-- Returns how many were raised and cleared. Run by the scheduler (a superuser) at every tick.
CREATE FUNCTION vs_ingest.evaluate_alerts(OUT raised int, OUT cleared int)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    a vs_ingest.alert;
BEGIN
    raised := 0;
    cleared := 0;
    CREATE TEMP TABLE IF NOT EXISTS vs_ingest_current_alerts (LIKE vs_ingest.alert) ON COMMIT DROP;
    TRUNCATE pg_temp.vs_ingest_current_alerts;
    INSERT INTO pg_temp.vs_ingest_current_alerts (alert_id, source_id, source, owner_oid, kind, day, last_day, subject,
                                                  detail, since)
    SELECT 0, c.source_id, c.source, c.owner_oid, c.kind, c.day, c.last_day, c.subject, c.detail, clock_timestamp()
      FROM vs_ingest.current_alerts() c;
    FOR a IN
        UPDATE vs_ingest.alert o SET cleared_at = clock_timestamp()
         WHERE o.cleared_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM pg_temp.vs_ingest_current_alerts n
                            WHERE n.source_id = o.source_id AND n.kind = o.kind
                              AND n.day IS NOT DISTINCT FROM o.day AND n.subject = o.subject)
        RETURNING o.*
    LOOP
        cleared := cleared + 1;
        PERFORM vs_ingest.notify_alert('cleared', a);
    END LOOP;
    UPDATE vs_ingest.alert o SET last_day = n.last_day, detail = n.detail
      FROM pg_temp.vs_ingest_current_alerts n
     WHERE o.cleared_at IS NULL AND n.source_id = o.source_id AND n.kind = o.kind
       AND n.day IS NOT DISTINCT FROM o.day AND n.subject = o.subject
       AND (o.last_day IS DISTINCT FROM n.last_day OR o.detail <> n.detail);
    FOR a IN
        INSERT INTO vs_ingest.alert (source_id, source, owner_oid, kind, day, last_day, subject, detail)
        SELECT n.source_id, n.source, n.owner_oid, n.kind, n.day, n.last_day, n.subject, n.detail
          FROM pg_temp.vs_ingest_current_alerts n
         WHERE NOT EXISTS (SELECT 1 FROM vs_ingest.alert o
                            WHERE o.cleared_at IS NULL AND o.source_id = n.source_id AND o.kind = n.kind
                              AND o.day IS NOT DISTINCT FROM n.day AND o.subject = n.subject)
        RETURNING *
    LOOP
        raised := raised + 1;
        PERFORM vs_ingest.notify_alert('raised', a);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION vs_ingest.current_alerts, vs_ingest.notify_alert, vs_ingest.evaluate_alerts FROM PUBLIC;

------------------------------------------------------------------------------------------------
-- 10. Region filters (issue 21): loads that keep only some links count the samples they leave out
-- (vs_ingest_dir and vs_ingest_file take `links`, above).
------------------------------------------------------------------------------------------------
ALTER TABLE vs_ingest.run ADD COLUMN rows_filtered bigint NOT NULL DEFAULT 0;
ALTER TABLE vs_ingest.file ADD COLUMN rows_filtered bigint NOT NULL DEFAULT 0;

------------------------------------------------------------------------------------------------
-- 11. A link reference network per target and the unknown links loads find (issue 21, items 1
-- and 3; src/postgres/links.rs), as src/sql/catalog.sql and src/sql/api.sql have them.
------------------------------------------------------------------------------------------------
ALTER TABLE vs_ingest.run ADD COLUMN rows_unknown bigint NOT NULL DEFAULT 0;
ALTER TABLE vs_ingest.source ADD COLUMN links_oid oid, ADD COLUMN links text,
    ADD COLUMN unknown_links text CHECK (unknown_links IN ('load', 'skip'));
ALTER TABLE vs_ingest.file ADD COLUMN rows_unknown bigint NOT NULL DEFAULT 0;

-- A target's reference network (vs_ingest_set_links, src/postgres/links.rs): the links it knows,
-- one row each, replaced whole when the network is re-released. Loads count (and may skip) the
-- samples of links it lacks on their day. Written only by vs_ingest_set_links, as the catalog's
-- owner, from a relation its caller could read.
CREATE TABLE vs_ingest.link (
    -- The target (its hourly view), by oid: the network follows a renamed target, and a target
    -- created again under an old name has none.
    target_oid      oid         NOT NULL,
    link_id         bigint      NOT NULL,
    region          text,
    road_name       text,
    -- The local days (in the files' time zone) the link exists: [valid_from, valid_until); NULL
    -- is open on that side.
    valid_from      date,
    valid_until     date,
    CHECK (valid_until > valid_from),
    PRIMARY KEY (target_oid, link_id)
);
COMMENT ON TABLE vs_ingest.link IS 'Per target, the links of its reference network, with region, road name and validity.';

-- Per file, the samples of each link its target's network lacked (the 1,000 most frequent of
-- each committed chunk: a national day commits in one or two), committed with that chunk.
CREATE TABLE vs_ingest.unknown_link (
    file_id         bigint      NOT NULL REFERENCES vs_ingest.file ON DELETE CASCADE,
    link_id         bigint      NOT NULL,
    samples         bigint      NOT NULL CHECK (samples > 0),
    PRIMARY KEY (file_id, link_id)
);
COMMENT ON TABLE vs_ingest.unknown_link IS 'Per loaded file, the samples of links its target''s network lacks.';
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.link', '');
SELECT pg_catalog.pg_extension_config_dump('vs_ingest.unknown_link', '');
ALTER TABLE vs_ingest.link ENABLE ROW LEVEL SECURITY;
ALTER TABLE vs_ingest.unknown_link ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable_targets ON vs_ingest.link FOR SELECT
    USING (coalesce(has_table_privilege(target_oid, 'SELECT'), false));
CREATE POLICY own_files ON vs_ingest.unknown_link FOR SELECT
    USING (EXISTS (SELECT 1 FROM vs_ingest.file f WHERE f.file_id = unknown_link.file_id));

-- The links loads found that their target's network lacks, most samples first: a network update
-- is noticed here, per target (by oid; `target` is its latest name). security_invoker: each reader
-- sees the files it sees.
CREATE VIEW vs_ingest.unknown_links WITH (security_invoker = true) AS
SELECT r.target_oid, (array_agg(r.target ORDER BY r.run_id DESC))[1] AS target, u.link_id,
       sum(u.samples)::bigint AS samples, count(DISTINCT f.path) AS files,
       min(f.started_at) AS first_seen, max(f.started_at) AS last_seen
  FROM vs_ingest.unknown_link u
  JOIN vs_ingest.file f USING (file_id)
  JOIN vs_ingest.run r USING (run_id)
 GROUP BY r.target_oid, u.link_id;
COMMENT ON VIEW vs_ingest.unknown_links IS 'Per target, the links its loads found that its network lacks, with their samples.';
REVOKE ALL ON vs_ingest.link, vs_ingest.unknown_link, vs_ingest.unknown_links FROM PUBLIC;
GRANT SELECT ON vs_ingest.link, vs_ingest.unknown_link, vs_ingest.unknown_links TO pg_read_server_files;
GRANT SELECT ON vs_ingest.unknown_link, vs_ingest.unknown_links TO pg_monitor;

CREATE FUNCTION vs_ingest.vs_ingest_set_links(
	"target" TEXT,
	"relation" TEXT
) RETURNS bigint VOLATILE PARALLEL UNSAFE LANGUAGE c
AS 'MODULE_PATHNAME', 'vs_ingest_set_links_wrapper';

CREATE FUNCTION public.vs_ingest_set_links(target text, relation text) RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT vs_ingest.vs_ingest_set_links($1, $2) $$;
REVOKE ALL ON FUNCTION vs_ingest.vs_ingest_set_links, public.vs_ingest_set_links FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vs_ingest.vs_ingest_set_links, public.vs_ingest_set_links TO pg_read_server_files;
