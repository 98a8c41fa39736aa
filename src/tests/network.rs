//! A target's link reference network (`vs_ingest_set_links`) and the unknown links loads find:
//! counted per file and link against an independent count of the file's samples, loaded or left
//! out as asked, exact through a kill and resume; and every refusal, and who sees a network.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    use crate::tests::support::*;

    /// The links the test network lacks on 2023-07-01: `% 8 = 0` are listed but valid only until
    /// that day (excluded), `% 8 = 4` are not listed.
    const UNKNOWN: &str = "link % 4 = 0";

    /// A committed table `public.<name>` listing the links of `expected` as the test network has
    /// them (links `% 4 = 1` valid from the file's day on, with region and road name).
    fn network_table(name: &str) {
        let ids = one::<Vec<i64>>("SELECT array_agg(DISTINCT link_id ORDER BY link_id) FROM expected");
        let ids = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        committed_sql(&format!(
            "CREATE TABLE public.{name} (link_id bigint, region text, road_name text, valid_from date, valid_until date);
             INSERT INTO public.{name}
             SELECT l, CASE WHEN l % 2 = 1 THEN 'seoul' ELSE 'busan' END, 'road ' || l,
                    CASE WHEN l % 4 = 1 THEN date '2023-07-01' END, CASE WHEN l % 8 = 0 THEN date '2023-07-01' END
               FROM unnest('{{{ids}}}'::bigint[]) AS l WHERE l % 8 <> 4"
        ));
    }

    /// Per unknown link of the file, its samples (valid rows with a speed, first or not) in the
    /// ledger minus the independent count, and the other way round.
    fn unknown_differences(file_id: i64) -> (i64, i64) {
        let ledger = format!("SELECT link_id, samples FROM vs_ingest.unknown_link WHERE file_id = {file_id}");
        let counted = format!("SELECT link, count(*) FROM valid_rows WHERE sp <> '' AND {UNKNOWN} GROUP BY link");
        (
            one::<i64>(&format!("SELECT count(*) FROM ({ledger} EXCEPT {counted}) d")),
            one::<i64>(&format!("SELECT count(*) FROM ({counted} EXCEPT {ledger}) d")),
        )
    }

    fn file_of(run_id: i64) -> (i64, i64, i64) {
        Spi::get_three::<i64, i64, i64>(&format!(
            "SELECT file_id, rows_unknown, rows_filtered FROM vs_ingest.file WHERE run_id = {run_id} AND status = 'loaded'"
        ))
        .map(|(f, u, r)| (f.unwrap(), u.unwrap(), r.unwrap()))
        .unwrap()
    }

    #[pg_test]
    fn unknown_links_are_counted_per_file_and_link_loaded_or_skipped_and_exact_through_a_kill() {
        let dir = fresh_dir("network");
        let day = generate(&dir, Day { links: 200, ..Day::default() }).remove(0);
        compute_expected(&[&day], "Asia/Seoul");
        network_table("net_links");
        let unknown_samples = one::<i64>(&format!("SELECT count(*) FROM valid_rows WHERE sp <> '' AND {UNKNOWN}"));
        let unknown_links = one::<i64>(&format!("SELECT count(DISTINCT link) FROM valid_rows WHERE {UNKNOWN}"));
        assert!(unknown_samples > 1000 && unknown_links > 20, "{unknown_samples} samples of {unknown_links} links");
        for target in ["net_load", "net_skip", "net_crash"] {
            committed(&format!("vs_ingest_create_target('public.{target}')"));
            committed(&format!("vs_ingest_set_links('public.{target}', 'public.net_links')"));
        }
        // The network is kept as listed: region, road name and validity too.
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM (SELECT link_id, region, road_name, valid_from, valid_until FROM vs_ingest.link
                                        WHERE target_oid = 'public.net_load'::regclass
                                       EXCEPT SELECT * FROM public.net_links) d"
            ),
            0
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM vs_ingest.link WHERE target_oid = 'public.net_load'::regclass"),
            one::<i64>("SELECT count(*) FROM public.net_links")
        );

        // Loaded (the default): every row is stored, and the unknown ones are counted per link.
        let all = load_dir(&dir, "*_5Min.zip", "public.net_load");
        assert_eq!(differences("public.net_load"), (0, 0));
        let (file, unknown, filtered) = file_of(all.run_id);
        assert_eq!((unknown, filtered), (unknown_samples, 0));
        assert_eq!(unknown_differences(file), (0, 0));
        assert_eq!(
            one::<i64>(&format!("SELECT rows_unknown FROM vs_ingest.run WHERE run_id = {}", all.run_id)),
            unknown_samples
        );
        // The view lists them most samples first, per target.
        assert_eq!(
            one::<i64>("SELECT count(*) FROM vs_ingest.unknown_links WHERE target_oid = 'public.net_load'::regclass"),
            unknown_links
        );
        assert_eq!(
            one::<i64>(
                "SELECT samples FROM vs_ingest.unknown_links WHERE target_oid = 'public.net_load'::regclass
                  ORDER BY samples DESC, link_id LIMIT 1"
            ),
            one::<i64>(&format!(
                "SELECT count(*) FROM valid_rows WHERE sp <> '' AND {UNKNOWN} GROUP BY link ORDER BY 1 DESC LIMIT 1"
            ))
        );

        // Skipped: stored are exactly the known links' rows (rollups and coverage too), and the
        // unknown samples are counted both as unknown and as left out.
        let skipped = summary(&format!(
            "SELECT * FROM vs_ingest_dir('{}', '*_5Min.zip', target => 'public.net_skip', unknown_links => 'skip')",
            dir.display()
        ));
        let (file, unknown, filtered) = file_of(skipped.run_id);
        assert_eq!((unknown, filtered), (unknown_samples, unknown_samples));
        assert_eq!(unknown_differences(file), (0, 0));
        assert_eq!(skipped.rows_loaded + skipped.rows_duplicate + filtered, all.rows_loaded + all.rows_duplicate);
        Spi::run("DELETE FROM expected WHERE link_id % 4 = 0").unwrap();
        assert_eq!(differences("public.net_skip"), (0, 0));
        assert_eq!(rollup_differences("public.net_skip_days", "Asia/Seoul"), 0);
        assert_eq!(coverage_differences("public.net_skip"), (0, 0));
        assert_eq!(one::<i64>("SELECT count(*) FROM public.net_skip WHERE link_id % 4 = 0"), 0);

        // Killed after the first of the day's four commits, then the same call again: the counts
        // committed with the first chunk move to the resuming file, none is counted twice.
        fault_role("network", "vs_ingest.test_commit_every_hours", Some("6"));
        let role = fault_role("network", "vs_ingest.test_exit_after_chunks", Some("1"));
        Spi::run(&format!("SET ROLE {role}")).unwrap();
        let call = format!(
            "SELECT * FROM vs_ingest_dir('{}', '*_5Min.zip', target => 'public.net_crash', unknown_links => 'skip')",
            dir.display()
        );
        let outcome = try_sql(&call);
        wait_for_workers();
        fault_role("network", "vs_ingest.test_exit_after_chunks", None);
        assert!(outcome.starts_with("08006: the workers of run"), "{outcome}");
        let crashed = last_run("public.net_crash");
        let partly = one::<i64>(&format!("SELECT rows_unknown FROM vs_ingest.file WHERE run_id = {crashed}"));
        assert!(partly > 0 && partly < unknown_samples, "{partly} of {unknown_samples} counted before the kill");
        let resumed = summary(&call);
        Spi::run("RESET ROLE").unwrap();
        fault_role("network", "vs_ingest.test_commit_every_hours", None);
        let (file, unknown, filtered) = file_of(resumed.run_id);
        assert_eq!((unknown, filtered), (unknown_samples, unknown_samples));
        assert_eq!(unknown_differences(file), (0, 0));
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM vs_ingest.unknown_link u JOIN vs_ingest.file f USING (file_id) WHERE f.run_id = {crashed}")), 0);
        assert_eq!(differences("public.net_crash"), (0, 0));
        assert_eq!(rollup_differences("public.net_crash_days", "Asia/Seoul"), 0);
    }

    #[pg_test]
    fn a_network_is_set_only_by_its_targets_owner_from_a_sound_relation_and_seen_by_its_readers() {
        Spi::run(
            "SELECT vs_ingest_create_target('public.net_refused');
             CREATE TABLE public.net_plain (link_id bigint);
             INSERT INTO public.net_plain VALUES (1), (2), (3), (NULL);
             CREATE TABLE public.net_twice (link_id int, road_name text);
             INSERT INTO public.net_twice VALUES (1, 'a'), (2, 'b'), (2, 'c');
             CREATE TABLE public.net_backwards (link_id bigint, valid_from date, valid_until date);
             INSERT INTO public.net_backwards VALUES (1, NULL, '2023-01-01'), (5, '2023-02-01', '2023-02-01');
             CREATE TABLE public.net_no_id (id bigint);
             CREATE TABLE public.net_empty (link_id bigint)",
        )
        .unwrap();
        let set =
            |target: &str, relation: &str| try_sql(&format!("SELECT vs_ingest_set_links('{target}', {relation})"));
        // Set, replaced whole (attributes the relation lacks are NULL), removed.
        assert_eq!(set("public.net_refused", "'net_plain'"), "ok");
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM vs_ingest.link WHERE target_oid = 'public.net_refused'::regclass
                    AND region IS NULL AND valid_from IS NULL"
            ),
            3
        );
        assert_eq!(one::<i64>("SELECT vs_ingest_set_links('public.net_refused', 'public.net_plain')"), 3);
        Spi::run("DELETE FROM public.net_plain WHERE link_id = 3").unwrap();
        assert_eq!(one::<i64>("SELECT vs_ingest_set_links('public.net_refused', 'public.net_plain')"), 2);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM vs_ingest.link WHERE target_oid = 'public.net_refused'::regclass"),
            2
        );

        // Refusals, each leaving the network as it was.
        let refused = [
            (set("public.net_plain", "'public.net_plain'"), "42809"),
            (set("public.nowhere", "'public.net_plain'"), "42809"),
            (set("public.net_refused", "'public.nowhere'"), "42P01"),
            (set("public.net_refused", "'public.net_no_id'"), "42703"),
            (set("public.net_refused", "'public.net_empty'"), "22023"),
            (set("public.net_refused", "'public.net_twice'"), "22023"),
            (set("public.net_refused", "'public.net_backwards'"), "22023"),
            (try_sql("SELECT vs_ingest_set_links(NULL, 'public.net_plain')"), "22004"),
        ];
        for (got, code) in &refused {
            assert!(got.starts_with(code), "{got} is not {code}");
        }
        assert!(refused[5].0.contains("link 2 is listed 2 times"), "{}", refused[5].0);
        assert!(refused[6].0.contains("link 5") && refused[6].0.contains("2023-02-01"), "{}", refused[6].0);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM vs_ingest.link WHERE target_oid = 'public.net_refused'::regclass"),
            2
        );

        // A load's unknown_links: a bad word, and a target without a network.
        let dir = fresh_dir("network_refused");
        generate(&dir, Day { links: 20, ..Day::default() });
        let load = |target: &str, extra: &str| {
            try_sql(&format!("SELECT * FROM vs_ingest_dir('{}', target => '{target}'{extra})", dir.display()))
        };
        let word = load("public.net_refused", ", unknown_links => 'drop'");
        assert!(word.starts_with("22023") && word.contains("'load' or 'skip'"), "{word}");
        let none = load("public.net_none", ", unknown_links => 'skip'");
        assert!(none.starts_with("22023") && none.contains("has no link network"), "{none}");
        // Spread over Citus nodes, a network would not be checked: refused before Citus is asked.
        let spread = load("public.net_refused", ", nodes => 'workers'");
        assert!(spread.starts_with("0A000") && spread.contains("link network"), "{spread}");
        assert!(one::<bool>("SELECT to_regclass('public.net_none') IS NULL"));

        // Another loader: neither sets the network of a target it does not own, nor sees it, nor
        // writes the catalog; it sees the network once it may read the target.
        Spi::run(
            "CREATE ROLE net_other IN ROLE pg_read_server_files;
             GRANT SELECT ON public.net_plain TO net_other;
             SET LOCAL ROLE net_other",
        )
        .unwrap();
        let other = set("public.net_refused", "'public.net_plain'");
        assert!(other.starts_with("42501") && other.contains("owner"), "{other}");
        assert!(set("public.net_refused", "NULL").starts_with("42501"));
        assert_eq!(one::<i64>("SELECT count(*) FROM vs_ingest.link"), 0);
        assert!(try_sql("INSERT INTO vs_ingest.link VALUES (0, 1)").starts_with("42501"));
        assert!(try_sql("DELETE FROM vs_ingest.link").starts_with("42501"));
        Spi::run("RESET ROLE; GRANT SELECT ON public.net_refused TO net_other; SET LOCAL ROLE net_other").unwrap();
        assert_eq!(
            one::<i64>("SELECT count(*) FROM vs_ingest.link WHERE target_oid = 'public.net_refused'::regclass"),
            2
        );
        Spi::run("RESET ROLE").unwrap();

        // The owner reads the relation as itself: one it may not read is refused.
        Spi::run(
            "CREATE ROLE net_owner IN ROLE pg_read_server_files;
             GRANT CREATE ON SCHEMA public TO net_owner;
             SET LOCAL ROLE net_owner;
             SELECT vs_ingest_create_target('public.net_owned')",
        )
        .unwrap();
        let unreadable = set("public.net_owned", "'public.net_twice'");
        assert!(unreadable.starts_with("42501") && unreadable.contains("net_twice"), "{unreadable}");
        Spi::run("RESET ROLE").unwrap();
        // NULL removes a network.
        assert_eq!(one::<i64>("SELECT vs_ingest_set_links('public.net_refused', NULL)"), 0);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM vs_ingest.link WHERE target_oid = 'public.net_refused'::regclass"),
            0
        );
    }

    #[pg_test]
    fn a_source_keeps_its_region_and_skips_unknown_links_on_every_run() {
        let dir = fresh_dir("network_source");
        let day = generate(&dir, Day { links: 120, ..Day::default() }).remove(0);
        compute_expected(&[&day], "Asia/Seoul");
        network_table("net_source_links");
        committed("vs_ingest_create_target('public.net_source')");
        committed("vs_ingest_set_links('public.net_source', 'public.net_source_links')");
        Spi::run("CREATE TABLE public.net_region AS SELECT DISTINCT link_id FROM expected WHERE link_id % 3 = 0")
            .unwrap();
        let add = |extra: &str| {
            try_sql(&format!(
                "SELECT vs_ingest_add_source('net_src', '{}', '*_5Min.zip', target => 'public.net_source'{extra})",
                dir.display()
            ))
        };
        let word = add(", unknown_links => 'drop'");
        assert!(word.starts_with("22023") && word.contains("'load' or 'skip'"), "{word}");
        assert!(add(", links => 'public.nowhere'").starts_with("42P01"));
        // Named as the caller's search_path resolves it; kept by oid, with its name for display.
        assert_eq!(add(", links => 'net_region', unknown_links => 'skip'"), "ok");
        assert_eq!(
            one::<String>(
                "SELECT format('%s %s %s', links, links_oid = 'public.net_region'::regclass, unknown_links)
                   FROM vs_ingest.source WHERE name = 'net_src'"
            ),
            "public.net_region t skip"
        );

        let got = summary("SELECT * FROM vs_ingest_run_source('net_src')");
        assert_eq!((got.files_loaded, got.files_failed), (1, 0));
        let (_, unknown, filtered) = file_of(got.run_id);
        let kept = "link % 3 = 0 AND link % 4 <> 0";
        assert_eq!(
            unknown,
            one::<i64>(&format!("SELECT count(*) FROM valid_rows WHERE sp <> '' AND link % 3 = 0 AND {UNKNOWN}"))
        );
        assert_eq!(filtered, one::<i64>(&format!("SELECT count(*) FROM valid_rows WHERE sp <> '' AND NOT ({kept})")));
        Spi::run("DELETE FROM expected WHERE NOT (link_id % 3 = 0 AND link_id % 4 <> 0)").unwrap();
        assert_eq!(differences("public.net_source"), (0, 0));
        assert_eq!(rollup_differences("public.net_source_days", "Asia/Seoul"), 0);

        // A region dropped since it was set is refused by name; '' keeps every link again, and
        // unknown_links => '' goes back to loading them.
        Spi::run(
            "CREATE TABLE public.net_region_gone (link_id bigint); INSERT INTO public.net_region_gone VALUES (1);
             SELECT vs_ingest_alter_source('net_src', links => 'public.net_region_gone');
             DROP TABLE public.net_region_gone",
        )
        .unwrap();
        let gone = try_sql("SELECT * FROM vs_ingest_run_source('net_src')");
        assert!(gone.starts_with("42P01") && gone.contains("net_region_gone"), "{gone}");
        Spi::run("SELECT vs_ingest_alter_source('net_src', links => '', unknown_links => '')").unwrap();
        assert!(one::<bool>(
            "SELECT links IS NULL AND links_oid IS NULL AND unknown_links IS NULL FROM vs_ingest.source
              WHERE name = 'net_src'"
        ));
    }
}
