-- Helpers of the isolation specs (isolation/specs/*.spec), loaded by scripts/isolation-test.sh
-- into the database it prepares, schema `iso`. They do not depend on the extension: every
-- permutation's setup drops and creates it again (CALL iso.reset()).
--
-- Loads run in background workers, which isolationtester does not watch: it sees a session as
-- waiting only when that session's own backend waits for a lock held by another session. So the
-- specs steer the workers with locks that a session holds, and poll for the state they expect:
--   * gates: session advisory locks (4242, k). `iso.hold(k)` closes gate k, `iso.release(k)`
--     opens it, `iso.pass(k)` waits until it is open. A step that starts with `iso.pass(k)`
--     shows as <waiting ...> until the step that opens k.
--   * row gates: `iso.gate_rows(storage, day, block, k)` puts a trigger on a target's storage
--     that makes a worker wait at gate k at the first row of (day, block): that worker then has
--     every earlier chunk committed and this one in flight.
--   * `iso.wait_until(condition, what)` polls until a boolean SQL expression is true (30 s at
--     most, then an error that names `what`), so that a step starts only once the workers are
--     where the permutation needs them, whatever the timing.
-- Nothing printed depends on timing: no run ids, pids or times (runs are named, iso.runs).

-- (Their bodies name the extension's functions and tables, which come and go with it.)
SET check_function_bodies = off;
DROP SCHEMA IF EXISTS iso CASCADE;
CREATE SCHEMA iso;

-- Runs started with wait => false, by name.
CREATE TABLE iso.runs (name text PRIMARY KEY, run_id bigint NOT NULL);

CREATE FUNCTION iso.hold(k int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_lock(4242, k);
    RETURN true;
END
$$;
CREATE FUNCTION iso.release(k int) RETURNS boolean LANGUAGE sql AS $$ SELECT pg_advisory_unlock(4242, k) $$;
CREATE FUNCTION iso.pass(k int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_lock_shared(4242, k);
    PERFORM pg_advisory_unlock_shared(4242, k);
    RETURN true;
END
$$;

-- Polls `condition` (a boolean SQL expression) every 20 ms until it is true; after `seconds`
-- raises an error naming `what`, or (must => false) returns false.
CREATE FUNCTION iso.wait_until(condition text, what text, seconds int DEFAULT 30, must boolean DEFAULT true)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + make_interval(secs => seconds);
    ok boolean;
BEGIN
    LOOP
        -- pg_stat_activity is otherwise read once per transaction.
        PERFORM pg_stat_clear_snapshot();
        EXECUTE 'SELECT (' || condition || ')' INTO ok;
        IF ok THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > deadline THEN
            IF must THEN
                RAISE EXCEPTION 'timed out after % s waiting for %', seconds, what;
            END IF;
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
END
$$;

-- The vs_ingest workers waiting for a lock: how many, and whether one waits at row gate k or for
-- a lock on relation `rel`.
CREATE FUNCTION iso.workers_waiting() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE a.backend_type = 'vs_ingest worker' AND NOT l.granted
$$;
CREATE FUNCTION iso.worker_at_gate(k int) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                    WHERE a.backend_type = 'vs_ingest worker' AND NOT l.granted
                      AND l.locktype = 'advisory' AND l.classid = 4242 AND l.objid = k AND l.objsubid = 2)
$$;
CREATE FUNCTION iso.worker_waits_for(rel regclass) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                    WHERE a.backend_type = 'vs_ingest worker' AND NOT l.granted
                      AND l.locktype = 'relation' AND l.relation = rel)
$$;
-- Whether a client session (not this one) runs a statement containing `text` and waits for a lock.
CREATE FUNCTION iso.session_waits(text text) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM pg_stat_activity a
                    WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
                      AND a.query LIKE '%' || text || '%' AND a.wait_event_type = 'Lock')
$$;
-- Whether a client session (not this one) is running a statement containing `text`.
CREATE FUNCTION iso.session_runs(text text) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM pg_stat_activity a
                    WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
                      AND a.query LIKE '%' || text || '%' AND a.state = 'active')
$$;

-- Makes a worker that writes the first row of (day, block) into `storage` wait at gate k.
CREATE FUNCTION iso.gate_row() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(4242, TG_ARGV[0]::int);
    RETURN NEW;
END
$$;
CREATE FUNCTION iso.gate_rows(storage regclass, day date, block int, k int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER iso_gate_%s BEFORE INSERT ON %s FOR EACH ROW WHEN (NEW.day = %L AND NEW.block = %s)
                    EXECUTE FUNCTION iso.gate_row(%s)', k, storage, day, block, k);
END
$$;

-- A load as a user runs it (wait => true), once gate `gate` is open: what it returns, without
-- run ids or times. files_done counts loaded and skipped files: which of two concurrent loads of
-- the same file loads it and which skips it is up to the race.
CREATE FUNCTION iso.load(gate int, dir text, pattern text, target text,
                         OUT files_seen bigint, OUT files_done bigint, OUT files_failed bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM iso.pass(gate);
    SELECT s.files_seen, s.files_loaded + s.files_skipped, s.files_failed
      INTO files_seen, files_done, files_failed
      FROM public.vs_ingest_dir(dir, pattern, target => target) s;
END
$$;

-- Starts a load with wait => false (it returns once the run is registered) and names its run.
-- Returns 'started', or the error that stopped the registration (SQLSTATE and message, numbers
-- of 3 digits or more, such as oids, shown as N).
CREATE FUNCTION iso.start(name text, dir text, pattern text, target text, replacing boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    id bigint;
BEGIN
    SELECT s.run_id INTO id FROM public.vs_ingest_dir(dir, pattern, target => target, wait => false,
                                                      replace => replacing) s;
    INSERT INTO iso.runs VALUES (name, id);
    RETURN 'started';
EXCEPTION WHEN OTHERS THEN
    RETURN format('ERROR %s: %s', SQLSTATE, regexp_replace(SQLERRM, '[0-9]{3,}', 'N', 'g'));
END
$$;
CREATE FUNCTION iso.run(name text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT r.run_id FROM iso.runs r WHERE r.name = run.name
$$;
-- Waits until run `name` is over; returns its status.
CREATE FUNCTION iso.await(name text, seconds int DEFAULT 30) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF iso.run(name) IS NULL THEN
        RETURN 'not started';
    END IF;
    PERFORM iso.wait_until(format('(SELECT status FROM vs_ingest.run WHERE run_id = %s) NOT IN (''running'', ''cancelling'')',
                                  iso.run(name)),
                           format('run %L to end', name), seconds);
    RETURN (SELECT status FROM vs_ingest.run WHERE run_id = iso.run(name));
END
$$;
-- The files of run `name`: file name, status, chunks committed, and whether the rows the ledger
-- counts as loaded are all in `storage` (what the ledger says was committed is there).
CREATE FUNCTION iso.files(name text, OUT file text, OUT status text, OUT chunks int, OUT error text)
RETURNS SETOF record LANGUAGE sql AS $$
    SELECT regexp_replace(f.path, '.*/', ''), f.status, f.chunks,
           regexp_replace(regexp_replace(f.error, '[0-9]{3,}', 'N', 'g'), '"/tmp/[^"]*/', '"', 'g')
      FROM vs_ingest.file f WHERE f.run_id = iso.run(name) ORDER BY f.path
$$;

-- Samples (non-NULL 5-minute speeds) and rows stored in a storage table.
CREATE FUNCTION iso.samples(storage regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT coalesce(sum(cardinality(array_remove(speed, NULL))), 0) FROM %s', storage) INTO n;
    RETURN n;
END
$$;
-- Rows of storage `a` not in `b` and of `b` not in `a` (0: the same rows).
CREATE FUNCTION iso.differ(a regclass, b regclass, where_clause text DEFAULT 'true') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %1$s WHERE %3$s EXCEPT ALL SELECT * FROM %2$s WHERE %3$s)
                                          UNION ALL (SELECT * FROM %2$s WHERE %3$s EXCEPT ALL SELECT * FROM %1$s WHERE %3$s)) d',
                   a, b, where_clause) INTO n;
    RETURN n;
END
$$;
-- The loaded samples the ledger counts for target `target`, over its files' rows.
CREATE FUNCTION iso.ledger_loaded(target text) RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(sum(f.rows_loaded), 0) FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
     WHERE r.target_oid = to_regclass($1)  -- ($1: `target` would be the run's column)
$$;

-- Coverage (vs_ingest.coverage) of target `target` per local day: its hours, and how many of them
-- differ from reference target `ref`'s (links and per-slot links).
CREATE FUNCTION iso.coverage(target text, ref text, OUT day text, OUT hours bigint, OUT hours_differing bigint)
RETURNS SETOF record LANGUAGE sql AS $$
    SELECT to_char((c.hour AT TIME ZONE 'Asia/Seoul')::date, 'YYYY-MM-DD'), count(*),
           count(*) FILTER (WHERE r.hour IS NULL OR r.links <> c.links OR r.slot_links <> c.slot_links)
      FROM vs_ingest.coverage c
      LEFT JOIN vs_ingest.coverage r ON r.target_oid = to_regclass($2) AND r.hour = c.hour
     WHERE c.target_oid = to_regclass($1)
     GROUP BY 1 ORDER BY 1
$$;

-- A clean database for the next permutation: no vs_ingest worker left, the targets of the specs
-- (relations named iso_*) dropped, the extension created again (a fresh ledger), no named runs.
CREATE PROCEDURE iso.reset() LANGUAGE plpgsql AS $$
DECLARE
    rel text;
BEGIN
    IF NOT iso.wait_until($c$NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'vs_ingest worker'
                                          AND datname = current_database())$c$,
                          'the workers of the previous permutation to end', 30, false) THEN
        PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE backend_type = 'vs_ingest worker' AND datname = current_database();
        PERFORM iso.wait_until($c$NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'vs_ingest worker'
                                               AND datname = current_database())$c$,
                               'the workers of the previous permutation to be terminated', 30);
    END IF;
    -- Storage tables (their views go with them), then what is left: views, detached days.
    FOREACH rel IN ARRAY coalesce((SELECT array_agg(format('%I.%I', 'public', c.relname)) FROM pg_class c
                                    WHERE c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'iso\_%'
                                      AND c.relkind = 'p' AND NOT c.relispartition), '{}')
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', rel);
    END LOOP;
    FOREACH rel IN ARRAY coalesce((SELECT array_agg(format('%I.%I', 'public', c.relname)) FROM pg_class c
                                    WHERE c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'iso\_%'
                                      AND c.relkind = 'v'), '{}')
    LOOP
        EXECUTE format('DROP VIEW IF EXISTS %s CASCADE', rel);
    END LOOP;
    FOREACH rel IN ARRAY coalesce((SELECT array_agg(format('%I.%I', 'public', c.relname)) FROM pg_class c
                                    WHERE c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'iso\_%'
                                      AND c.relkind = 'r'), '{}')
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', rel);
    END LOOP;
    DROP EXTENSION IF EXISTS vs_ingest CASCADE;
    CREATE EXTENSION vs_ingest;
    TRUNCATE iso.runs;
    PERFORM pg_advisory_unlock_all();
END
$$;

-- Rows of the rollup table `days` that differ from sums of the samples stored in `storage`,
-- computed here from the arrays (per link and day, and per local hour), and rows missing from it:
-- 0 when the rollups are exact, whoever won which slot.
CREATE FUNCTION iso.rollups_differ(days regclass, storage regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format($q$
        WITH s AS (SELECT b.link_id, b.day, b.block * 6 + (u.i - 1) / 12 AS h, u.v
                     FROM %s b, unnest(b.speed) WITH ORDINALITY AS u(v, i) WHERE u.v IS NOT NULL),
             hr AS (SELECT link_id, day, h, count(*)::int AS n, sum(v)::int AS st FROM s GROUP BY 1, 2, 3),
             d AS (SELECT link_id, day, count(*)::int AS samples, sum(v)::int AS ss, min(v)::int AS mn, max(v)::int AS mx
                     FROM s GROUP BY 1, 2),
             want AS (SELECT d.*,
                             ARRAY(SELECT coalesce((SELECT hr.n FROM hr WHERE hr.link_id = d.link_id AND hr.day = d.day AND hr.h = g), 0)
                                     FROM generate_series(0, 23) g) AS hn,
                             ARRAY(SELECT coalesce((SELECT hr.st FROM hr WHERE hr.link_id = d.link_id AND hr.day = d.day AND hr.h = g), 0)
                                     FROM generate_series(0, 23) g) AS hs
                        FROM d),
             got AS (SELECT link_id, day, samples::int, speed_sum, speed_min::int, speed_max::int, hour_samples::int[],
                            hour_speed_sum FROM %s)
        SELECT (SELECT count(*) FROM (SELECT * FROM got EXCEPT ALL SELECT * FROM want) x)
             + (SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM got) y)$q$, storage, days) INTO n;
    RETURN n + iso.months_differ(days);
END
$$;

-- Rows of the monthly rollups of `days` that differ from sums of its daily rows per link, local
-- month and day type (every figure and each hour's), and rows missing from them: 0 when exact.
CREATE FUNCTION iso.months_differ(days regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format($q$
        WITH k AS (SELECT d.*, date_trunc('month', d.day)::date AS month, extract(isodow FROM d.day) > 5 AS weekend FROM %s d),
             h AS (SELECT k.link_id, k.month, k.weekend, u.i, sum(u.n)::int AS n, sum(u.s)::int AS s
                     FROM k, unnest(k.hour_samples, k.hour_speed_sum) WITH ORDINALITY AS u(n, s, i) GROUP BY 1, 2, 3, 4),
             a AS (SELECT link_id, month, weekend, array_agg(n ORDER BY i) AS hn, array_agg(s ORDER BY i) AS hs FROM h GROUP BY 1, 2, 3),
             want AS (SELECT link_id, month, weekend, count(*)::int AS days, sum(samples)::int AS samples,
                             sum(speed_sum)::bigint AS speed_sum, a.hn, a.hs
                        FROM k JOIN a USING (link_id, month, weekend) GROUP BY link_id, month, weekend, a.hn, a.hs),
             got AS (SELECT link_id, month, weekend, days::int, samples, speed_sum, hour_samples, hour_speed_sum FROM %s)
        SELECT count(*) FROM ((SELECT * FROM got EXCEPT ALL SELECT * FROM want)
                              UNION ALL (SELECT * FROM want EXCEPT ALL SELECT * FROM got)) x$q$,
        days, vs_ingest.months_of(days)) INTO n;
    RETURN n;
END
$$;
