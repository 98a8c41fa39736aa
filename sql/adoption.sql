-- Objects a load adopts and code it runs (SECURITY.md, "Objects a load uses"), each tried as an
-- attack: a role with CREATE on public plants relations under the names vs_ingest derives from a
-- target's, with triggers, rules, index expressions and views, and a superuser (this session)
-- then loads. Nothing of the planter's may run, and nothing planted may be taken for part of a
-- target.
SET client_min_messages = warning;

CREATE ROLE regress_planter LOGIN IN ROLE pg_read_server_files;
CREATE ROLE regress_alice LOGIN IN ROLE pg_read_server_files;
GRANT CREATE ON SCHEMA public TO regress_planter, regress_alice;

-- The planter's bait: a function that records who ran it and, when that is a superuser, makes the
-- planter one (what a BEFORE INSERT trigger would do), and a table it writes to.
SET ROLE regress_planter;
CREATE TABLE public.planter_log (what text, ran_as name, superuser boolean);
GRANT INSERT ON public.planter_log TO PUBLIC;
CREATE FUNCTION public.planter_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.planter_log VALUES ('trigger ' || TG_TABLE_NAME, current_user,
                                          (SELECT rolsuper FROM pg_roles WHERE rolname = current_user));
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE regress_planter SUPERUSER';
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION public.planter_fn(x bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    INSERT INTO public.planter_log VALUES ('function', current_user, NULL);
    RETURN x;
END
$$;
RESET ROLE;

-- Whether the bait ran, and whether the planter got what it wanted.
CREATE FUNCTION regress_planter_won() RETURNS text LANGUAGE sql AS $$
    SELECT format('bait ran %s times, planter superuser: %s',
                  (SELECT count(*) FROM public.planter_log),
                  (SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_planter'))
$$;

------------------------------------------------------------------------------------------------
-- 1. A whole target planted: the storage with a BEFORE INSERT trigger and the hourly view over
--    it, both the planter's. The superuser's load refuses to run the trigger.
------------------------------------------------------------------------------------------------
SET ROLE regress_planter;
CREATE TABLE public.bait_blocks (link_id bigint NOT NULL, day date NOT NULL, block smallint NOT NULL,
                                 hours smallint NOT NULL, speed smallint[] NOT NULL, travel_time int[],
                                 PRIMARY KEY (day, block, link_id)) PARTITION BY RANGE (day);
CREATE TRIGGER bait BEFORE INSERT ON public.bait_blocks FOR EACH ROW EXECUTE FUNCTION public.planter_trigger();
CREATE VIEW public.bait AS
SELECT c.hour, b.link_id, vs_ingest.hour_speed(b.speed, c.hour_in_block) AS speed
  FROM public.bait_blocks b JOIN vs_ingest.calendar_hour c ON c.local_day = b.day AND c.block = b.block
 WHERE c.time_zone = 'Asia/Seoul'::text AND b.hours & c.hour_bit <> 0;
RESET ROLE;
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.bait')$$);
SELECT regress_planter_won();
SELECT count(*) AS rows_written FROM public.bait_blocks;
-- The planter's own load runs its own trigger: that is its table.
GRANT SELECT ON public.planter_log TO regress_planter;
SET ROLE regress_planter;
SELECT files_loaded FROM vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.bait');
RESET ROLE;
SELECT ran_as, superuser, count(*) > 0 AS ran FROM public.planter_log GROUP BY 1, 2;
SELECT regress_planter_won();
TRUNCATE public.planter_log;

-- 1b. Only the storage planted, before the victim's first load into that name: never adopted,
-- with a trigger or without.
SET ROLE regress_planter;
CREATE TABLE public.victim_blocks (LIKE public.bait_blocks) PARTITION BY RANGE (day);
CREATE TRIGGER bait BEFORE INSERT ON public.victim_blocks FOR EACH ROW EXECUTE FUNCTION public.planter_trigger();
CREATE TABLE public.victim2_blocks (LIKE public.bait_blocks) PARTITION BY RANGE (day);
RESET ROLE;
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.victim')$$);
SELECT regress_try($$SELECT vs_ingest_create_target('public.victim2')$$);
SELECT to_regclass('public.victim') AS victim, to_regclass('public.victim2') AS victim2;
SELECT regress_planter_won();

-- 1c. A rule and an index expression of the planter on its storage (a target of its own): the
-- superuser's load refuses both; the rows never reach the planter's log.
SET ROLE regress_planter;
SELECT vs_ingest_create_target('public.ruled');
CREATE RULE copy_out AS ON INSERT TO public.ruled_blocks DO ALSO
    INSERT INTO public.planter_log VALUES ('rule', current_user, NULL);
SELECT vs_ingest_create_target('public.indexed');
CREATE INDEX ON public.indexed_blocks (public.planter_fn(link_id));
RESET ROLE;
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.ruled')$$);
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.indexed')$$);
SELECT regress_planter_won();

-- 1d. A view of the planter over another role's storage is not that role's target.
SET ROLE regress_alice;
SELECT vs_ingest_create_target('public.alice_hourly');
RESET ROLE;
SET ROLE regress_planter;
CREATE VIEW public.alice_mirror AS SELECT * FROM public.alice_hourly_blocks;
RESET ROLE;
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.alice_mirror')$$);

-- 1e. Code on one's own target runs for oneself only. Alice's trigger runs in her loads; a
-- superuser loading into her target refuses to run it (it would run with superuser rights); a
-- trigger the planter adds to a partition of Alice's (she granted it TRIGGER) stops her load.
SET ROLE regress_alice;
CREATE TABLE public.alice_log (ran_as name);
CREATE FUNCTION public.alice_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.alice_log VALUES (current_user);
    RETURN NEW;
END
$$;
CREATE TRIGGER audit AFTER INSERT ON public.alice_hourly_blocks FOR EACH STATEMENT EXECUTE FUNCTION public.alice_trigger();
SELECT files_loaded FROM vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.alice_hourly');
SELECT DISTINCT ran_as FROM public.alice_log;
RESET ROLE;
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230602_5Min.csv.gz', target => 'public.alice_hourly')$$);
SET ROLE regress_alice;
DROP TRIGGER audit ON public.alice_hourly_blocks;
GRANT TRIGGER ON public.alice_hourly_blocks_p20230601 TO regress_planter;
RESET ROLE;
SET ROLE regress_planter;
CREATE TRIGGER bait BEFORE INSERT ON public.alice_hourly_blocks_p20230601 FOR EACH ROW EXECUTE FUNCTION public.planter_trigger();
RESET ROLE;
-- The late file of day 1 writes the planter's partition: the file fails with the reason, and the
-- trigger never ran.
SET ROLE regress_alice;
SELECT files_loaded, files_failed FROM vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_late.csv', target => 'public.alice_hourly');
RESET ROLE;
SELECT regexp_replace(path, '.*/', '') AS file, status, error_code, error
  FROM vs_ingest.file WHERE path LIKE '%/adopt/20230601_late.csv' ORDER BY file_id;
SELECT regress_planter_won();
DROP TRIGGER bait ON public.alice_hourly_blocks_p20230601;
-- The superuser's load into Alice's target, now without code: its new day's partition is hers.
SELECT files_loaded FROM vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230602_5Min.csv.gz', target => 'public.alice_hourly');
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'public.alice_hourly_blocks'::regclass ORDER BY 1;

-- 1f. Every expression on a table is its owner's code, built-in functions included: a CHECK
-- that runs a query through query_to_xml, and a trigger whose function is built in but whose
-- WHEN clause runs the owner's query, are refused when another role loads; a storage partitioned
-- by an expression is not a target.
SET ROLE regress_planter;
SELECT vs_ingest_create_target('public.checked');
ALTER TABLE public.checked_blocks ADD CONSTRAINT sneaky
    CHECK (query_to_xml('SELECT public.planter_fn(1)', false, false, '') IS NOT NULL);
SELECT vs_ingest_create_target('public.whenever');
CREATE TRIGGER quiet BEFORE INSERT ON public.whenever_blocks FOR EACH ROW
    WHEN (query_to_xml('SELECT public.planter_fn(2)', false, false, '') IS NOT NULL)
    EXECUTE FUNCTION suppress_redundant_updates_trigger();
CREATE FUNCTION public.planter_day(d date) RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    INSERT INTO public.planter_log VALUES ('partition key', current_user, NULL);
    RETURN d;
END
$$;
CREATE TABLE public.keyed_blocks (LIKE public.bait_blocks) PARTITION BY RANGE (public.planter_day(day));
CREATE VIEW public.keyed AS
SELECT c.hour, b.link_id, vs_ingest.hour_speed(b.speed, c.hour_in_block) AS speed
  FROM public.keyed_blocks b JOIN vs_ingest.calendar_hour c ON c.local_day = b.day AND c.block = b.block
 WHERE c.time_zone = 'Asia/Seoul'::text AND b.hours & c.hour_bit <> 0;
RESET ROLE;
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.checked')$$);
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.whenever')$$);
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.keyed')$$);
SELECT regress_planter_won();

------------------------------------------------------------------------------------------------
-- 2. A 5-minute view planted before the victim's first load (it used to be kept, with a NOTICE
--    lost in the worker): the target is not created.
------------------------------------------------------------------------------------------------
SET ROLE regress_planter;
CREATE VIEW public.victim3_5min AS SELECT now() AS ts, 1::bigint AS link_id, 99.9::real AS speed;
RESET ROLE;
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.victim3')$$);
SELECT to_regclass('public.victim3') AS victim3, to_regclass('public.victim3_blocks') AS victim3_blocks;

------------------------------------------------------------------------------------------------
-- 3. A target view that calls a function of its owner: the load (a late file merges, and
--    coverage is recounted) reads the storage, never the view, so the function never runs.
------------------------------------------------------------------------------------------------
SET ROLE regress_planter;
SELECT vs_ingest_create_target('public.lure');
CREATE OR REPLACE VIEW public.lure AS
SELECT c.hour, public.planter_fn(b.link_id) AS link_id, vs_ingest.hour_speed(b.speed, c.hour_in_block) AS speed,
       NULL::int[] AS travel_time, vs_ingest.hour_samples(b.speed, c.hour_in_block) AS samples,
       NULL::real AS speed_avg, NULL::real AS speed_min, NULL::real AS speed_max, b.day AS local_day, c.local_hour
  FROM public.lure_blocks b JOIN vs_ingest.calendar_hour c ON c.local_day = b.day AND c.block = b.block
 WHERE c.time_zone = 'Asia/Seoul'::text AND b.hours & c.hour_bit <> 0;
RESET ROLE;
SELECT files_loaded, rows_loaded, rows_duplicate
  FROM vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.lure');
SELECT files_loaded, rows_loaded, rows_duplicate
  FROM vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_late.csv', target => 'public.lure');
SELECT regress_planter_won();
-- Coverage, recounted from the storage, agrees with the rows.
SELECT count(*) AS coverage_mismatches FROM (
    SELECT c.hour, count(*)::int AS links
      FROM public.lure_blocks b JOIN vs_ingest.calendar_hour c ON c.local_day = b.day AND c.block = b.block
     WHERE c.time_zone = 'Asia/Seoul' AND b.hours & c.hour_bit <> 0 GROUP BY c.hour
    EXCEPT SELECT hour, links FROM vs_ingest.coverage WHERE target_oid = 'public.lure'::regclass) d;

-- 1d. A rollup table planted under the name of a new target's (`<target>_days`), with a trigger:
-- never adopted, nothing of the target made, nothing run.
SET ROLE regress_planter;
CREATE TABLE public.victim4_days (link_id bigint NOT NULL, day date NOT NULL, samples smallint NOT NULL,
                                  speed_sum int NOT NULL, speed_min smallint NOT NULL, speed_max smallint NOT NULL,
                                  hour_samples smallint[] NOT NULL, hour_speed_sum int[] NOT NULL,
                                  longest_run smallint NOT NULL, max_jump smallint NOT NULL,
                                  PRIMARY KEY (day, link_id)) PARTITION BY RANGE (day);
CREATE TRIGGER bait BEFORE INSERT ON public.victim4_days FOR EACH ROW EXECUTE FUNCTION public.planter_trigger();
RESET ROLE;
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.victim4')$$);
SELECT to_regclass('public.victim4') AS victim4, to_regclass('public.victim4_daily') AS daily;
SELECT regress_planter_won();

-- 1d'. A quality view planted under the name of a new target's (`<target>_quality`): the target's
-- rollups are refused, never read through it; the report never reads it either.
SET ROLE regress_planter;
CREATE FUNCTION public.planter_quality() RETURNS TABLE (link_id bigint, local_day date) LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.planter_log VALUES ('quality view', current_user, NULL);
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE regress_planter SUPERUSER';
    END IF;
    RETURN;
END $$;
CREATE VIEW public.victim5_quality AS SELECT * FROM public.planter_quality();
RESET ROLE;
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.victim5')$$);
SELECT to_regclass('public.victim5') AS victim5, to_regclass('public.victim5_days') AS days;
SELECT regress_try($$SELECT * FROM vs_ingest_quality('2023-06-01', '2023-06-02', 'public.victim5')$$);
SELECT regress_planter_won();

-- 1d''. A monthly rollup table planted under the name of a new target's (`<target>_months`), of
-- the shape vs_ingest makes, with a trigger: refused (42P07), never found by its name, nothing run.
SET ROLE regress_planter;
CREATE TABLE public.victim6_months (link_id bigint NOT NULL, month date NOT NULL, weekend boolean NOT NULL,
                                    days smallint NOT NULL, samples int NOT NULL, speed_sum bigint NOT NULL,
                                    hour_samples int[] NOT NULL, hour_speed_sum int[] NOT NULL,
                                    PRIMARY KEY (month, weekend, link_id));
CREATE TRIGGER bait BEFORE INSERT OR UPDATE ON public.victim6_months FOR EACH ROW EXECUTE FUNCTION public.planter_trigger();
RESET ROLE;
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.victim6')$$);
SELECT to_regclass('public.victim6') AS victim6, to_regclass('public.victim6_days') AS days, count(*) AS planted_rows
  FROM public.victim6_months;
SELECT regress_planter_won();

------------------------------------------------------------------------------------------------
-- 4. Building rollups is a write too: the planter's own target, its rollups made anew (as the
--    update from 0.2.0 makes them: every stored day to build) with its trigger on them. A
--    superuser's CALL vs_ingest_build_rollups() refuses to run the trigger; the planter's own
--    call builds them, running its trigger as itself.
------------------------------------------------------------------------------------------------
SET ROLE regress_planter;
SELECT files_loaded FROM vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public.planted_build');
SELECT vs_ingest.drop_rollups('public.planted_build', 'public.planted_build_blocks');
SELECT vs_ingest.ensure_rollups('public.planted_build', 'public.planted_build_blocks')::text;
CREATE TRIGGER bait BEFORE INSERT ON public.planted_build_days FOR EACH ROW EXECUTE FUNCTION public.planter_trigger();
RESET ROLE;
SELECT rollups, days, first_day, last_day FROM vs_ingest.rollups_to_build WHERE rollups = 'public.planted_build_days'::regclass;
SELECT regress_try($$CALL vs_ingest_build_rollups(target => 'public.planted_build')$$);
SELECT regress_planter_won();
SELECT count(*) AS link_days FROM public.planted_build_days;
SET ROLE regress_planter;
CALL vs_ingest_build_rollups(target => 'public.planted_build');
RESET ROLE;
SELECT count(*) AS days_to_build FROM vs_ingest.rollups_to_build WHERE rollups = 'public.planted_build_days'::regclass;
SELECT count(*) > 0 AS built FROM public.planted_build_days;
SELECT ran_as, superuser, count(*) > 0 AS ran FROM public.planter_log GROUP BY 1, 2;
SELECT regress_planter_won();

DROP VIEW public.checked, public.checked_5min, public.whenever, public.whenever_5min, public.keyed;
DROP TABLE public.checked_blocks, public.whenever_blocks, public.keyed_blocks CASCADE;
DROP FUNCTION public.planter_day;
DROP VIEW public.victim5_quality;
DROP FUNCTION public.planter_quality;
DROP VIEW public.planted_build, public.planted_build_5min, public.planted_build_daily, public.planted_build_quality,
          public.planted_build_monthly;
DROP TABLE public.planted_build_days, public.planted_build_blocks;
DROP VIEW public.bait, public.alice_mirror, public.lure, public.lure_5min, public.ruled, public.ruled_5min,
          public.indexed, public.indexed_5min, public.alice_hourly, public.alice_5min, public.victim3_5min;
DROP TABLE public.bait_blocks, public.victim_blocks, public.victim2_blocks, public.victim4_days, public.victim6_months, public.lure_blocks,
           public.ruled_blocks, public.indexed_blocks, public.alice_hourly_blocks, public.alice_log,
           public.planter_log CASCADE;
DROP FUNCTION public.planter_trigger, public.planter_fn, public.alice_trigger, regress_planter_won;
REVOKE CREATE ON SCHEMA public FROM regress_planter, regress_alice;
DROP ROLE regress_planter, regress_alice;
