//! The workers: crashes and kills mid-chunk, resume, cancel, progress, concurrent loads of the
//! same files, and a panic on a worker's main thread.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::tests::support::*;

    #[pg_test]
    fn workers_killed_mid_chunk_resume_to_the_same_table() {
        let dir = fresh_dir("crash");
        let manifests = generate(&dir, Day { links: 300, days: 3, ..Day::default() });
        let expected_totals =
            |m: &[Manifest]| -> (u64, u64) { (m.iter().map(|m| m.data_rows).sum(), m.iter().map(|m| m.samples).sum()) };
        let (rows, samples) = expected_totals(&manifests);
        compute_expected(&manifests.iter().collect::<Vec<_>>(), "Asia/Seoul");

        // Crash the workers at several points of the load, each time resuming with the same call.
        let mut crashed_runs = Vec::new();
        Spi::run("SET vs_ingest.max_workers = 2").unwrap();
        // Commits every block (a loader commits a day): a file is four chunks, and the blocks after
        // the first add to the day's rollups.
        fault_role("crash", "vs_ingest.test_commit_every_hours", Some("6"));
        // Each run commits at least one chunk per worker.
        for exit_after in [1, 1, 2, 30] {
            let role = fault_role("crash", "vs_ingest.test_exit_after_chunks", Some(&exit_after.to_string()));
            Spi::run(&format!("SET ROLE {role}")).unwrap();
            let outcome = try_sql(&format!(
                "SELECT * FROM vs_ingest_dir('{}', '*.zip', target => 'public.crash')",
                dir.display()
            ));
            wait_for_workers();
            if outcome == "ok" {
                break; // this crash point lies past the end of the remaining work
            }
            assert!(outcome.starts_with("08006: the workers of run"), "{outcome}");
            crashed_runs.push(last_run("public.crash"));
        }
        assert!(crashed_runs.len() >= 3, "the fault injection did not interrupt the loads");
        fault_role("crash", "vs_ingest.test_exit_after_chunks", None);
        let got = load_dir(&dir, "*.zip", "public.crash");

        // The last run completes the files: its summary is a clean load's, and so is the table.
        assert_eq!((got.files_seen, got.files_loaded + got.files_skipped), (3, 3));
        let finished = one::<i64>(&format!(
            "SELECT sum(rows_read)::bigint FROM vs_ingest.file f WHERE f.path LIKE '{}/%' AND status = 'loaded'",
            dir.display()
        ));
        assert_eq!(finished as u64, rows);
        assert_eq!(
            one::<i64>(&format!(
                "SELECT sum(rows_loaded)::bigint FROM vs_ingest.file WHERE path LIKE '{}/%' AND status = 'loaded'",
                dir.display()
            )) as u64,
            samples
        );
        assert_eq!(differences("public.crash"), (0, 0));
        // Killed between the block commits of a day and resumed: the rollups still add up.
        assert_eq!(rollup_differences("public.crash_days", "Asia/Seoul"), 0);
        fault_role("crash", "vs_ingest.test_commit_every_hours", None);
        // Interrupted runs are marked failed, and each interrupted file row hands over to a later run.
        for run in crashed_runs {
            assert_eq!(one::<String>(&format!("SELECT status FROM vs_ingest.run WHERE run_id = {run}")), "failed");
        }
        assert!(one::<i64>("SELECT count(*) FROM vs_ingest.file WHERE status = 'resumed'") >= 1);
        // Rejects moved with the file: each reject line is stored once.
        assert_eq!(
            one::<i64>(&format!(
                "SELECT count(*) - count(DISTINCT (r.entry, r.line)) FROM vs_ingest.reject r
                   JOIN vs_ingest.file f USING (file_id) WHERE f.path LIKE '{}/%'",
                dir.display()
            )),
            0
        );
    }

    #[pg_test]
    fn a_worker_killed_mid_day_leaves_nothing_of_the_day() {
        // At a loader's own cadence (a day per commit): killed in the second file's day, after the
        // first file's day committed, the load leaves nothing of the second day; the next load
        // writes it whole, rollups included.
        let dir2 = fresh_dir("crash_day");
        let days = generate(&dir2, Day { links: 300, days: 2, start: "2023-07-05", ..Day::default() });
        let role = fault_role("crash_day", "vs_ingest.test_exit_after_chunks", Some("1"));
        Spi::run(&format!("SET ROLE {role}")).unwrap();
        Spi::run("SET vs_ingest.max_workers = 1").unwrap();
        let outcome = try_sql(&format!(
            "SELECT * FROM vs_ingest_dir('{}', '*.zip', target => 'public.crash_day')",
            dir2.display()
        ));
        wait_for_workers();
        assert!(outcome.starts_with("08006: the workers of run"), "{outcome}");
        Spi::run("RESET ROLE").unwrap();
        fault_role("crash_day", "vs_ingest.test_exit_after_chunks", None);
        assert_eq!(count_elsewhere("SELECT count(*) FROM public.crash_day_daily WHERE local_day = '2023-07-06'"), 0);
        assert_eq!(count_elsewhere("SELECT count(*) FROM public.crash_day WHERE local_day = '2023-07-06'"), 0);
        assert!(count_elsewhere("SELECT count(*) FROM public.crash_day_daily WHERE local_day = '2023-07-05'") > 0);
        assert_eq!(load_dir(&dir2, "*.zip", "public.crash_day").files_loaded, 1);
        compute_expected(&days.iter().collect::<Vec<_>>(), "Asia/Seoul");
        assert_eq!(differences("public.crash_day"), (0, 0));
        assert_eq!(rollup_differences("public.crash_day_days", "Asia/Seoul"), 0);
    }

    #[pg_test]
    fn vs_ingest_resume_continues_an_interrupted_run() {
        let dir = fresh_dir("resume");
        let manifests = generate(&dir, Day { links: 300, days: 2, ..Day::default() });
        fault_role("resume", "vs_ingest.test_commit_every_hours", Some("6"));
        let role = fault_role("resume", "vs_ingest.test_exit_after_chunks", Some("5"));
        Spi::run(&format!("SET ROLE {role}")).unwrap();
        Spi::run("SET vs_ingest.max_workers = 1").unwrap();
        let outcome =
            try_sql(&format!("SELECT * FROM vs_ingest_dir('{}', '*.zip', target => 'public.resumed')", dir.display()));
        assert!(outcome.starts_with("08006:"), "{outcome}");
        wait_for_workers();
        let run = last_run("public.resumed");
        let committed = one::<i64>(&format!("SELECT sum(chunks)::bigint FROM vs_ingest.file WHERE run_id = {run}"));
        let files = one::<String>(&format!(
            "SELECT string_agg(path || ' ' || status || ' chunks=' || chunks || ' ' || coalesce(error, ''), '; ')
               FROM vs_ingest.file WHERE run_id = {run}"
        ));
        assert_eq!(committed, 5, "run {run}: {files}");
        // Its workers resume as the role that started the run: without the fault now.
        fault_role("resume", "vs_ingest.test_exit_after_chunks", None);
        let got = summary(&format!("SELECT * FROM vs_ingest_resume({run})"));
        assert_eq!(got.run_id, run);
        assert_eq!((got.files_loaded, got.files_failed), (2, 0));
        assert_eq!(got.rows_read as u64, manifests.iter().map(|m| m.data_rows).sum::<u64>());
        assert_eq!(one::<String>(&format!("SELECT status FROM vs_ingest.run WHERE run_id = {run}")), "succeeded");
        compute_expected(&manifests.iter().collect::<Vec<_>>(), "Asia/Seoul");
        assert_eq!(differences("public.resumed"), (0, 0));
        assert_eq!(rollup_differences("public.resumed_days", "Asia/Seoul"), 0);
        assert!(try_sql(&format!("SELECT * FROM vs_ingest_resume({run})")).starts_with("ok"));
        assert!(try_sql("SELECT * FROM vs_ingest_resume(999999)").starts_with("42704: run 999999 does not exist"));
    }

    #[pg_test]
    fn a_cancelled_run_stops_and_the_next_load_finishes_it() {
        let dir = fresh_dir("cancel");
        let manifests = generate(&dir, Day { links: 2000, days: 2, ..Day::default() });
        Spi::run("SET vs_ingest.max_workers = 1").unwrap();
        let run = load_dir_with(&dir, "'*.zip', target => 'public.cancelled', wait => false").run_id;
        // Cancel once a chunk is committed.
        for _ in 0..6000 {
            if one::<i64>(&format!("SELECT coalesce(sum(chunks), 0)::bigint FROM vs_ingest.file WHERE run_id = {run}"))
                > 0
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(one::<bool>(&format!("SELECT vs_ingest_cancel({run})")));
        assert_eq!(wait_for_run(run), "cancelled");
        wait_for_workers();
        let cancelled =
            one::<i64>(&format!("SELECT count(*) FROM vs_ingest.file WHERE run_id = {run} AND status = 'cancelled'"));
        assert!(cancelled >= 1, "no file was cancelled");
        assert!(!one::<bool>(&format!("SELECT vs_ingest_cancel({run})")));

        let got = load_dir(&dir, "*.zip", "public.cancelled");
        assert_eq!(got.files_loaded + got.files_skipped, 2);
        compute_expected(&manifests.iter().collect::<Vec<_>>(), "Asia/Seoul");
        assert_eq!(differences("public.cancelled"), (0, 0));
    }

    #[pg_test]
    fn progress_advances_while_a_load_runs() {
        let dir = fresh_dir("progress");
        // A load commits a file's day at a time: six one-day files.
        generate(&dir, Day { links: 2000, days: 6, ..Day::default() });
        Spi::run("SET vs_ingest.max_workers = 1").unwrap();
        let run = load_dir_with(&dir, "'*.zip', target => 'public.progress', wait => false").run_id;
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let (rows, running) = Spi::get_two::<i64, bool>(&format!(
                "SELECT (SELECT coalesce(sum(rows), 0)::bigint FROM vs_ingest.progress WHERE run_id = {run}),
                        (SELECT status = 'running' FROM vs_ingest.run WHERE run_id = {run})"
            ))
            .unwrap();
            if !running.unwrap_or(false) {
                break;
            }
            seen.insert(rows.unwrap_or(0));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let moving: Vec<_> = seen.iter().filter(|&&r| r > 0).collect();
        assert!(moving.len() >= 3, "progress did not advance while the load ran: {seen:?}");
        assert_eq!(wait_for_run(run), "succeeded");
        // Once finished, the run leaves the view and its history stays.
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM vs_ingest.progress WHERE run_id = {run}")), 0);
        assert_eq!(
            one::<i64>(&format!("SELECT count(*) FROM vs_ingest.file WHERE run_id = {run} AND status = 'loaded'")),
            6
        );
    }

    #[pg_test]
    fn two_loads_of_the_same_files_never_load_one_twice() {
        let dir = fresh_dir("concurrent");
        let manifests = generate(&dir, Day { links: 1000, days: 3, ..Day::default() });
        let first = load_dir_with(&dir, "'*.zip', target => 'public.concurrent', wait => false").run_id;
        let second = load_dir_with(&dir, "'*.zip', target => 'public.concurrent', wait => false").run_id;
        assert_eq!(wait_for_run(first), "succeeded");
        assert_eq!(wait_for_run(second), "succeeded");
        wait_for_workers();
        // Each file is loaded by exactly one of the runs; the other skips it once that one is done.
        let per_file = one::<i64>(&format!(
            "SELECT count(*) FROM (SELECT path FROM vs_ingest.file WHERE run_id IN ({first}, {second})
              GROUP BY path HAVING count(*) FILTER (WHERE status = 'loaded') = 1
                              AND count(*) FILTER (WHERE status = 'skipped') = 1) x"
        ));
        assert_eq!(per_file, 3);
        assert_eq!(
            one::<i64>(&format!(
                "SELECT sum(rows_duplicate)::bigint FROM vs_ingest.file WHERE run_id IN ({first}, {second})"
            )) as u64,
            manifests.iter().map(|m| m.duplicate_rows).sum::<u64>()
        );
        compute_expected(&manifests.iter().collect::<Vec<_>>(), "Asia/Seoul");
        assert_eq!(differences("public.concurrent"), (0, 0));
    }

    #[pg_test]
    fn a_panic_on_a_worker_main_thread_fails_the_file_and_the_caller_raises_it() {
        let dir = fresh_dir("main_panic");
        generate(&dir, Day { links: 300, days: 2, ..Day::default() });
        Spi::run("SET vs_ingest.max_workers = 1").unwrap();
        fault_role("main_panic", "vs_ingest.test_commit_every_hours", Some("6"));
        let role = fault_role("main_panic", "vs_ingest.test_panic_after_chunks", Some("2"));
        Spi::run(&format!("SET ROLE {role}")).unwrap();
        let outcome = try_sql(&format!(
            "SELECT * FROM vs_ingest_dir('{}', '*.zip', target => 'public.main_panic')",
            dir.display()
        ));
        wait_for_workers();
        fault_role("main_panic", "vs_ingest.test_panic_after_chunks", None);
        // The caller raises the worker's panic as an internal error with its message.
        assert!(
            outcome
                .starts_with("XX000: a vs_ingest worker panicked: test-only fault: the worker's main thread panicked"),
            "{outcome}"
        );
        let run = last_run("public.main_panic");
        // The file is recorded as failed with the message (not left `loading`), the run is over,
        // and the other file was not started.
        assert_eq!(
            one::<String>(&format!(
                "SELECT string_agg(status || ':' || (error LIKE 'internal error: a vs_ingest worker panicked: test-only%'),
                                   ' ' ORDER BY file_id)
                   FROM vs_ingest.file WHERE run_id = {run}"
            )),
            "failed:true"
        );
        assert_eq!(
            one::<String>(&format!(
                "SELECT string_agg(status, ' ' ORDER BY file_id) FROM vs_ingest.file WHERE run_id = {run}"
            )),
            "failed cancelled"
        );
        assert_eq!(one::<String>(&format!("SELECT status FROM vs_ingest.run WHERE run_id = {run}")), "cancelled");
        // Its two committed chunks are kept, and the next load finishes both files.
        let got = load_dir(&dir, "*.zip", "public.main_panic");
        assert_eq!(got.files_loaded, 2);
    }

    #[pg_test]
    fn progress_counts_every_file_of_the_run_from_its_start() {
        let dir = fresh_dir("run_progress");
        let manifests = generate(&dir, Day { links: 4_000, days: 4, ..Day::default() });
        // A file already loaded counts as done at once (skipped).
        summary(&format!(
            "SELECT * FROM vs_ingest_file('{}', target => 'public.run_progress')",
            manifests[0].path.display()
        ));
        let sizes: Vec<i64> = manifests.iter().map(|m| std::fs::metadata(&m.path).unwrap().len() as i64).collect();
        let total: i64 = sizes.iter().sum();
        Spi::run("SET vs_ingest.max_workers = 1").unwrap();
        let run = one::<i64>(&format!(
            "SELECT run_id FROM vs_ingest_dir('{}', '*_5Min.zip', target => 'public.run_progress', wait => false)",
            dir.display()
        ));
        let (mut observations, mut last_done) = (0, 0);
        loop {
            let row = Spi::get_three::<i64, i64, f64>(&format!(
                "SELECT max(run_bytes_done), max(run_bytes_total), max(run_percent)::float8
                   FROM vs_ingest.progress WHERE run_id = {run}"
            ))
            .unwrap();
            let (Some(done), Some(all), Some(percent)) = row else { break };
            // The run's total is every file's size from the first look, started or not.
            assert_eq!(all, total, "run {run}: total {all}, the files' sizes {total}");
            assert!(done >= last_done && done <= total, "done {done} after {last_done}, of {total}");
            assert!((percent - (100.0 * done as f64 / total as f64)).abs() < 0.051, "{percent}% for {done}/{total}");
            last_done = done;
            observations += 1;
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(wait_for_run(run), "succeeded");
        assert!(observations > 0, "the run was never seen in vs_ingest.progress");
        // What the waiting caller's NOTICEs read: every byte done, of the same total, and the
        // throughput from the bytes actually read (the skipped file's excluded).
        let view = crate::postgres::catalog::run_view(run).unwrap();
        assert_eq!((view.input_done, view.input_total), (total, total));
        assert_eq!(view.input_read, total - sizes[0]);
        assert_eq!(
            crate::load::run_progress(view.input_done, view.input_total, view.input_read, 10.0),
            (100.0, Some(0.0))
        );
        assert_eq!(crate::load::run_progress(50, 200, 25, 10.0), (25.0, Some(60.0)));
        // The summary shows seconds and MB/s to 2 decimals.
        assert_eq!(
            one::<String>(&format!(
                "SELECT scale(seconds) || ' ' || scale(mb_per_s) FROM vs_ingest_dir('{}', '*_5Min.zip', target => 'public.run_progress')",
                dir.display()
            )),
            "2 2"
        );
    }
}
