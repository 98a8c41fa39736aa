//! The scheduler and sources: new, late and changed files, restarts, argument and owner checks,
//! history pruning and retention.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::tests::support::*;

    fn source_id(name: &str) -> i32 {
        Spi::get_one_with_args::<i32>("SELECT source_id FROM vs_ingest.source WHERE name = $1", &[name.into()])
            .unwrap()
            .expect("the source exists")
    }

    /// Waits until the newest ledger row of `path` has `status`; returns its run id.
    fn wait_for_file(path: &Path, status: &str) -> i64 {
        for _ in 0..3000 {
            let row = Spi::get_two_with_args::<String, i64>(
                "SELECT status, run_id FROM vs_ingest.file WHERE path = $1 ORDER BY file_id DESC LIMIT 1",
                &[path.display().to_string().into()],
            );
            if let Ok((Some(s), Some(run))) = row {
                if s == status && wait_for_run(run) != "running" {
                    return run;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let state = one::<String>(
            "SELECT coalesce(string_agg(format('%s: last checked %s, next %s, error %s', name, last_checked_at,
                                               next_check_at, last_error), '; '), 'no source')
               FROM vs_ingest.source",
        );
        let runs = one::<String>(
            "SELECT coalesce(string_agg(format('run %s of source %s: %s', run_id, source_id, status), '; '), 'no run')
               FROM (SELECT * FROM vs_ingest.run ORDER BY run_id DESC LIMIT 5) r",
        );
        panic!("{} did not become {status} within 60 s; {state}; {runs}", path.display());
    }

    /// Moves a generated file into `dir`, as a delivery would.
    fn deliver(m: &Manifest, dir: &Path) -> PathBuf {
        let to = dir.join(m.path.file_name().unwrap());
        std::fs::rename(&m.path, &to).unwrap();
        to
    }

    /// Waits for a running scheduler other than `not`; its pid. (It starts once the test database
    /// exists, and again 5 s after it exits.)
    fn wait_for_scheduler(not: Option<i32>) -> i32 {
        for _ in 0..1500 {
            // pg_stat_activity is a snapshot per transaction unless cleared.
            Spi::run("SELECT pg_stat_clear_snapshot()").unwrap();
            let pid =
                Spi::get_one::<i32>("SELECT pid FROM pg_stat_activity WHERE backend_type = 'vs_ingest scheduler'")
                    .unwrap_or(None);
            if let Some(pid) = pid.filter(|&p| Some(p) != not) {
                return pid;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("no vs_ingest scheduler is running");
    }

    /// Coverage rows that differ from a count over the table's rows (the report never scans them).
    fn coverage_differences(target: &str) -> i64 {
        one::<i64>(&format!(
            "WITH counted AS (
                 SELECT hour, count(*) FILTER (WHERE samples > 0)::int AS links,
                        ARRAY(SELECT count(t2.speed[i])::int FROM {target} t2, generate_series(1, 12) i
                               WHERE t2.hour = t.hour GROUP BY i ORDER BY i) AS slot_links
                   FROM {target} t GROUP BY hour)
             SELECT count(*) FROM (
                 (SELECT hour, links, slot_links FROM counted
                  EXCEPT SELECT hour, links, slot_links FROM vs_ingest.coverage WHERE target = '{target}')
                 UNION ALL
                 (SELECT hour, links, slot_links FROM vs_ingest.coverage WHERE target = '{target}'
                  EXCEPT SELECT hour, links, slot_links FROM counted)) d"
        ))
    }

    #[pg_test]
    fn the_scheduler_loads_new_late_and_changed_files_and_reports_the_gaps() {
        let dir = fresh_dir("sched");
        let incoming = fresh_dir("sched_incoming");
        let days = generate(&incoming, Day { links: 300, days: 3, ..Day::default() });
        let (d1, d2, d3) = (&days[0], &days[1], &days[2]);
        committed(&format!(
            "vs_ingest_add_source('sched_main', '{}', '*_5Min.zip', every => '1 second',
                                         target => 'public.sched')",
            dir.display()
        ));
        let source = source_id("sched_main");

        // Days 1 and 3 arrive; day 2 does not (yet).
        let p1 = deliver(d1, &dir);
        wait_for_file(&p1, "loaded");
        let p3 = deliver(d3, &dir);
        wait_for_file(&p3, "loaded");
        let runs = || one::<i64>(&format!("SELECT count(*) FROM vs_ingest.run WHERE source_id = {source}"));
        let before = runs();
        std::thread::sleep(std::time::Duration::from_secs(3));
        assert_eq!(runs(), before, "checks that find nothing new start no run");

        // The report names the missing day as one run of 288 empty intervals. (It reads only
        // vs_ingest.coverage: this transaction must not lock public.sched yet, or the late day's
        // worker could not add its partition until the test ends.)
        let range = "'2023-07-01 00:00+09', '2023-07-04 00:00+09', 'public.sched', min_coverage => 0.5";
        let gaps = one::<String>(&format!(
            "SELECT string_agg(format('%s %s %s %s', kind, interval_start AT TIME ZONE 'Asia/Seoul',
                                      interval_end AT TIME ZONE 'Asia/Seoul', intervals), '; ')
               FROM vs_ingest_gaps({range})"
        ));
        assert_eq!(gaps, "no_data 2023-07-02 00:00:00 2023-07-03 00:00:00 288");
        // Day 3's hours have day 1 as history: every link reported.
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM vs_ingest_coverage('2023-07-03 00:00+09', '2023-07-04 00:00+09', 'public.sched')
                  WHERE links_expected = 300 AND links_reported = 300 AND coverage = 1 AND slots_missing = 0"
            ),
            24
        );

        // The late day merges, and the report is clean.
        let p2 = deliver(d2, &dir);
        wait_for_file(&p2, "loaded");
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM vs_ingest_gaps({range})")), 0);
        compute_expected(&[d1, d2, d3], "Asia/Seoul");
        assert_eq!(differences("public.sched"), (0, 0));
        // The coverage the report reads matches the table, row for row.
        assert_eq!(coverage_differences("public.sched"), 0);
        let loaded = digest("public.sched");

        // Day 1 is re-delivered with other content: reported, not loaded ...
        let other = fresh_dir("sched_other");
        let mut again = generate(&other, Day { links: 350, seed: 9, ..Day::default() }).remove(0);
        std::fs::rename(&again.path, &p1).unwrap();
        again.path = p1.clone();
        wait_for_file(&p1, "changed");
        assert_eq!(digest("public.sched"), loaded);
        // ... until the source reloads changed files; then it merges, the first sample winning.
        committed("vs_ingest_alter_source('sched_main', reload_changed => true)");
        wait_for_file(&p1, "loaded");
        compute_expected(&[d1, d2, d3, &again], "Asia/Seoul");
        assert_eq!(differences("public.sched"), (0, 0));
        assert_eq!(coverage_differences("public.sched"), 0);

        // A source that replaces (a feed of corrected files) rebuilds day 1 from its correction
        // alone, whether or not it reloads changed files.
        committed("vs_ingest_alter_source('sched_main', reload_changed => false, replace => true)");
        let corrected = fresh_dir("sched_corrected");
        let mut fixed = generate(&corrected, Day { links: 320, seed: 10, ..Day::default() }).remove(0);
        std::fs::rename(&fixed.path, &p1).unwrap();
        fixed.path = p1.clone();
        let superseded =
            format!("SELECT count(*) FROM vs_ingest.file WHERE path = '{}' AND status = 'superseded'", p1.display());
        for _ in 0..3000 {
            if one::<i64>(&superseded) == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(one::<i64>(&superseded), 2, "the correction replaced day 1");
        wait_for_file(&p1, "loaded");
        let fixed_rows = one::<i64>(&format!(
            "SELECT count(*) FROM vs_ingest.file WHERE path = '{}' AND status = 'loaded'",
            p1.display()
        ));
        assert_eq!(fixed_rows, 1);
        compute_expected(&[&fixed, d2, d3], "Asia/Seoul");
        assert_eq!(differences("public.sched"), (0, 0));
        assert_eq!(coverage_differences("public.sched"), 0);

        // The history: one run per delivery, each of one file, all succeeded; the first two
        // versions of day 1 superseded by the third.
        let history = one::<String>(&format!(
            "SELECT string_agg(format('%s:%s', r.status, f.status), ' ' ORDER BY r.run_id)
               FROM vs_ingest.run r JOIN vs_ingest.file f USING (run_id) WHERE r.source_id = {source}"
        ));
        assert_eq!(
            history,
            "succeeded:superseded succeeded:loaded succeeded:loaded succeeded:changed succeeded:superseded \
             succeeded:loaded"
        );
        committed("vs_ingest_drop_source('sched_main')");
    }

    #[pg_test]
    fn a_stopped_scheduler_restarts_and_a_stopped_load_resumes_at_the_next_check() {
        // SIGTERM ends the scheduler; the postmaster starts it again.
        let first = wait_for_scheduler(None);
        Spi::run(&format!("SELECT pg_terminate_backend({first})")).unwrap();
        wait_for_scheduler(Some(first));

        let dir = fresh_dir("sched_stop");
        let incoming = fresh_dir("sched_stop_incoming");
        // Large enough that the worker is still loading when it is found and terminated.
        let m = generate(&incoming, Day { links: 10_000, ..Day::default() }).remove(0);
        committed(&format!(
            "vs_ingest_add_source('sched_stop', '{}', '*_5Min.zip', every => '1 second',
                                         target => 'public.sched_stop')",
            dir.display()
        ));
        let path = deliver(&m, &dir);
        // While the worker loads the file (a one-day file is one chunk: nothing is committed before
        // its end), SIGTERM it.
        let mut pid = None;
        for _ in 0..3000 {
            pid = Spi::get_one_with_args::<i32>(
                "SELECT worker_pid FROM vs_ingest.file WHERE path = $1 AND status = 'loading'",
                &[path.display().to_string().into()],
            )
            .unwrap_or(None);
            if pid.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let pid = pid.expect("the scheduler started loading the file");
        Spi::run(&format!("SELECT pg_terminate_backend({pid})")).unwrap();
        // The worker ends at once (its chunk in flight rolls back); the next check resumes the file.
        let resumed = wait_for_file(&path, "loaded");
        let stopped = one::<String>(&format!(
            "SELECT string_agg(f.status || '/' || r.status, ' ' ORDER BY f.file_id) FROM vs_ingest.file f
               JOIN vs_ingest.run r USING (run_id) WHERE f.path = '{}'",
            path.display()
        ));
        // The terminated worker's run was left running and is marked failed; the next check loads
        // the file again (it had no committed chunk: nothing to hand over, so the old row is
        // adopted only if its run was already marked failed when the next load began).
        assert!(
            ["resumed/failed loaded/succeeded", "loading/failed loaded/succeeded"].contains(&stopped.as_str()),
            "{stopped}"
        );
        let (chunks_before, rows) = Spi::get_two::<i32, i64>(&format!(
            "SELECT (SELECT chunks FROM vs_ingest.file WHERE path = '{}' AND status IN ('resumed', 'loading')), rows_read
               FROM vs_ingest.file WHERE run_id = {resumed}",
            path.display()
        ))
        .unwrap();
        assert_eq!(chunks_before.unwrap(), 0);
        assert_eq!(rows.unwrap(), m.data_rows as i64, "the resumed file counts every row once");
        compute_expected(&[&m], "Asia/Seoul");
        assert_eq!(differences("public.sched_stop"), (0, 0));
        assert_eq!(rollup_differences("public.sched_stop_days", "Asia/Seoul"), 0);
        committed("vs_ingest_drop_source('sched_stop')");
    }

    #[pg_test]
    fn source_functions_check_their_arguments_and_the_owner() {
        let dir = fresh_dir("sched_args");
        let d = dir.display();
        let add = |args: &str| try_sql(&format!("SELECT vs_ingest_add_source('args', '{d}', {args})"));
        assert_eq!(add("'*.zip'"), "ok");
        assert!(add("'*.zip'").starts_with("42710"), "a second source of the same name");
        assert!(try_sql("SELECT vs_ingest_add_source('x', '/etc')").starts_with("42501"));
        assert!(try_sql(&format!("SELECT vs_ingest_add_source('x', '{d}/nope')")).starts_with("58P01"));
        assert!(add("'[z-a]'").starts_with("22023"), "bad pattern");
        assert!(try_sql(&format!("SELECT vs_ingest_add_source('x', '{d}', every => '0')")).starts_with("22023"));
        assert!(try_sql(&format!("SELECT vs_ingest_add_source('x', '{d}', format => 'csv')")).starts_with("22023"));
        assert!(try_sql(&format!("SELECT vs_ingest_add_source('x', '{d}', source_timezone => 'Mars/Base')"))
            .starts_with("22023"));
        assert!(try_sql(&format!("SELECT vs_ingest_add_source('x', '{d}', retain => '-1 day')")).starts_with("22023"));
        assert!(try_sql(&format!("SELECT vs_ingest_add_source('x', '{d}', retain_action => 'archive')"))
            .starts_with("22023"));
        assert!(try_sql("SELECT vs_ingest_alter_source('nope', enabled => false)").starts_with("42704"));
        assert!(try_sql("SELECT vs_ingest_alter_source('args', max_reject_ratio => 2)").starts_with("22023"));

        assert_eq!(try_sql("SELECT vs_ingest_alter_source('args', every => '1 hour', retain => '30 days')"), "ok");
        assert_eq!(try_sql("SELECT vs_ingest_disable_source('args')"), "ok");
        assert_eq!(
            one::<String>(
                "SELECT format('%s %s %s %s', owner, every, retain, enabled) FROM vs_ingest.source WHERE name = 'args'"
            ),
            "postgres 01:00:00 30 days f"
        );
        assert_eq!(try_sql("SELECT vs_ingest_alter_source('args', retain => '0')"), "ok");
        assert!(one::<bool>("SELECT retain IS NULL FROM vs_ingest.source WHERE name = 'args'"));

        // Another loading role may neither change nor run it, nor write the table directly.
        Spi::run("CREATE ROLE sched_other_loader IN ROLE pg_read_server_files").unwrap();
        Spi::run("SET ROLE sched_other_loader").unwrap();
        assert!(try_sql("SELECT vs_ingest_drop_source('args')").starts_with("42501"));
        assert!(try_sql("SELECT vs_ingest_run_source('args')").starts_with("42501"));
        assert!(try_sql("UPDATE vs_ingest.source SET owner = 'postgres'").starts_with("42501"));
        Spi::run("RESET ROLE").unwrap();
        assert_eq!(try_sql("SELECT vs_ingest_drop_source('args')"), "ok");

        // The catalog is written with rights the caller lacks, under a fixed search_path: a
        // function of the caller's that shadows a built-in must not run there.
        Spi::run("CREATE ROLE sched_shadow IN ROLE pg_read_server_files").unwrap();
        Spi::run("CREATE SCHEMA sched_shadow AUTHORIZATION sched_shadow").unwrap();
        Spi::run("SET ROLE sched_shadow").unwrap();
        Spi::run(&format!("SELECT vs_ingest_add_source('shadowed', '{d}', target => 'public.shadowed')")).unwrap();
        Spi::run(
            "CREATE TABLE sched_shadow.ran_as (who text);
             CREATE FUNCTION sched_shadow.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $f$
             BEGIN INSERT INTO sched_shadow.ran_as VALUES (current_user); RETURN now(); END $f$;
             SET search_path = sched_shadow, pg_catalog, public",
        )
        .unwrap();
        assert_eq!(try_sql("SELECT vs_ingest_alter_source('shadowed', every => '2 minutes')"), "ok");
        Spi::run("RESET search_path; RESET ROLE").unwrap();
        assert_eq!(one::<i64>("SELECT count(*) FROM sched_shadow.ran_as"), 0);
        assert_eq!(one::<String>("SELECT target FROM vs_ingest.source WHERE name = 'shadowed'"), "public.shadowed");
    }

    #[pg_test]
    fn run_source_loads_now_and_pruning_keeps_what_skips_loaded_files() {
        let dir = fresh_dir("sched_run");
        let days = generate(&dir, Day { links: 200, days: 2, ..Day::default() });
        // Disabled: only vs_ingest_run_source loads it (in this transaction, unseen by the scheduler).
        Spi::run(&format!(
            "SELECT vs_ingest_add_source('sched_run', '{}', '*_5Min.zip', target => 'public.sched_run',
                                         enabled => false)",
            dir.display()
        ))
        .unwrap();
        let first = summary("SELECT * FROM vs_ingest_run_source('sched_run')");
        assert_eq!((first.files_loaded, first.files_skipped), (2, 0));
        let second = summary("SELECT * FROM vs_ingest_run_source('sched_run')");
        assert_eq!((second.files_loaded, second.files_skipped), (0, 2));
        compute_expected(&[&days[0], &days[1]], "Asia/Seoul");
        assert_eq!(differences("public.sched_run"), (0, 0));

        // Pruning everything finished keeps the loaded files' ledger rows (of the first run) and drops
        // the run that only skipped.
        Spi::run("SELECT * FROM vs_ingest.prune_history(0)").unwrap();
        let left = |run: i64| one::<i64>(&format!("SELECT count(*) FROM vs_ingest.file WHERE run_id = {run}"));
        assert_eq!((left(first.run_id), left(second.run_id)), (2, 0));
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM vs_ingest.run WHERE run_id = {}", second.run_id)), 0);
        let third = summary("SELECT * FROM vs_ingest_run_source('sched_run')");
        assert_eq!((third.files_loaded, third.files_skipped), (0, 2));
    }

    #[pg_test]
    fn retention_detaches_or_drops_the_old_days() {
        let dir = fresh_dir("retain");
        generate(&dir, Day { links: 50, days: 3, ..Day::default() });
        load_dir(&dir, "*.zip", "public.retain");
        let link_days = |view: &str| one::<i64>(&format!("SELECT coalesce(sum(days), 0)::int8 FROM {view}"));
        assert_eq!(link_days("public.retain_monthly"), 150);
        // Days that ended before 2023-07-02 24:00 in Seoul: the first two.
        let older = "clock_timestamp() - timestamptz '2023-07-03 00:00+09'";
        let detached = one::<String>(&format!(
            "SELECT string_agg(p, ' ' ORDER BY p) FROM vs_ingest.apply_retention('public.retain', {older}, 'detach') p"
        ));
        assert_eq!(detached, "public.retain_blocks_p20230701 public.retain_blocks_p20230702");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.retain_blocks'::regclass"),
            1
        );
        assert!(one::<i64>("SELECT count(*) FROM retain_blocks_p20230701") > 0, "a detached day keeps its rows");
        // The days' rollups went with them.
        assert_eq!(
            one::<String>(
                "SELECT string_agg(local_day::text, ' ') FROM (SELECT DISTINCT local_day FROM public.retain_daily) d"
            ),
            "2023-07-03"
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM retain_days_d20230701"), 50);
        // And the monthly rollups lost them: what is left is the third day's, summed.
        assert_eq!(link_days("public.retain_monthly"), 50);
        assert_eq!(month_differences("public.retain_days"), 0);
        // Dropping the third day also forgets its coverage.
        Spi::run("SELECT vs_ingest.apply_retention('public.retain', '1 day', 'drop')").unwrap();
        assert!(Spi::get_one::<bool>("SELECT to_regclass('retain_blocks_p20230703') IS NULL").unwrap().unwrap());
        assert!(Spi::get_one::<bool>("SELECT to_regclass('retain_days_d20230703') IS NULL").unwrap().unwrap());
        assert_eq!(one::<i64>("SELECT count(*) FROM public.retain_daily"), 0);
        assert_eq!(one::<i64>("SELECT count(*) FROM public.retain_monthly"), 0);
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM vs_ingest.coverage WHERE target = 'public.retain' AND hour >= '2023-07-03 00:00+09'"
            ),
            0
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM vs_ingest.coverage WHERE target = 'public.retain'"), 48);
    }

    /// The notifications on channel `vs_ingest` that the listening dblink connection `name` got
    /// since the last call, as "event kind day" for source `source` (an overdue run's last day
    /// moves on with the clock and with loads, without a notification).
    fn notifications(name: &str, source: &str, got: &mut Vec<String>) {
        let new = one::<String>(&format!(
            "SELECT coalesce(string_agg(format('%s %s %s', p->>'event', p->>'kind',
                                               coalesce(p->>'day', regexp_replace(p->>'file', '^.*/', ''))),
                                        '|' ORDER BY n), '')
               FROM (SELECT extra::json AS p, row_number() OVER () AS n
                       FROM dblink_get_notify('{name}') WHERE notify_name = 'vs_ingest') x
              WHERE p->>'source' = '{source}'"
        ));
        got.extend(new.split('|').filter(|s| !s.is_empty()).map(str::to_string));
    }

    #[pg_test]
    fn alerts_are_raised_once_and_cleared_once_with_a_notify_each() {
        wait_for_scheduler(None);
        let dir = fresh_dir("alerts");
        let incoming = fresh_dir("alerts_incoming");
        let days = generate(&incoming, Day { links: 300, days: 2, start: "2023-07-01", ..Day::default() });
        // Day 3 thin: 200 of the 300 links of the days before.
        let thin = generate(&incoming, Day { links: 200, start: "2023-07-03", seed: 3, ..Day::default() }).remove(0);
        // A real listener, in a session of its own.
        Spi::run("CREATE EXTENSION IF NOT EXISTS dblink").unwrap();
        Spi::run(
            "SELECT dblink_connect('alerts_listener',
                    format('dbname=%s port=%s host=%s user=%s', current_database(), current_setting('port'),
                           coalesce(nullif(split_part(current_setting('unix_socket_directories'), ',', 1), ''),
                                    'localhost'), current_user));
             SELECT dblink_exec('alerts_listener', 'LISTEN vs_ingest')",
        )
        .unwrap();
        committed(&format!(
            "vs_ingest_add_source('alerts', '{}', '*_5Min.zip', every => '1 second', target => 'public.alerted',
                                  due_after => '1 hour', min_coverage => 0.95)",
            dir.display()
        ));
        let p1 = deliver(&days[0], &dir);
        wait_for_file(&p1, "loaded");
        let p3 = deliver(&thin, &dir);
        wait_for_file(&p3, "loaded");
        let yesterday =
            one::<String>("SELECT ((clock_timestamp() - interval '1 hour') AT TIME ZONE 'Asia/Seoul')::date - 1 || ''");
        let open = || {
            one::<String>(
                "SELECT coalesce(string_agg(format('%s %s..%s', kind, day, last_day), ' ' ORDER BY kind, day), '')
                   FROM vs_ingest.alerts WHERE source = 'alerts'",
            )
        };
        let want =
            format!("overdue 2023-07-02..2023-07-02 overdue 2023-07-04..{yesterday} thin 2023-07-03..2023-07-03");
        let mut got = Vec::new();
        for _ in 0..1500 {
            notifications("alerts_listener", "alerts", &mut got);
            if open() == want && got.len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(open(), want);
        // A few more ticks announce nothing new: each alert once.
        std::thread::sleep(std::time::Duration::from_secs(3));
        notifications("alerts_listener", "alerts", &mut got);
        got.sort();
        assert_eq!(got, vec!["raised overdue 2023-07-02", "raised overdue 2023-07-04", "raised thin 2023-07-03"]);
        // The missing day arrives: its alert clears, once.
        let p2 = deliver(&days[1], &dir);
        wait_for_file(&p2, "loaded");
        let mut cleared = Vec::new();
        for _ in 0..1500 {
            notifications("alerts_listener", "alerts", &mut cleared);
            if !cleared.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
        notifications("alerts_listener", "alerts", &mut cleared);
        assert_eq!(cleared, vec!["cleared overdue 2023-07-02"]);
        assert_eq!(open(), format!("overdue 2023-07-04..{yesterday} thin 2023-07-03..2023-07-03"));
        // A file that fails twice (delivered broken, then tried again by vs_ingest_run_source) is
        // an alert too.
        let broken = dir.join("20230705_5Min.zip");
        std::fs::write(&broken, b"PK\x03\x04 this is not a zip archive").unwrap();
        wait_for_file(&broken, "failed");
        committed("vs_ingest_run_source('alerts')");
        let mut failing = Vec::new();
        for _ in 0..1500 {
            notifications("alerts_listener", "alerts", &mut failing);
            if !failing.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(failing, vec!["raised failing 20230705_5Min.zip"]);
        let detail = one::<String>(
            "SELECT file || '|' || detail FROM vs_ingest.alerts WHERE kind = 'failing' AND source = 'alerts'",
        );
        let path = broken.display().to_string();
        assert!(detail.starts_with(&format!("{path}|{path} failed in 2 runs, the last time: ")), "{detail}");
        // Dropping the source clears its alerts.
        committed("vs_ingest_drop_source('alerts')");
        for _ in 0..1500 {
            if open().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(open(), "");
        Spi::run("SELECT dblink_disconnect('alerts_listener')").unwrap();
    }
}
