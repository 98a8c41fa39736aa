//! Region filters: `links => 'public.region'` keeps only the links a table lists, dropped in the
//! engine before aggregation and counted as `rows_filtered`; rows, rollups, quality figures and
//! coverage then equal the independent computation of `compute_expected` restricted to those
//! links, through a late file too. And every refusal of a bad `links`.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::tests::support::*;

    /// Restricts `expected` to the region's links.
    fn keep_region() {
        Spi::run("DELETE FROM expected e WHERE NOT EXISTS (SELECT 1 FROM public.region r WHERE r.link_id = e.link_id)")
            .unwrap();
    }

    #[pg_test]
    fn a_region_load_keeps_exactly_its_links_and_counts_the_rest_through_a_late_file() {
        let dir = fresh_dir("region");
        let day = generate(&dir, Day { links: 300, ..Day::default() }).remove(0);
        let late_dir = fresh_dir("region_late");
        let late = generate(&late_dir, Day { links: 300, seed: 7, ..Day::default() }).remove(0);
        let late_path = late_dir.join("20230701_late.zip");
        std::fs::rename(&late.path, &late_path).unwrap();

        // The whole day, for the counts a region load must add up to.
        let all = load_dir(&dir, "*_5Min.zip", "public.region_all");
        compute_expected(&[&day], "Asia/Seoul");
        // A third of the links, plus one the files lack (and a NULL, ignored).
        Spi::run(
            "CREATE TABLE public.region (link_id bigint, name text);
             INSERT INTO public.region SELECT link_id, 'seoul' FROM (SELECT DISTINCT link_id FROM expected) l
              WHERE link_id % 3 = 0;
             INSERT INTO public.region VALUES (7, 'absent'), (NULL, 'ignored')",
        )
        .unwrap();
        let kept = one::<i64>("SELECT count(DISTINCT link_id) FROM public.region WHERE link_id <> 7");
        assert!(kept > 50 && kept < 250, "{kept} links kept");

        let got = summary(&format!(
            "SELECT * FROM vs_ingest_dir('{}', '*_5Min.zip', target => 'public.region_only', links => 'region')",
            dir.display()
        ));
        assert_eq!((got.files_loaded, got.rows_read, got.rows_rejected), (1, all.rows_read, all.rows_rejected));
        keep_region();
        assert_eq!(differences("public.region_only"), (0, 0));
        assert_eq!(rollup_differences("public.region_only_days", "Asia/Seoul"), 0);
        assert_eq!(coverage_differences("public.region_only"), (0, 0));
        assert_eq!(got.rows_loaded, one::<i64>("SELECT sum(samples)::bigint FROM expected"));
        // Every sample of the other links is counted as filtered, on the run and on the file.
        let filtered = one::<i64>(&format!("SELECT rows_filtered FROM vs_ingest.run WHERE run_id = {}", got.run_id));
        assert!(filtered > 0);
        assert_eq!(got.rows_loaded + got.rows_duplicate + filtered, all.rows_loaded + all.rows_duplicate);
        assert_eq!(
            one::<i64>(&format!("SELECT sum(rows_filtered)::bigint FROM vs_ingest.file WHERE run_id = {}", got.run_id)),
            filtered
        );
        assert_eq!(one::<i64>("SELECT count(DISTINCT link_id) FROM public.region_only"), kept);
        assert_eq!(
            one::<String>(&format!("SELECT options->>'links_from' FROM vs_ingest.run WHERE run_id = {}", got.run_id)),
            "public.region"
        );

        // A late file of the day, through the same region: merged, still exactly the region's.
        let late_run = summary(&format!(
            "SELECT * FROM vs_ingest_file('{}', target => 'public.region_only', links => 'public.region')",
            late_path.display()
        ));
        assert_eq!(late_run.files_loaded, 1);
        let late_copy = late.plain_copy.clone().unwrap();
        compute_expected_of(
            &[(day.plain_copy.as_deref().unwrap(), day.date.clone()), (&late_copy, late.date.clone())],
            "Asia/Seoul",
        );
        keep_region();
        assert_eq!(differences("public.region_only"), (0, 0));
        assert_eq!(rollup_differences("public.region_only_days", "Asia/Seoul"), 0);
        assert_eq!(coverage_differences("public.region_only"), (0, 0));
        assert!(one::<i64>(&format!("SELECT rows_filtered FROM vs_ingest.run WHERE run_id = {}", late_run.run_id)) > 0);
    }

    #[pg_test]
    fn a_bad_links_relation_is_refused_before_anything_loads() {
        let dir = fresh_dir("region_refused");
        generate(&dir, Day { links: 20, ..Day::default() });
        let load = |links: &str| {
            try_sql(&format!(
                "SELECT * FROM vs_ingest_dir('{}', target => 'public.region_refused', links => '{links}')",
                dir.display()
            ))
        };
        Spi::run(
            "CREATE TABLE public.no_links (id bigint); CREATE TABLE public.empty_links (link_id bigint);
             CREATE TABLE public.text_links (link_id text); INSERT INTO public.text_links VALUES ('1')",
        )
        .unwrap();
        let missing = load("public.nowhere");
        assert!(missing.starts_with("42P01"), "{missing}");
        assert!(load("public.no_links").starts_with("42703"));
        assert!(load("public.text_links").starts_with("42703"));
        let empty = load("public.empty_links");
        assert!(empty.starts_with("22023") && empty.contains("lists no link"), "{empty}");
        // A role that may not read the relation cannot load through it.
        Spi::run(
            "CREATE ROLE region_reader IN ROLE pg_read_server_files;
             GRANT CREATE ON SCHEMA public TO region_reader;
             INSERT INTO public.empty_links VALUES (1);
             SET LOCAL ROLE region_reader",
        )
        .unwrap();
        let denied = load("public.empty_links");
        assert!(denied.starts_with("42501") && denied.contains("empty_links"), "{denied}");
        Spi::run("RESET ROLE").unwrap();
        // Nothing was loaded and no run was recorded by any refusal.
        assert!(one::<bool>("SELECT to_regclass('public.region_refused') IS NULL"));
    }
}
