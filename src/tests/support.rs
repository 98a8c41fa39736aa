//! Helpers for the in-database tests: generated input files, loads, and an independent SQL
//! computation of the hourly rows those files should produce.

// Re-exported: the suites name paths and the generator's types through `support::*`.
pub(crate) use std::path::{Path, PathBuf};

use pgrx::prelude::*;
pub(crate) use vs_ingest_gen::{self as gen, Container, GenConfig, Manifest, Quirks, Variant};

/// Must match `vs_ingest.allowed_dirs` in `pg_test::postgresql_conf_options`.
pub(crate) const TEST_ROOT: &str = "/tmp/vs_ingest_pgtest";

pub(crate) fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(TEST_ROOT).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test directory");
    dir
}

pub(crate) struct Day {
    pub(crate) links: u32,
    pub(crate) start: &'static str,
    pub(crate) days: u32,
    pub(crate) variant: Variant,
    pub(crate) container: Container,
    pub(crate) quirks: Quirks,
    pub(crate) seed: u64,
}

impl Default for Day {
    fn default() -> Self {
        Day {
            links: 500,
            start: "2023-07-01",
            days: 1,
            variant: Variant::Y2023,
            container: Container::Zip,
            quirks: Quirks::default(),
            seed: 42,
        }
    }
}

pub(crate) fn generate(dir: &Path, day: Day) -> Vec<Manifest> {
    let cfg = GenConfig {
        links: day.links,
        start: gen::parse_date(day.start).expect("test date"),
        days: day.days,
        variant: day.variant,
        container: day.container,
        seed: day.seed,
        plain_copy: true,
        compression_level: 1,
        quirks: day.quirks,
    };
    gen::generate(&cfg, dir).expect("generate test files")
}

/// The summary row of a load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Loaded {
    pub(crate) run_id: i64,
    pub(crate) files_seen: i32,
    pub(crate) files_loaded: i32,
    pub(crate) files_skipped: i32,
    pub(crate) files_failed: i32,
    pub(crate) rows_read: i64,
    pub(crate) rows_loaded: i64,
    pub(crate) rows_duplicate: i64,
    pub(crate) rows_rejected: i64,
}

pub(crate) fn summary(query: &str) -> Loaded {
    Spi::connect(|client| {
        let row = client.select(query, None, &[]).expect("load").first();
        let int = |i| row.get::<i32>(i).unwrap().unwrap();
        let big = |i| row.get::<i64>(i).unwrap().unwrap();
        Loaded {
            run_id: big(1),
            files_seen: int(2),
            files_loaded: int(3),
            files_skipped: int(4),
            files_failed: int(5),
            rows_read: big(6),
            rows_loaded: big(7),
            rows_duplicate: big(8),
            rows_rejected: big(9),
        }
    })
}

pub(crate) fn load_dir(dir: &Path, pattern: &str, target: &str) -> Loaded {
    summary(&format!("SELECT * FROM vs_ingest_dir('{}', '{pattern}', target => '{target}')", dir.display()))
}

/// Loads every file of `dir` with extra named arguments, e.g. `"format => 'x'"`.
pub(crate) fn load_dir_with(dir: &Path, arguments: &str) -> Loaded {
    summary(&format!("SELECT * FROM vs_ingest_dir('{}', {arguments})", dir.display()))
}

pub(crate) fn one<T: IntoDatum + FromDatum>(query: &str) -> T {
    Spi::get_one::<T>(query).expect("query").expect("a value")
}

/// Reads the plain copies of `manifests`, in load order, into `raw_lines(lineno, file_no, line,
/// file_date)`, and computes from them in SQL alone — no vs_ingest code — the hourly rows the files
/// must produce, into the temporary table `expected`. The SQL follows ITS_DATA.md: header and BOM
/// skipped, HHMM left-padded, exactly six fields, numeric link ids, speeds 0-300 or empty, travel
/// time 0 = missing, rows of other days than the file's dropped, and the first sample of a slot
/// wins. The valid rows, first or not, stay in the temporary table `valid_rows(lineno, link, hm, d,
/// sp, tt)` (`sp <> ''`: a sample).
pub(crate) fn compute_expected(manifests: &[&Manifest], time_zone: &str) {
    let files: Vec<(&Path, String)> =
        manifests.iter().map(|m| (m.plain_copy.as_deref().expect("plain copy"), m.date.to_string())).collect();
    compute_expected_of(&files, time_zone);
}

/// `compute_expected` of plain files, each with the date (YYYYMMDD) its name gives.
pub(crate) fn compute_expected_of(files: &[(&Path, String)], time_zone: &str) {
    // Sorts and hashes of a few million lines stay in memory (the default 4 MB spills them to
    // disk; this computation, and the comparisons after it in the test's transaction, were most
    // of the in-database suite's time).
    Spi::run(
        "SET LOCAL work_mem = '256MB';
         DROP TABLE IF EXISTS raw_lines, valid_rows, expected;
         CREATE TEMP TABLE raw_lines (lineno bigint GENERATED ALWAYS AS IDENTITY, line text,
                                      file_no int, file_date text)",
    )
    .unwrap();
    for (i, (plain, date)) in files.iter().enumerate() {
        // Each file's lines get its number and date as they are copied (column defaults).
        Spi::run(&format!(
            "ALTER TABLE raw_lines ALTER COLUMN file_no SET DEFAULT {i}, ALTER COLUMN file_date SET DEFAULT '{date}';
             COPY raw_lines (line) FROM '{}' WITH (FORMAT text, DELIMITER E'\\x01')",
            plain.display(),
        ))
        .unwrap();
    }
    let slots = |column: &str| {
        (0..12).map(|slot| format!("max({column}) FILTER (WHERE slot = {slot})")).collect::<Vec<_>>().join(", ")
    };
    let (speeds, travel_times) = (slots("speed"), slots("tt"));
    Spi::run(&format!(
        r#"CREATE TEMP TABLE valid_rows AS
        -- Each line is cleaned and split once (a subquery per row: OFFSET 0 keeps the planner from
        -- copying its expressions into every condition), and fields are checked with plain string
        -- functions (bounded regular expressions were most of this computation's time).
        WITH firsts AS (
            SELECT file_no, min(lineno) AS first FROM raw_lines GROUP BY file_no
        ), fields AS (
            SELECT r.lineno, r.file_date, p.*
              FROM raw_lines r JOIN firsts f USING (file_no)
             CROSS JOIN LATERAL (SELECT replace(r.line, U&'\FEFF', '') AS line OFFSET 0) l
             CROSS JOIN LATERAL (SELECT split_part(l.line, ',', 1) AS f1, split_part(l.line, ',', 2) AS f2,
                                        split_part(l.line, ',', 3) AS f3, split_part(l.line, ',', 5) AS f5,
                                        split_part(l.line, ',', 6) AS f6,
                                        length(l.line) - length(replace(l.line, ',', '')) AS commas OFFSET 0) p
             -- A first line whose first field is not a number is a header.
             WHERE l.line <> '' AND NOT (r.lineno = f.first AND p.f1 ~ '[^0-9]')
        ), valid AS (
            SELECT lineno, f3::bigint AS link, lpad(f2, 4, '0') AS hm, file_date AS d, f5 AS sp, f6 AS tt
              FROM fields
             WHERE commas = 5
               AND f1 = file_date
               -- HHMM: 1-4 digits, a real 5-minute time.
               AND CASE WHEN f2 <> '' AND length(f2) <= 4 AND translate(f2, '0123456789', '') = ''
                        THEN f2::int / 100 < 24 AND f2::int % 100 < 60 AND f2::int % 5 = 0 END
               -- Link: 1-18 digits.
               AND f3 <> '' AND length(f3) <= 18 AND translate(f3, '0123456789', '') = ''
               -- Speed: empty, or digits with at most one decimal point inside, at most 300.
               AND CASE WHEN f5 = '' THEN true
                        WHEN translate(f5, '0123456789.', '') = '' AND length(f5) - length(replace(f5, '.', '')) <= 1
                             AND f5 NOT LIKE '.%' AND f5 NOT LIKE '%.'
                        THEN f5::numeric <= 300 END
               -- Travel time: 0-9 digits.
               AND length(f6) <= 9 AND translate(f6, '0123456789', '') = ''
        )
        SELECT * FROM valid;
        CREATE TEMP TABLE expected AS
        WITH first_sample AS (
            SELECT DISTINCT ON (link, d, hm) link, d, hm::int / 100 AS hh, hm::int % 100 / 5 AS slot,
                   sp::real AS speed, nullif(nullif(tt, '')::int, 0) AS tt
              FROM valid_rows WHERE sp <> ''
             ORDER BY link, d, hm, lineno
        )
        -- One row per link and hour with a sample; slot s of the arrays is the hour's sample at
        -- minute 5s, NULL where it has none.
        SELECT (to_date(d, 'YYYYMMDD')::timestamp + make_interval(hours => hh)) AT TIME ZONE '{time_zone}' AS hour,
               link AS link_id,
               ARRAY[{speeds}] AS speed,
               ARRAY[{travel_times}] AS travel_time,
               count(*)::smallint AS samples,
               avg(speed)::real AS speed_avg, min(speed) AS speed_min, max(speed) AS speed_max
          FROM first_sample GROUP BY link, d, hh"#
    ))
    .unwrap();
}

/// Rows of `target` not in `expected`, and of `expected` not in `target`.
pub(crate) fn differences(target: &str) -> (i64, i64) {
    let cols = "hour, link_id, speed, travel_time, samples, speed_avg, speed_min, speed_max";
    let extra = one::<i64>(&format!(
        "SELECT count(*) FROM (SELECT {cols} FROM {target} EXCEPT ALL SELECT {cols} FROM expected) x"
    ));
    let missing = one::<i64>(&format!(
        "SELECT count(*) FROM (SELECT {cols} FROM expected EXCEPT ALL SELECT {cols} FROM {target}) x"
    ));
    (extra, missing)
}

/// Rows of the rollup table `days` that differ from rollups of `expected` computed here in SQL
/// (every sample of each link and local day of `time_zone`, per local hour, the longest run of
/// consecutive slots with one speed and the largest change between consecutive slots), and rows
/// missing from it: 0 when the load kept its rollups exact.
pub(crate) fn rollup_differences(days: &str, time_zone: &str) -> i64 {
    one::<i64>(&format!(
        r#"WITH s AS (
            SELECT e.link_id, (e.hour AT TIME ZONE '{time_zone}')::date AS day,
                   extract(hour FROM e.hour AT TIME ZONE '{time_zone}')::int AS h,
                   extract(hour FROM e.hour AT TIME ZONE '{time_zone}')::int * 12 + u.i::int - 1 AS idx,
                   round(u.v * 10)::int AS t
              FROM expected e, unnest(e.speed) WITH ORDINALITY AS u(v, i) WHERE u.v IS NOT NULL
        ), hr AS (
            SELECT link_id, day, h, count(*)::int AS n, sum(t)::int AS st, min(t) AS mn, max(t) AS mx
              FROM s GROUP BY 1, 2, 3
        ), runs AS (
            -- Islands: slots of one speed whose index minus their rank among that speed's is equal.
            SELECT link_id, day, max(n)::int AS longest FROM (
                SELECT link_id, day, count(*) AS n FROM (
                    SELECT link_id, day, t, idx - row_number() OVER (PARTITION BY link_id, day, t ORDER BY idx) AS g
                      FROM s) x GROUP BY link_id, day, t, g) y
             GROUP BY 1, 2
        ), jumps AS (
            SELECT link_id, day, coalesce(max(abs(t - pt)) FILTER (WHERE idx - pidx = 1), 0)::int AS jump FROM (
                SELECT link_id, day, idx, t, lag(t) OVER w AS pt, lag(idx) OVER w AS pidx
                  FROM s WINDOW w AS (PARTITION BY link_id, day ORDER BY idx)) z
             GROUP BY 1, 2
        ), d AS (
            SELECT link_id, day, sum(n)::int AS samples, sum(st)::int AS speed_sum, min(mn) AS mn, max(mx) AS mx,
                   array_agg(h) AS hs, array_agg(n) AS ns, array_agg(st) AS sts
              FROM hr GROUP BY 1, 2
        ), want AS (
            SELECT d.link_id, d.day, samples, speed_sum, mn, mx,
                   ARRAY(SELECT coalesce(ns[array_position(hs, g)], 0) FROM generate_series(0, 23) AS g) AS hn,
                   ARRAY(SELECT coalesce(sts[array_position(hs, g)], 0) FROM generate_series(0, 23) AS g) AS hst,
                   r.longest, j.jump
              FROM d JOIN runs r USING (link_id, day) JOIN jumps j USING (link_id, day)
        ), got AS (
            SELECT link_id, day, samples::int, speed_sum, speed_min::int, speed_max::int,
                   hour_samples::int[], hour_speed_sum, longest_run::int, max_jump::int FROM {days}
        )
        SELECT (SELECT count(*) FROM (SELECT * FROM got EXCEPT ALL SELECT * FROM want) x)
             + (SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM got) y)"#
    )) + month_differences(days)
}

/// Rows of the monthly rollups of the rollup table `days` that differ from sums of its daily rows
/// (per link, local month and day type, every figure and each hour's), and rows missing from
/// them: 0 when the load kept them exact. With [`rollup_differences`]' check of the daily rows
/// against an independent computation, this checks the monthly rows against it too.
pub(crate) fn month_differences(days: &str) -> i64 {
    let months = one::<String>(&format!("SELECT vs_ingest.months_of('{days}'::regclass)::text"));
    one::<i64>(&format!(
        "WITH k AS (
             SELECT d.*, date_trunc('month', d.day)::date AS month, extract(isodow FROM d.day) > 5 AS weekend FROM {days} d
         ), h AS (
             SELECT k.link_id, k.month, k.weekend, u.i, sum(u.n)::int AS n, sum(u.s)::int AS s
               FROM k, unnest(k.hour_samples, k.hour_speed_sum) WITH ORDINALITY AS u(n, s, i) GROUP BY 1, 2, 3, 4
         ), a AS (
             SELECT link_id, month, weekend, array_agg(n ORDER BY i) AS hn, array_agg(s ORDER BY i) AS hs FROM h GROUP BY 1, 2, 3
         ), want AS (
             SELECT link_id, month, weekend, count(*)::int AS days, sum(samples)::int AS samples,
                    sum(speed_sum)::bigint AS speed_sum, a.hn, a.hs
               FROM k JOIN a USING (link_id, month, weekend) GROUP BY link_id, month, weekend, a.hn, a.hs
         ), got AS (
             SELECT link_id, month, weekend, days::int, samples, speed_sum, hour_samples, hour_speed_sum FROM {months}
         )
         SELECT count(*) FROM ((SELECT * FROM got EXCEPT ALL SELECT * FROM want)
                               UNION ALL (SELECT * FROM want EXCEPT ALL SELECT * FROM got)) x"
    ))
}

/// Hours of `expected` whose link count `vs_ingest.coverage` of `target` lacks or has otherwise,
/// and coverage hours of `target` that `expected` has no row in: (0, 0) when coverage is exact.
pub(crate) fn coverage_differences(target: &str) -> (i64, i64) {
    let wrong = one::<i64>(&format!(
        "SELECT count(*) FROM (SELECT hour, count(*)::int AS links FROM expected GROUP BY hour
                               EXCEPT SELECT hour, links FROM vs_ingest.coverage WHERE target_oid = '{target}'::regclass) x"
    ));
    let extra = one::<i64>(&format!(
        "SELECT count(*) FROM vs_ingest.coverage c WHERE target_oid = '{target}'::regclass
            AND NOT EXISTS (SELECT 1 FROM expected e WHERE e.hour = c.hour)"
    ));
    (wrong, extra)
}

/// Hours where the coverage kept for `target` (`vs_ingest.coverage`) disagrees with its rollups
/// `days`: the links with a sample in a local hour and the samples in it (its slots' links summed),
/// against the rollups' `hour_samples` of that local day. Two records kept by different code (the
/// writer's per-slot counts, the day's sums): 0 when they agree.
pub(crate) fn coverage_rollup_differences(target: &str, days: &str, time_zone: &str) -> i64 {
    one::<i64>(&format!(
        "WITH c AS (
             SELECT (hour AT TIME ZONE '{time_zone}')::date AS day,
                    extract(hour FROM hour AT TIME ZONE '{time_zone}')::int AS h,
                    links, (SELECT sum(n) FROM unnest(slot_links) n)::bigint AS samples
               FROM vs_ingest.coverage WHERE target_oid = '{target}'::regclass AND links > 0
         ), r AS (
             SELECT day, (u.h - 1)::int AS h, count(*) FILTER (WHERE u.n > 0)::int AS links, sum(u.n)::bigint AS samples
               FROM {days}, unnest(hour_samples) WITH ORDINALITY AS u(n, h)
              GROUP BY 1, 2 HAVING sum(u.n) > 0
         )
         SELECT count(*) FROM ((SELECT * FROM c EXCEPT ALL SELECT * FROM r) UNION ALL (SELECT * FROM r EXCEPT ALL SELECT * FROM c)) x"
    ))
}

/// A digest of a table's rows, to show a load changed nothing.
pub(crate) fn digest(target: &str) -> String {
    one::<String>(&format!("SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY link_id, hour), '')) FROM {target} t"))
}

/// Evaluates the SQL expression `call` in a session of its own, committed when it returns.
pub(crate) fn committed(call: &str) {
    committed_sql(&format!("DO $do$ BEGIN PERFORM {call}; END $do$"));
}

/// Runs `sql` in a session of its own (dblink), committed when it returns: a test's own
/// transaction never commits, and workers see only what is committed.
pub(crate) fn committed_sql(sql: &str) {
    Spi::run("CREATE EXTENSION IF NOT EXISTS dblink").unwrap();
    Spi::run_with_args(
        "SELECT dblink_exec(format('dbname=%s port=%s host=%s user=%s', current_database(),
                                   current_setting('port'),
                                   coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''),
                                            'localhost'),
                                   current_user), $1)",
        &[sql.into()],
    )
    .unwrap();
}

/// A count read in a session of its own (dblink): reading in the test's transaction would hold
/// locks that a later load's new partitions wait for.
pub(crate) fn count_elsewhere(query: &str) -> i64 {
    Spi::run("CREATE EXTENSION IF NOT EXISTS dblink").unwrap();
    Spi::get_one_with_args::<i64>(
        "SELECT n FROM dblink(format('dbname=%s port=%s host=%s user=%s', current_database(),
                                     current_setting('port'),
                                     coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''),
                                              'localhost'),
                                     current_user), $1) AS t(n bigint)",
        &[query.into()],
    )
    .unwrap()
    .unwrap()
}

/// The role a fault-injecting test loads as: a superuser role of its own whose sessions, and so
/// the workers of every load it starts or that resumes its runs, get the test-only setting `name`
/// (`None`: no longer). It is a role setting made by a superuser, read by the workers from the
/// server as the real settings are (never from a session or a stored request). Tests run two at a
/// time in one database: a database-wide setting would inject one test's faults into the other's
/// loads. The test runs its loads after `SET ROLE` to it.
pub(crate) fn fault_role(test: &str, name: &str, value: Option<&str>) -> String {
    let role = format!("vs_fault_{test}");
    committed_sql(&format!(
        "DO $d$ BEGIN CREATE ROLE {role} SUPERUSER LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $d$"
    ));
    match value {
        Some(v) => committed_sql(&format!("ALTER ROLE {role} SET {name} = '{v}'")),
        None => committed_sql(&format!("ALTER ROLE {role} RESET {name}")),
    }
    role
}

/// Runs `query`; returns "ok" or the error's SQLSTATE and message (inside a subtransaction, so
/// the test's transaction goes on).
pub(crate) fn try_sql(query: &str) -> String {
    // Created once per session, so that a test may call it after SET ROLE.
    if one::<bool>("SELECT to_regprocedure('pg_temp.try_sql(text)') IS NULL") {
        Spi::run(
            "CREATE FUNCTION pg_temp.try_sql(q text) RETURNS text LANGUAGE plpgsql AS $f$
             BEGIN EXECUTE q; RETURN 'ok';
             EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $f$",
        )
        .unwrap();
    }
    Spi::get_one_with_args::<String>("SELECT pg_temp.try_sql($1)", &[query.into()]).unwrap().unwrap()
}

/// Waits (polling with fresh snapshots) until the run is no longer running.
pub(crate) fn wait_for_run(run_id: i64) -> String {
    for _ in 0..6000 {
        let status = one::<String>(&format!("SELECT status FROM vs_ingest.run WHERE run_id = {run_id}"));
        if status != "running" && status != "cancelling" {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("run {run_id} did not finish in 120 s");
}

/// Waits until no worker of any vs_ingest run is alive.
pub(crate) fn wait_for_workers() {
    for _ in 0..6000 {
        Spi::run("SELECT pg_stat_clear_snapshot()").unwrap();
        if one::<i64>("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'vs_ingest worker'") == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("vs_ingest workers did not exit");
}

/// The latest run into `target` (other tests load at the same time).
pub(crate) fn last_run(target: &str) -> i64 {
    one::<i64>(&format!("SELECT max(run_id) FROM vs_ingest.run WHERE target = '{target}'"))
}
