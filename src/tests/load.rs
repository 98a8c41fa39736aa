//! End-to-end loads of generated files, each compared row by row with `compute_expected`.
//! (Test functions live in a module `tests`: pgrx's runner calls them in the schema of that name.)

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::tests::support::*;

    /// Rejects of a run by reason, as (reason, count) sorted by reason.
    fn rejects_by_reason(run_id: i64) -> Vec<(String, i64)> {
        Spi::connect(|client| {
            client
                .select(
                    &format!(
                        "SELECT r.reason, count(*) FROM vs_ingest.reject r JOIN vs_ingest.file f USING (file_id)
                          WHERE f.run_id = {run_id} GROUP BY 1 ORDER BY 1"
                    ),
                    None,
                    &[],
                )
                .unwrap()
                .map(|row| (row.get::<String>(1).unwrap().unwrap(), row.get::<i64>(2).unwrap().unwrap()))
                .collect()
        })
    }

    fn expected_rejects(m: &Manifest) -> Vec<(String, i64)> {
        let k = &m.malformed;
        let mut v: Vec<(String, i64)> = [
            ("bad_date", k.bad_date),
            ("bad_link_id", k.bad_link_id),
            ("bad_speed", k.bad_speed),
            ("bad_time", k.bad_time),
            ("bad_travel_time", k.bad_travel_time),
            ("field_count", k.field_count),
            ("stray_date", m.stray_rows as u32),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| (r.to_string(), n as i64))
        .collect();
        v.sort();
        v
    }

    #[pg_test]
    fn a_generated_day_of_20000_links_loads_exactly() {
        let dir = fresh_dir("day20k");
        let manifests = generate(&dir, Day { links: 20_000, ..Day::default() });
        let m = &manifests[0];
        let got = load_dir(&dir, "*_5Min.zip", "public.vs_its_hourly");

        assert_eq!((got.files_seen, got.files_loaded, got.files_skipped, got.files_failed), (1, 1, 0, 0));
        assert_eq!(got.rows_read as u64, m.data_rows);
        assert_eq!(got.rows_loaded as u64, m.samples);
        assert_eq!(got.rows_duplicate as u64, m.duplicate_rows);
        assert_eq!(got.rows_rejected as u64, m.malformed_rows + m.stray_rows);
        assert_eq!(
            one::<i64>(&format!("SELECT rows_missing FROM vs_ingest.run WHERE run_id = {}", got.run_id)) as u64,
            m.empty_speed_rows
        );

        compute_expected(&[m], "Asia/Seoul");
        assert!(one::<i64>("SELECT count(*) FROM expected") > 20_000 * 23);
        assert_eq!(differences("public.vs_its_hourly"), (0, 0));
        // The day's rollups were written with it, and add up to its samples.
        assert_eq!(rollup_differences("public.vs_its_hourly_days", "Asia/Seoul"), 0);
        assert_eq!(coverage_rollup_differences("public.vs_its_hourly", "public.vs_its_hourly_days", "Asia/Seoul"), 0);
        assert_eq!(one::<i64>("SELECT sum(samples)::bigint FROM public.vs_its_daily"), m.samples as i64);
        let worst = one::<f64>(
            "SELECT max(abs(d.speed_avg - h.avg)) FROM public.vs_its_daily d
               JOIN (SELECT link_id, local_day, sum(speed_avg::float8 * samples) / sum(samples) AS avg
                       FROM public.vs_its_hourly GROUP BY 1, 2) h USING (link_id, local_day)",
        );
        // (The hourly averages are `real`: they agree to their precision.)
        assert!(worst < 1e-4, "daily and hourly averages differ by {worst}");

        // Every malformed line is in vs_ingest.reject with its reason and its own line number.
        assert_eq!(rejects_by_reason(got.run_id), expected_rejects(m));
        let misnumbered = one::<i64>(&format!(
            "SELECT count(*) FROM vs_ingest.reject r JOIN vs_ingest.file f USING (file_id)
               LEFT JOIN raw_lines l ON l.lineno = r.line
              WHERE f.run_id = {} AND l.line IS DISTINCT FROM r.raw",
            got.run_id
        ));
        assert_eq!(misnumbered, 0);

        // Partitions are local days: the Seoul day is one partition.
        assert_eq!(
            one::<i64>("SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.vs_its_hourly_blocks'::regclass"),
            1
        );
        assert_eq!(
            one::<String>("SELECT min(hour AT TIME ZONE 'Asia/Seoul')::text FROM public.vs_its_hourly"),
            "2023-07-01 00:00:00"
        );
    }

    #[pg_test]
    fn rows_handed_over_whole_are_what_copy_stores_and_constraints_and_triggers_still_hold() {
        let dir = fresh_dir("whole_rows");
        let manifests = generate(&dir, Day { links: 3_000, ..Day::default() });
        // The owner's row trigger on one storage: its rows must go through COPY, which fires it.
        committed("vs_ingest_create_target('public.via_copy')");
        committed_sql(
            "CREATE TABLE public.via_copy_fired (link_id bigint);
             CREATE FUNCTION public.via_copy_count() RETURNS trigger LANGUAGE plpgsql AS
               $f$ BEGIN INSERT INTO public.via_copy_fired VALUES (NEW.link_id); RETURN NEW; END $f$;
             CREATE TRIGGER counted BEFORE INSERT ON public.via_copy_blocks
               FOR EACH ROW EXECUTE FUNCTION public.via_copy_count();
             CREATE TRIGGER counted AFTER INSERT ON public.via_copy_days
               FOR EACH ROW EXECUTE FUNCTION public.via_copy_count()",
        );
        // The owner's CHECK on another: a row breaking it fails the file, with nothing stored.
        committed("vs_ingest_create_target('public.via_check')");
        committed_sql(
            "ALTER TABLE public.via_check_blocks ADD CONSTRAINT below_ten CHECK (speed[1] IS NULL OR speed[1] < 100)",
        );

        let inserted = load_dir(&dir, "*_5Min.zip", "public.via_insert");
        let copied = load_dir(&dir, "*_5Min.zip", "public.via_copy");
        assert_eq!((inserted.files_loaded, copied.files_loaded), (1, 1));
        assert_eq!(inserted.rows_loaded, copied.rows_loaded);
        compute_expected(&[&manifests[0]], "Asia/Seoul");
        assert_eq!(differences("public.via_insert"), (0, 0));
        assert_eq!(differences("public.via_copy"), (0, 0));
        assert_eq!(rollup_differences("public.via_insert_days", "Asia/Seoul"), 0);
        let rows = one::<i64>("SELECT count(*) FROM public.via_insert_blocks");
        assert!(rows >= 4 * 2_900, "{rows}");
        let day_rows = one::<i64>("SELECT count(*) FROM public.via_insert_days");
        assert_eq!(one::<i64>("SELECT count(*) FROM public.via_copy_fired"), rows + day_rows);
        // Byte for byte: the arrays the engine laid out are the arrays COPY's array_recv builds.
        let differing = one::<i64>(
            "SELECT count(*) FROM public.via_insert_blocks a FULL JOIN public.via_copy_blocks b USING (day, block, link_id)
              WHERE a.link_id IS NULL OR b.link_id IS NULL OR a.hours <> b.hours
                 OR array_send(a.speed) <> array_send(b.speed)
                 OR array_send(a.travel_time) IS DISTINCT FROM array_send(b.travel_time)
                 OR pg_column_size(a.speed) <> pg_column_size(b.speed)
                 OR pg_column_size(a.travel_time) IS DISTINCT FROM pg_column_size(b.travel_time)
                 OR pg_column_size(a.*) <> pg_column_size(b.*)",
        );
        assert_eq!(differing, 0);
        let differing_days = one::<i64>(
            "SELECT count(*) FROM public.via_insert_days a FULL JOIN public.via_copy_days b USING (day, link_id)
              WHERE a.link_id IS NULL OR b.link_id IS NULL OR pg_column_size(a.*) <> pg_column_size(b.*)
                 OR (a.samples, a.speed_sum, a.speed_min, a.speed_max, a.longest_run, a.max_jump)
                    <> (b.samples, b.speed_sum, b.speed_min, b.speed_max, b.longest_run, b.max_jump)
                 OR array_send(a.hour_samples) <> array_send(b.hour_samples)
                 OR array_send(a.hour_speed_sum) <> array_send(b.hour_speed_sum)",
        );
        assert_eq!(differing_days, 0);
        assert_eq!(rollup_differences("public.via_copy_days", "Asia/Seoul"), 0);

        let checked = load_dir(&dir, "*_5Min.zip", "public.via_check");
        assert_eq!((checked.files_loaded, checked.files_failed), (0, 1));
        let error = one::<String>(&format!("SELECT error FROM vs_ingest.file WHERE run_id = {}", checked.run_id));
        assert!(error.contains("below_ten"), "{error}");
        assert_eq!(one::<i64>("SELECT count(*) FROM public.via_check_blocks"), 0);
    }

    #[pg_test]
    fn loading_the_same_directory_again_changes_nothing() {
        let dir = fresh_dir("again");
        generate(&dir, Day { links: 300, days: 2, ..Day::default() });
        let first = load_dir(&dir, "*.zip", "public.again");
        assert_eq!(first.files_loaded, 2);
        let before = digest("public.again");
        let days =
            |t: &str| one::<String>(&format!("SELECT md5(string_agg(d::text, '|' ORDER BY day, link_id)) FROM {t} d"));
        let days_before = days("public.again_days");
        let second = load_dir(&dir, "*.zip", "public.again");
        assert_eq!((second.files_seen, second.files_loaded, second.files_skipped), (2, 0, 2));
        assert_eq!((second.rows_read, second.rows_loaded), (0, 0));
        assert_eq!(digest("public.again"), before);
        assert_eq!(days("public.again_days"), days_before);
        assert_eq!(
            one::<i64>(&format!(
                "SELECT count(*) FROM vs_ingest.file WHERE run_id = {} AND status = 'skipped'",
                second.run_id
            )),
            2
        );
    }

    #[pg_test]
    fn every_container_and_the_2025_layout_load_exactly() {
        let dir = fresh_dir("containers");
        let mut manifests = Vec::new();
        for (start, variant, container) in [
            ("2025-03-01", Variant::Y2025, Container::Gzip),
            ("2025-03-02", Variant::Y2025, Container::Zstd),
            ("2025-03-03", Variant::Y2025, Container::Plain),
            ("2025-03-04", Variant::Y2023, Container::Zip),
        ] {
            manifests.extend(generate(&dir, Day { links: 200, start, variant, container, ..Day::default() }));
        }
        let got = load_dir(&dir, "2025030?_5Min.csv*", "public.containers");
        // The plain copies (*.plain.csv) do not match the pattern; the zip does not either.
        assert_eq!((got.files_seen, got.files_loaded), (3, 3));
        let zip = load_dir(&dir, "*.zip", "public.containers");
        assert_eq!(zip.files_loaded, 1);
        compute_expected(&manifests.iter().collect::<Vec<_>>(), "Asia/Seoul");
        assert_eq!(differences("public.containers"), (0, 0));
        assert_eq!(rollup_differences("public.containers_days", "Asia/Seoul"), 0);
        let containers = one::<String>(&format!(
            "SELECT string_agg(container, ',' ORDER BY path) FROM vs_ingest.file WHERE run_id = {}",
            got.run_id
        ));
        assert_eq!(containers, "gzip,zstd,plain");
    }

    #[pg_test]
    fn a_late_file_merges_and_the_first_sample_wins() {
        let dir = fresh_dir("late");
        // Two deliveries of the same day: different seeds give different speeds for the same slots.
        let a = generate(&dir, Day { links: 300, seed: 1, container: Container::Gzip, ..Day::default() }).remove(0);
        let late_dir = fresh_dir("late/second");
        let mut b =
            generate(&late_dir, Day { links: 400, seed: 2, container: Container::Zip, ..Day::default() }).remove(0);
        let renamed = dir.join("20230701_5Min_late.zip");
        std::fs::rename(&b.path, &renamed).unwrap();
        b.path = renamed;

        let first = load_dir(&dir, "*.csv.gz", "public.late");
        assert_eq!(first.files_loaded, 1);
        let second = load_dir(&dir, "*_late.zip", "public.late");
        assert_eq!(second.files_loaded, 1);

        compute_expected(&[&a, &b], "Asia/Seoul");
        assert_eq!(differences("public.late"), (0, 0));
        // The late file merged into rows that existed: the rollups of its links were rebuilt.
        assert_eq!(rollup_differences("public.late_days", "Asia/Seoul"), 0);
        assert_eq!(coverage_rollup_differences("public.late", "public.late_days", "Asia/Seoul"), 0);
        // Every valid speed sample of the late file is either new or counted as a duplicate.
        assert_eq!(second.rows_loaded + second.rows_duplicate, (b.samples + b.duplicate_rows) as i64);
        let new_slots = one::<i64>("SELECT sum(samples) FROM public.late") - a.samples as i64;
        assert_eq!(second.rows_loaded, new_slots);
        assert!(second.rows_duplicate > 0);
    }

    #[pg_test]
    fn a_day_delivered_in_halves_adds_to_its_rollups() {
        // The second half's blocks are new rows (COPYed straight in) of a day whose rollups exist:
        // its sums are added to them.
        let dir = fresh_dir("halves");
        let m = generate(&dir, Day { links: 300, container: Container::Plain, ..Day::default() }).remove(0);
        let csv = std::fs::read_to_string(&m.path).unwrap();
        let (morning, afternoon): (Vec<&str>, Vec<&str>) =
            csv.lines().partition(|l| l.split(',').nth(1).is_some_and(|hm| hm < "1200"));
        std::fs::remove_file(&m.path).unwrap();
        std::fs::write(dir.join("20230701_5Min_am.csv"), morning.join("\n") + "\n").unwrap();
        std::fs::write(dir.join("20230701_5Min_pm.csv"), afternoon.join("\n") + "\n").unwrap();
        assert_eq!(load_dir(&dir, "*_am.csv", "public.halves").files_loaded, 1);
        let morning_samples = one::<i64>("SELECT sum(samples)::bigint FROM public.halves_days");
        assert_eq!(load_dir(&dir, "*_pm.csv", "public.halves").files_loaded, 1);
        assert!(one::<i64>("SELECT sum(samples)::bigint FROM public.halves_days") > morning_samples);
        compute_expected(&[&m], "Asia/Seoul");
        assert_eq!(differences("public.halves"), (0, 0));
        assert_eq!(rollup_differences("public.halves_days", "Asia/Seoul"), 0);
        assert_eq!(coverage_rollup_differences("public.halves", "public.halves_days", "Asia/Seoul"), 0);
        // One row per link and day, whichever way the day came.
        assert_eq!(
            one::<i64>("SELECT count(*) FROM public.halves_days"),
            one::<i64>("SELECT count(DISTINCT link_id) FROM public.halves")
        );
    }

    #[pg_test]
    fn rollups_and_coverage_stay_exact_under_random_sequences_of_deliveries() {
        // A property over load sequences: deliveries of two days (whole files of other speeds and
        // link sets, a morning or an afternoon alone, a re-delivery of the same lines under another
        // name), loaded in random orders, each sequence into a target of its own. Whatever the
        // order, the rows, the rollups and the coverage equal the independent computation over
        // the same files in that order (first sample wins).
        let dir = fresh_dir("sequences");
        let mut deliveries: Vec<(PathBuf, String)> = Vec::new();
        for (name, seed, links, start) in
            [("a", 11, 200, "2023-07-01"), ("b", 12, 260, "2023-07-01"), ("c", 13, 150, "2023-07-02")]
        {
            let sub = fresh_dir(&format!("sequences/{name}"));
            let m = generate(&sub, Day { links, seed, start, container: Container::Plain, ..Day::default() }).remove(0);
            let date = m.date.to_string();
            let csv = std::fs::read_to_string(&m.path).unwrap();
            let (morning, afternoon): (Vec<&str>, Vec<&str>) =
                csv.lines().partition(|l| l.split(',').nth(1).is_some_and(|hm| hm < "1200"));
            for (part, lines) in [("whole", csv.lines().collect::<Vec<_>>()), ("am", morning), ("pm", afternoon)] {
                let path = dir.join(format!("{date}_5Min_{name}_{part}.csv"));
                std::fs::write(&path, lines.join("\n") + "\n").unwrap();
                deliveries.push((path, date.clone()));
            }
        }
        // The same lines as a's whole day, under another name.
        let again = dir.join("20230701_5Min_a_again.csv");
        std::fs::copy(&deliveries[0].0, &again).unwrap();
        deliveries.push((again, "20230701".into()));

        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for sequence in 0..4 {
            // Five deliveries, in an order of their own.
            let mut order: Vec<usize> = (0..deliveries.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, next(i + 1));
            }
            order.truncate(5);
            let target = format!("public.sequence{sequence}");
            let files: Vec<(&Path, String)> =
                order.iter().map(|&i| (deliveries[i].0.as_path(), deliveries[i].1.clone())).collect();
            for (path, _) in &files {
                let name = path.file_name().unwrap().to_str().unwrap();
                let got = load_dir(&dir, name, &target);
                assert_eq!(got.files_failed, 0, "{name} into {target}");
            }
            compute_expected_of(&files, "Asia/Seoul");
            let names: Vec<&str> = files.iter().map(|(p, _)| p.file_name().unwrap().to_str().unwrap()).collect();
            assert_eq!(differences(&target), (0, 0), "rows after {names:?}");
            assert_eq!(rollup_differences(&format!("{target}_days"), "Asia/Seoul"), 0, "rollups after {names:?}");
            assert_eq!(
                coverage_rollup_differences(&target, &format!("{target}_days"), "Asia/Seoul"),
                0,
                "coverage after {names:?}"
            );
        }
    }

    #[pg_test]
    fn rollups_of_days_stored_before_are_built_by_a_load_into_them_or_a_day_at_a_time() {
        // Three days stored, then the target's rollups made anew as the update from 0.2.0 makes
        // them (vs_ingest.ensure_rollups over a storage that holds rows): every day is to build.
        let dir = fresh_dir("tobuild");
        let days = generate(&dir, Day { links: 300, days: 3, seed: 3, ..Day::default() });
        assert_eq!(load_dir(&dir, "*.zip", "public.tobuild").files_loaded, 3);
        // (Committed: the loads below run in workers, which would wait for this transaction's locks.)
        committed("vs_ingest.drop_rollups('public.tobuild', 'public.tobuild_blocks')");
        committed("vs_ingest.ensure_rollups('public.tobuild', 'public.tobuild_blocks')");
        let to_build = || {
            one::<String>(
                "SELECT coalesce(string_agg(format('%s %s %s..%s', rollups, days, first_day, last_day), '; '), 'none')
                   FROM vs_ingest.rollups_to_build WHERE storage = 'public.tobuild_blocks'::regclass",
            )
        };
        assert_eq!(to_build(), "tobuild_days 3 2023-07-01..2023-07-03");
        // (Read elsewhere: a lock on the rollups here would hold up the load below, which creates
        // the day's rollup partition.)
        assert_eq!(count_elsewhere("SELECT count(*) FROM public.tobuild_daily"), 0);

        // A late file into the second day: the load builds that day whole, its new samples with it.
        let late_dir = fresh_dir("tobuild/late");
        let mut late = generate(
            &late_dir,
            Day { links: 400, start: "2023-07-02", seed: 4, container: Container::Gzip, ..Day::default() },
        )
        .remove(0);
        let renamed = dir.join("20230702_5Min_late.csv.gz");
        std::fs::rename(&late.path, &renamed).unwrap();
        late.path = renamed;
        assert_eq!(load_dir(&dir, "*_late.csv.gz", "public.tobuild").files_loaded, 1);
        assert_eq!(to_build(), "tobuild_days 2 2023-07-01..2023-07-03");

        // The builder: oldest day first, at most `most` days, NULL when done.
        let build = |target: &str, most: &str, done: i32| {
            Spi::get_one::<i32>(&format!("SELECT vs_ingest.build_rollup_day({target}, {most}, {done})")).unwrap()
        };
        assert_eq!(build("'public.tobuild'", "1", 0), Some(1));
        assert_eq!(build("'public.tobuild'", "1", 1), None);
        assert_eq!(to_build(), "tobuild_days 1 2023-07-03..2023-07-03");
        assert_eq!(build("NULL", "NULL", 1), Some(2));
        assert_eq!(build("NULL", "NULL", 2), None);
        assert_eq!(to_build(), "none");
        compute_expected(&days.iter().chain([&late]).collect::<Vec<_>>(), "Asia/Seoul");
        assert_eq!(differences("public.tobuild"), (0, 0));
        assert_eq!(rollup_differences("public.tobuild_days", "Asia/Seoul"), 0);
        assert_eq!(coverage_rollup_differences("public.tobuild", "public.tobuild_days", "Asia/Seoul"), 0);

        // Refusals, with nothing built.
        assert!(try_sql("SELECT vs_ingest.build_rollup_day(NULL, 0, 0)").starts_with("22023: days must be at least 1"));
        assert!(try_sql("SELECT vs_ingest.build_rollup_day('pg_class', NULL, 0)")
            .starts_with("42809: pg_class is not a vs_ingest target"));
    }

    #[pg_test]
    fn a_corrupt_archive_fails_alone() {
        let dir = fresh_dir("corrupt");
        let manifests = generate(&dir, Day { links: 300, days: 3, ..Day::default() });
        let bad = &manifests[1].path;
        let bytes = std::fs::read(bad).unwrap();
        std::fs::write(bad, &bytes[..bytes.len() / 2]).unwrap();

        let got = load_dir(&dir, "*.zip", "public.corrupt");
        assert_eq!((got.files_seen, got.files_loaded, got.files_failed), (3, 2, 1));
        let error = one::<String>(&format!(
            "SELECT status || ': ' || error FROM vs_ingest.file WHERE run_id = {} AND path LIKE '%20230702%'",
            got.run_id
        ));
        assert!(error.starts_with("failed: ") && error.contains("corrupt or truncated zip"), "{error}");
        assert_eq!(one::<String>(&format!("SELECT status FROM vs_ingest.run WHERE run_id = {}", got.run_id)), "failed");
        compute_expected(&[&manifests[0], &manifests[2]], "Asia/Seoul");
        assert_eq!(differences("public.corrupt"), (0, 0));
    }

    #[pg_test]
    fn a_file_over_the_reject_ratio_fails_and_keeps_its_rejects() {
        let dir = fresh_dir("ratio");
        let mut quirks = Quirks::default();
        quirks.malformed.bad_speed = 40;
        let m = generate(&dir, Day { links: 100, quirks, ..Day::default() }).remove(0);
        let got = summary(&format!(
            "SELECT * FROM vs_ingest_dir('{}', '*.zip', target => 'public.ratio', max_reject_ratio => 0.001)",
            dir.display()
        ));
        assert_eq!((got.files_loaded, got.files_failed), (0, 1));
        let stored = one::<i64>(&format!(
            "SELECT count(*) FROM vs_ingest.reject JOIN vs_ingest.file USING (file_id) WHERE run_id = {}",
            got.run_id
        ));
        assert_eq!(stored as u64, m.malformed_rows + m.stray_rows);
        let error = one::<String>(&format!("SELECT error FROM vs_ingest.file WHERE run_id = {}", got.run_id));
        assert!(error.contains("more than max_reject_ratio 0.001"), "{error}");
        // Chunks committed before the ratio was exceeded stay, and the ledger says how many samples.
        assert_eq!(got.rows_loaded, one::<i64>("SELECT coalesce(sum(samples), 0)::bigint FROM public.ratio"));

        // The same file loads when the ratio allows it, merging exactly with what stayed.
        let again = summary(&format!(
            "SELECT * FROM vs_ingest_dir('{}', '*.zip', target => 'public.ratio', max_reject_ratio => 0.01)",
            dir.display()
        ));
        assert_eq!(again.files_loaded, 1);
        assert_eq!(again.rows_loaded + again.rows_duplicate, (m.samples + m.duplicate_rows) as i64);
        compute_expected(&[&m], "Asia/Seoul");
        assert_eq!(differences("public.ratio"), (0, 0));
    }

    #[pg_test]
    fn a_changed_file_is_reported_and_reloaded_only_when_asked() {
        let dir = fresh_dir("changed");
        let a = generate(&dir, Day { links: 100, seed: 7, ..Day::default() }).remove(0);
        load_dir(&dir, "*.zip", "public.changed");
        // Re-delivered under the same name with other content.
        let other = fresh_dir("changed/other");
        let b = generate(&other, Day { links: 150, seed: 8, ..Day::default() }).remove(0);
        std::fs::rename(&b.path, &a.path).unwrap();

        let skipped = load_dir(&dir, "*.zip", "public.changed");
        assert_eq!((skipped.files_loaded, skipped.files_skipped), (0, 1));
        assert_eq!(
            one::<String>(&format!("SELECT status FROM vs_ingest.file WHERE run_id = {}", skipped.run_id)),
            "changed"
        );
        let reloaded = summary(&format!(
            "SELECT * FROM vs_ingest_dir('{}', '*.zip', target => 'public.changed', reload_changed => true)",
            dir.display()
        ));
        assert_eq!(reloaded.files_loaded, 1);
        compute_expected(&[&a, &b], "Asia/Seoul");
        assert_eq!(differences("public.changed"), (0, 0));
    }

    #[pg_test]
    fn the_source_time_zone_sets_hours_and_partitions() {
        let dir = fresh_dir("tz");
        let m = generate(&dir, Day { links: 50, quirks: Quirks::none(), ..Day::default() }).remove(0);
        summary(&format!(
            "SELECT * FROM vs_ingest_dir('{}', '*.zip', target => 'public.tz', source_timezone => 'UTC')",
            dir.display()
        ));
        compute_expected(&[&m], "UTC");
        assert_eq!(differences("public.tz"), (0, 0));
        assert_eq!(one::<String>("SELECT min(hour AT TIME ZONE 'UTC')::text FROM public.tz"), "2023-07-01 00:00:00");
    }

    #[pg_test(error = "an engine thread panicked: injected panic in a parse thread")]
    fn a_panic_in_a_parse_thread_is_a_clean_error() {
        let dir = fresh_dir("panic");
        generate(&dir, Day { links: 20, ..Day::default() });
        load_dir_with(&dir, "format => 'fault_injection_panic_in_parser'");
    }

    #[pg_test]
    fn a_plan_says_what_a_load_would_do_and_writes_nothing() {
        let dir = fresh_dir("plan");
        let m = generate(&dir, Day { links: 300, days: 3, ..Day::default() });
        for day in &m[..2] {
            summary(&format!("SELECT * FROM vs_ingest_file('{}', target => 'public.planned')", day.path.display()));
        }
        // Day 2 changes under its name (another delivery of it).
        let other = fresh_dir("plan_other");
        let changed = generate(&other, Day { links: 310, start: "2023-07-02", seed: 5, ..Day::default() }).remove(0);
        std::fs::rename(&changed.path, &m[1].path).unwrap();
        let size = |p: &Path| std::fs::metadata(p).unwrap().len() as i64;
        let (day2, day3) = (size(&m[1].path), size(&m[2].path));
        let plan = |options: &str| {
            one::<String>(&format!(
                "SELECT string_agg(coalesce(regexp_replace(file, '^.*/', ''), 'all') || ':' || action || ':' || bytes, ' '
                                   ORDER BY file NULLS LAST)
                   FROM vs_ingest_plan('{}', '*_5Min.zip', 'public.planned'{options})",
                dir.display()
            ))
        };
        let written =
            || one::<i64>("SELECT (SELECT count(*) FROM vs_ingest.run) + (SELECT count(*) FROM vs_ingest.file)");
        let before = written();
        assert_eq!(
            plan(""),
            format!("20230701_5Min.zip:skip:0 20230702_5Min.zip:skip:0 20230703_5Min.zip:load:{day3} all:total:{day3}")
        );
        assert_eq!(
            plan(", reload_changed => true"),
            format!(
                "20230701_5Min.zip:skip:0 20230702_5Min.zip:reload:{day2} 20230703_5Min.zip:load:{day3} all:total:{}",
                day2 + day3
            )
        );
        // Each file's reason, from what the ledger says of it.
        assert_eq!(
            one::<String>(&format!(
                "SELECT string_agg(reason, ' | ' ORDER BY file) FROM vs_ingest_plan('{}', '*_5Min.zip', 'public.planned')
                  WHERE file IS NOT NULL",
                dir.display()
            )),
            "loaded before | changed since it was loaded: not loaded without reload_changed => true | new to this target"
        );
        let all = m.iter().map(|d| size(&d.path)).sum::<i64>();
        assert!(plan(", replace => true").ends_with(&format!("20230703_5Min.zip:load:{day3} all:total:{all}")));
        assert_eq!(written(), before, "a plan writes nothing");
        // Its estimate is the bytes at this server's measured input rate (the tests' loads).
        let (estimate, reason) = Spi::get_two::<pgrx::AnyNumeric, String>(&format!(
            "SELECT estimated_seconds, reason FROM vs_ingest_plan('{}', '*_5Min.zip', 'public.planned') WHERE file IS NULL",
            dir.display()
        ))
        .unwrap();
        let reason = reason.unwrap();
        assert!(reason.starts_with("1 to load, 2 to skip, 0 to reload, 0 to resume; at "), "{reason}");
        assert!(reason.ends_with("(measured over this server's last successful runs)"), "{reason}");
        let rate: f64 = reason.split(" at ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        let estimate: f64 = estimate.unwrap().to_string().parse().unwrap();
        // (The reason shows the rate rounded to 0.1 MB/s.)
        let (fastest, slowest) = (day3 as f64 / ((rate + 0.05) * 1e6), day3 as f64 / ((rate - 0.05).max(1e-3) * 1e6));
        assert!(estimate >= fastest - 0.1 && estimate <= slowest + 0.1, "{estimate} s for {day3} bytes at {rate} MB/s");
        // The load then does what the plan said.
        let got = load_dir(&dir, "*_5Min.zip", "public.planned");
        assert_eq!((got.files_loaded, got.files_skipped), (1, 2));
        // A directory outside vs_ingest.allowed_dirs is refused as a load refuses it.
        assert!(try_sql("SELECT * FROM vs_ingest_plan('/etc')").starts_with("42501:"));
    }
}
