//! A load's budget (`crate::budget`): the priority, threads and read rate its workers really run
//! with, the caps across loads, and scheduled runs stopped outside their hours.

#[pgrx::pg_schema]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant, SystemTime};

    use pgrx::prelude::*;

    use crate::tests::support::*;

    /// What the kernel says of each thread of process `pid`: (name, nice, I/O priority).
    fn threads_of(pid: i32) -> Vec<(String, i32, i64)> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
        tasks
            .filter_map(|task| {
                let task = task.ok()?.path();
                let tid: i32 = task.file_name()?.to_str()?.parse().ok()?;
                let comm = std::fs::read_to_string(task.join("comm")).ok()?.trim().to_string();
                let stat = std::fs::read_to_string(task.join("stat")).ok()?;
                // Fields after the name's closing parenthesis start at the third (state); nice is
                // the nineteenth.
                let nice = stat.rsplit_once(')')?.1.split_whitespace().nth(16)?.parse().ok()?;
                // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, tid) only reads.
                let ioprio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, tid) };
                Some((comm, nice, ioprio))
            })
            .collect()
    }

    /// The pids of the workers loading a file of `runs` now.
    fn loading_workers(runs: &[i64]) -> Vec<i32> {
        let runs: Vec<String> = runs.iter().map(i64::to_string).collect();
        one::<Vec<i32>>(&format!(
            "SELECT coalesce(array_agg(worker_pid ORDER BY worker_pid), '{{}}') FROM vs_ingest.file
              WHERE run_id IN ({}) AND status = 'loading' AND worker_pid IS NOT NULL",
            runs.join(", ")
        ))
    }

    fn running(run: i64) -> bool {
        matches!(
            one::<String>(&format!("SELECT status FROM vs_ingest.run WHERE run_id = {run}")).as_str(),
            "running" | "cancelling"
        )
    }

    #[pg_test]
    fn a_loads_priority_threads_and_read_rate_are_those_of_its_budget() {
        let dir = fresh_dir("budget_applied");
        let manifests = generate(&dir, Day { links: 1_500, days: 2, ..Day::default() });
        Spi::run(
            "SET vs_ingest.max_workers = 2; SET vs_ingest.threads = 2; SET vs_ingest.worker_nice = 7;
             SET vs_ingest.worker_io_priority = idle; SET vs_ingest.max_read_rate = 1;
             SET vs_ingest.max_total_threads = 3",
        )
        .unwrap();
        let started = Instant::now();
        let run = one::<i64>(&format!(
            "SELECT run_id FROM vs_ingest_dir('{}', '*_5Min.zip', target => 'public.budget_applied', wait => false)",
            dir.display()
        ));
        // Per worker process seen loading: its threads as the kernel has them.
        let mut seen: BTreeMap<i32, Vec<(String, i32, i64)>> = BTreeMap::new();
        while running(run) {
            for pid in loading_workers(&[run]) {
                let threads = threads_of(pid);
                if !threads.is_empty() {
                    seen.insert(pid, threads);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(wait_for_run(run), "succeeded");
        assert_eq!(seen.len(), 2, "two workers loading: {seen:?}");
        // Both workers' writing (main) threads yield the CPU at nice 7, their engine threads
        // stay 10 behind them (17); every thread reads in the idle I/O class (3 << 13): the
        // engine's threads inherit it from the main thread.
        for (pid, threads) in &seen {
            for (name, nice, ioprio) in threads {
                let nice_wanted = if name.starts_with("vs_ingest-") { 17 } else { 7 };
                assert_eq!((*nice, *ioprio), (nice_wanted, 3 << 13), "worker {pid}, thread {name}");
            }
        }
        // Three parse threads between them under max_total_threads = 3: the first worker took
        // the two it asked for, the second the one left.
        let parse: Vec<usize> = seen
            .values()
            .map(|t| t.iter().filter(|(name, _, _)| name.starts_with("vs_ingest-parse")).count())
            .collect();
        assert_eq!(parse.iter().sum::<usize>(), 3, "parse threads per worker: {parse:?}");
        // 1 MB/s shared by two workers: each file took at least its size at 0.5 MB/s.
        let largest = manifests.iter().map(|m| std::fs::metadata(&m.path).unwrap().len()).max().unwrap();
        assert!(
            started.elapsed().as_secs_f64() >= largest as f64 / 500_000.0,
            "{largest} bytes at 0.5 MB/s in {:?}",
            started.elapsed()
        );
        // The request as stored (vs_ingest_resume starts from it).
        assert_eq!(
            one::<String>(&format!(
                "SELECT (options::jsonb -> 'budget')::text FROM vs_ingest.run WHERE run_id = {run}"
            )),
            r#"{"nice": 7, "workers": 2, "read_rate": 1000000, "scheduled": false, "io_priority": "idle", "total_threads": 3, "total_workers": 0}"#
        );
        let refs: Vec<&Manifest> = manifests.iter().collect();
        compute_expected(&refs, "Asia/Seoul");
        assert_eq!(differences("public.budget_applied"), (0, 0));
    }

    #[pg_test]
    fn a_cap_across_loads_lets_one_worker_load_at_a_time_and_both_loads_finish() {
        let (first, second) = (fresh_dir("budget_cap_a"), fresh_dir("budget_cap_b"));
        let a = generate(&first, Day { links: 1_500, days: 2, ..Day::default() });
        let b = generate(&second, Day { links: 1_500, days: 2, start: "2023-08-01", ..Day::default() });
        // Each load would take two workers; slowed so that they overlap.
        Spi::run("SET vs_ingest.max_workers = 2; SET vs_ingest.max_read_rate = 4; SET vs_ingest.max_total_workers = 1")
            .unwrap();
        let start = |dir: &Path, target: &str| {
            one::<i64>(&format!(
                "SELECT run_id FROM vs_ingest_dir('{}', '*_5Min.zip', target => '{target}', wait => false)",
                dir.display()
            ))
        };
        let runs = [start(&first, "public.budget_cap_a"), start(&second, "public.budget_cap_b")];
        let (mut most, mut observations) = (0, 0);
        while runs.iter().any(|&run| running(run)) {
            most = most.max(loading_workers(&runs).len());
            observations += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(observations > 10, "the loads were watched");
        assert_eq!(most, 1, "workers loading at once under max_total_workers = 1");
        for run in runs {
            assert_eq!(wait_for_run(run), "succeeded");
            assert_eq!(
                one::<String>(&format!(
                    "SELECT string_agg(status, ' ' ORDER BY file_id) FROM vs_ingest.file WHERE run_id = {run}"
                )),
                "loaded loaded"
            );
        }
        for (manifests, target) in [(&a, "public.budget_cap_a"), (&b, "public.budget_cap_b")] {
            let refs: Vec<&Manifest> = manifests.iter().collect();
            compute_expected(&refs, "Asia/Seoul");
            assert_eq!(differences(target), (0, 0), "{target}");
        }
    }

    #[pg_test]
    fn scheduled_runs_stop_outside_their_hours_and_resume_inside_and_others_go_on() {
        let dir = fresh_dir("budget_sched");
        // Large enough that the scheduled load (one thread at nice 19) is still loading when it is
        // watched and stopped.
        let m = generate(&dir, Day { links: 10_000, ..Day::default() }).remove(0);
        // Settled files only: older than vs_ingest.settle_time.
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&m.path).unwrap().set_modified(old).unwrap();
        let other = fresh_dir("budget_sched_other");
        let o = generate(&other, Day { links: 3_000, days: 2, start: "2023-09-01", ..Day::default() });
        committed(&format!(
            "vs_ingest_add_source('budget_sched', '{}', '*_5Min.zip', target => 'public.budget_sched', enabled => false)",
            dir.display()
        ));
        let source = crate::postgres::source::managed("budget_sched").unwrap();
        // What the scheduler does at a check: a scheduled load, with the scheduled budget.
        let run = crate::load::load_source(&source, true, false).unwrap().expect("a run").run_id;
        Spi::run("SET vs_ingest.max_read_rate = 2").unwrap();
        let interactive = one::<i64>(&format!(
            "SELECT run_id FROM vs_ingest_dir('{}', '*_5Min.zip', target => 'public.budget_sched_other', wait => false)",
            other.display()
        ));
        let mut workers = Vec::new();
        for _ in 0..3000 {
            workers = loading_workers(&[run]);
            if !workers.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(workers.len(), 1, "one worker: vs_ingest.scheduled_max_workers");
        let threads = threads_of(workers[0]);
        // scheduled_nice 19 for every thread (the engine's stay at most 19), scheduled_io_priority
        // low (best effort, level 7) for all.
        assert!(!threads.is_empty());
        for (name, nice, ioprio) in &threads {
            assert_eq!((*nice, *ioprio), (19, (2 << 13) | 7), "thread {name}");
        }
        assert_eq!(threads.iter().filter(|(name, _, _)| name.starts_with("vs_ingest-parse")).count(), 1);
        // The window closes: the scheduler stops its runs, and only its runs.
        assert_eq!(crate::budget::stop_scheduled_runs().unwrap(), vec![run]);
        assert_eq!(wait_for_run(run), "cancelled");
        assert_eq!(
            one::<String>(&format!("SELECT string_agg(status, ' ') FROM vs_ingest.file WHERE run_id = {run}")),
            "cancelled"
        );
        // The next check inside the window loads what was left, once.
        let resumed = crate::load::load_source(&source, true, true).unwrap().expect("a run");
        assert_eq!((resumed.files_loaded, resumed.files_failed), (1, 0));
        assert_eq!(wait_for_run(interactive), "succeeded");
        let refs = [&m];
        compute_expected(&refs, "Asia/Seoul");
        assert_eq!(differences("public.budget_sched"), (0, 0));
        let refs: Vec<&Manifest> = o.iter().collect();
        compute_expected(&refs, "Asia/Seoul");
        assert_eq!(differences("public.budget_sched_other"), (0, 0));
        committed("vs_ingest_drop_source('budget_sched')");
    }
}
