//! Corrections: `replace => true` rebuilds each local day its files cover from them alone, swaps it
//! in atomically, and survives a crash (src/write/replace.rs). Every result is compared with the
//! independent computation of `compute_expected`.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::tests::support::*;

    /// The stored rows of one local day of a storage table, as a digest (byte for byte).
    fn day_digest(storage: &str, day: &str) -> String {
        one::<String>(&format!(
            "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY link_id, block), ''))
               FROM {storage} t WHERE day = '{day}'"
        ))
    }

    /// Samples of a local day (Asia/Seoul) read in a session of its own, as any reader would.
    fn day_samples(target: &str, day: &str) -> i64 {
        count_elsewhere(&format!(
            "SELECT coalesce(sum(samples), 0)::bigint FROM {target}
              WHERE hour >= timestamptz '{day} 00:00+09' AND hour < timestamptz '{day} 00:00+09' + interval '1 day'"
        ))
    }

    /// A corrected file of the day of `day` (2023-07-01): other speeds, and other lines missing
    /// and present (another seed), under the original's name.
    fn corrected(name: &str, seed: u64, links: u32) -> (PathBuf, Manifest) {
        let dir = fresh_dir(name);
        let m = generate(&dir, Day { links, seed, ..Day::default() }).remove(0);
        (dir, m)
    }

    #[pg_test]
    fn a_corrected_file_replaces_exactly_its_day() {
        let old_dir = fresh_dir("replace_old");
        let old = generate(&old_dir, Day { links: 400, days: 2, ..Day::default() });
        let first = load_dir(&old_dir, "*_5Min.zip", "public.replaced");
        assert_eq!(first.files_loaded, 2);
        let day2_before = day_digest("public.replaced_blocks", "2023-07-02");
        let day2_rollups = one::<String>(
            "SELECT md5(string_agg(t::text, '|' ORDER BY link_id)) FROM public.replaced_days t WHERE day = '2023-07-02'",
        );

        let (_, new) = corrected("replace_new", 7, 400);
        // The correction differs both ways: samples it drops and samples it adds.
        compute_expected(&[&new], "Asia/Seoul");
        Spi::run("CREATE TEMP TABLE new_slots AS SELECT e.link_id, e.hour, s.i FROM expected e, generate_series(1, 12) s(i) WHERE e.speed[s.i] IS NOT NULL").unwrap();
        compute_expected(&[&old[0]], "Asia/Seoul");
        Spi::run("CREATE TEMP TABLE old_slots AS SELECT e.link_id, e.hour, s.i FROM expected e, generate_series(1, 12) s(i) WHERE e.speed[s.i] IS NOT NULL").unwrap();
        assert!(one::<i64>("SELECT count(*) FROM (SELECT * FROM old_slots EXCEPT SELECT * FROM new_slots) x") > 0);
        assert!(one::<i64>("SELECT count(*) FROM (SELECT * FROM new_slots EXCEPT SELECT * FROM old_slots) x") > 0);

        let file = new.path.display().to_string();
        let replace = format!("SELECT * FROM vs_ingest_file('{file}', target => 'public.replaced', replace => true)");
        let got = summary(&replace);
        assert_eq!((got.files_loaded, got.files_failed), (1, 0));
        assert_eq!(got.rows_loaded as u64, new.samples);

        // The table holds the corrected day and the untouched second day, and nothing else.
        compute_expected(&[&new, &old[1]], "Asia/Seoul");
        assert_eq!(differences("public.replaced"), (0, 0));
        assert_eq!(rollup_differences("public.replaced_days", "Asia/Seoul"), 0);
        assert_eq!(day_digest("public.replaced_blocks", "2023-07-02"), day2_before);
        assert_eq!(
            one::<String>(
                "SELECT md5(string_agg(t::text, '|' ORDER BY link_id)) FROM public.replaced_days t
                  WHERE day = '2023-07-02'"
            ),
            day2_rollups
        );
        // Coverage follows: each hour counts exactly the links the corrected day has in it.
        assert_eq!(coverage_differences("public.replaced"), (0, 0));

        // The ledger: the first day's old file is superseded by the replacement, the second's not.
        let statuses = one::<String>(&format!(
            "SELECT string_agg(f.status || ':' || coalesce((f.superseded_by = {})::text, '-') || ':' || f.days::text,
                               ' ' ORDER BY f.path)
               FROM vs_ingest.file f WHERE f.run_id = {}",
            got.run_id, first.run_id
        ));
        assert_eq!(statuses, "superseded:true:{2023-07-01} loaded:-:{2023-07-02}");

        // Loading the old files again brings nothing back: the superseded one counts as loaded.
        let again = load_dir(&old_dir, "*_5Min.zip", "public.replaced");
        assert_eq!((again.files_loaded, again.files_skipped), (0, 2));
        assert_eq!(differences("public.replaced"), (0, 0));
        // Nor does a plain load of the corrected file, loaded already.
        assert_eq!(summary(&replace.replace(", replace => true", "")).files_skipped, 1);

        // Replacing again with the same file gives the same day.
        let twice = summary(&replace);
        assert_eq!(twice.files_loaded, 1);
        assert_eq!(differences("public.replaced"), (0, 0));
        assert_eq!(rollup_differences("public.replaced_days", "Asia/Seoul"), 0);
        assert_eq!(
            one::<String>(&format!("SELECT status FROM vs_ingest.file WHERE run_id = {}", got.run_id)),
            "superseded"
        );
    }

    #[pg_test]
    fn the_files_of_a_day_in_one_call_rebuild_it_together() {
        // Two files of the same day in one replacing call: the second merges into the day the
        // first rebuilt (first sample wins, in load order), and the day's earlier rows are gone.
        let old_dir = fresh_dir("replace2_old");
        generate(&old_dir, Day { links: 300, ..Day::default() });
        load_dir(&old_dir, "*_5Min.zip", "public.replaced2");
        let dir = fresh_dir("replace2_new");
        let (_, a) = corrected("replace2_a", 11, 200);
        let (_, b) = corrected("replace2_b", 12, 300);
        let (a_path, b_path) = (dir.join("a_20230701_5Min.zip"), dir.join("b_20230701_5Min.zip"));
        std::fs::copy(&a.path, &a_path).unwrap();
        std::fs::copy(&b.path, &b_path).unwrap();
        Spi::run("SET vs_ingest.max_workers = 1").unwrap();
        let got = summary(&format!(
            "SELECT * FROM vs_ingest_dir('{}', '*_5Min.zip', target => 'public.replaced2', replace => true)",
            dir.display()
        ));
        assert_eq!(got.files_loaded, 2);
        compute_expected(&[&a, &b], "Asia/Seoul");
        assert_eq!(differences("public.replaced2"), (0, 0));
        assert_eq!(rollup_differences("public.replaced2_days", "Asia/Seoul"), 0);
    }

    #[pg_test]
    fn a_reader_sees_the_old_day_or_the_new_one_never_a_mix() {
        let old_dir = fresh_dir("replace_read_old");
        let old = generate(&old_dir, Day { links: 6_000, ..Day::default() }).remove(0);
        load_dir(&old_dir, "*_5Min.zip", "public.replaced_read");
        let (_, new) = corrected("replace_read_new", 5, 6_000);
        let (before, after) = (old.samples as i64, new.samples as i64);
        assert_ne!(before, after);
        assert_eq!(day_samples("public.replaced_read", "2023-07-01"), before);
        let run = one::<i64>(&format!(
            "SELECT run_id FROM vs_ingest_file('{}', target => 'public.replaced_read', wait => false, replace => true)",
            new.path.display()
        ));
        let mut seen = Vec::new();
        loop {
            let finished = count_elsewhere(&format!(
                "SELECT count(*) FROM vs_ingest.run WHERE run_id = {run} AND status NOT IN ('running', 'cancelling')"
            )) == 1;
            let samples = day_samples("public.replaced_read", "2023-07-01");
            assert!(samples == before || samples == after, "a reader saw {samples} samples ({before} or {after})");
            seen.push(samples);
            if finished {
                break;
            }
        }
        assert_eq!(*seen.last().unwrap(), after, "{seen:?}");
        assert_eq!(wait_for_run(run), "succeeded");
    }

    #[pg_test]
    fn a_replacement_killed_mid_way_keeps_the_old_day_and_the_same_call_finishes_it() {
        let old_dir = fresh_dir("replace_crash_old");
        let old = generate(&old_dir, Day { links: 300, days: 2, start: "2023-07-08", ..Day::default() });
        load_dir(&old_dir, "*_5Min.zip", "public.replaced_crash");
        let day9_old = day_digest("public.replaced_crash_blocks", "2023-07-09");
        let new_dir = fresh_dir("replace_crash_new");
        let new = generate(&new_dir, Day { links: 300, days: 2, start: "2023-07-08", seed: 9, ..Day::default() });
        // Killed in the second day, after the first committed. (A finer commit cadence, which a
        // replacement must ignore, is set too: a day must never be split.)
        fault_role("replace_crash", "vs_ingest.test_commit_every_hours", Some("6"));
        let role = fault_role("replace_crash", "vs_ingest.test_exit_after_chunks", Some("1"));
        Spi::run(&format!("SET ROLE {role}")).unwrap();
        Spi::run("SET vs_ingest.max_workers = 1").unwrap();
        let call = format!(
            "SELECT * FROM vs_ingest_dir('{}', '*_5Min.zip', target => 'public.replaced_crash', replace => true)",
            new_dir.display()
        );
        let outcome = try_sql(&call);
        wait_for_workers();
        Spi::run("RESET ROLE").unwrap();
        fault_role("replace_crash", "vs_ingest.test_exit_after_chunks", None);
        fault_role("replace_crash", "vs_ingest.test_commit_every_hours", None);
        assert!(outcome.starts_with("08006: the workers of run"), "{outcome}");
        // The first day is the new one, whole; the second is the old one, byte for byte.
        compute_expected(&[&new[0], &old[1]], "Asia/Seoul");
        assert_eq!(differences("public.replaced_crash"), (0, 0));
        assert_eq!(rollup_differences("public.replaced_crash_days", "Asia/Seoul"), 0);
        assert_eq!(day_digest("public.replaced_crash_blocks", "2023-07-09"), day9_old);

        // The same call again finishes the replacement.
        let got = summary(&call);
        assert_eq!((got.files_loaded, got.files_failed), (2, 0));
        compute_expected(&new.iter().collect::<Vec<_>>(), "Asia/Seoul");
        assert_eq!(differences("public.replaced_crash"), (0, 0));
        assert_eq!(rollup_differences("public.replaced_crash_days", "Asia/Seoul"), 0);
    }

    #[pg_test]
    fn a_replacement_is_refused_spread_over_nodes_or_without_delete() {
        let dir = fresh_dir("replace_refused");
        generate(&dir, Day { links: 50, ..Day::default() });
        load_dir(&dir, "*_5Min.zip", "public.replaced_refused");
        let spread = try_sql(&format!(
            "SELECT * FROM vs_ingest_dir('{}', target => 'public.replaced_refused', nodes => 'workers', replace => true)",
            dir.display()
        ));
        assert!(spread.starts_with("0A000: replace => true cannot be spread over the worker nodes"), "{spread}");
        // A loader that may insert but not delete cannot replace.
        committed_sql(
            "DO $d$ BEGIN CREATE ROLE vs_replace_loader LOGIN IN ROLE pg_read_server_files;
             EXCEPTION WHEN duplicate_object THEN NULL; END $d$",
        );
        // Committed: the workers see only what is.
        committed_sql(
            "GRANT USAGE ON SCHEMA public TO vs_replace_loader;
             GRANT SELECT, INSERT, UPDATE ON public.replaced_refused_blocks TO vs_replace_loader;
             GRANT SELECT, INSERT, UPDATE, DELETE ON public.replaced_refused_days, public.replaced_refused_months
                   TO vs_replace_loader;
             GRANT SELECT ON public.replaced_refused TO vs_replace_loader",
        );
        Spi::run("SET ROLE vs_replace_loader").unwrap();
        let denied = try_sql(&format!(
            "SELECT * FROM vs_ingest_dir('{}', target => 'public.replaced_refused', replace => true)",
            dir.display()
        ));
        Spi::run("RESET ROLE").unwrap();
        assert!(denied.starts_with("42501: permission denied to replace days of"), "{denied}");
    }
}
