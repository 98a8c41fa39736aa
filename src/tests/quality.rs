//! Quality flags per link and local day (`<target>_quality`, kept with the daily rollups): planted
//! cases — a link stuck on one speed (only once a late file fills the gap in its run, across a
//! block boundary), an all-zero link, a jump made by a late sample, implausible speeds, a link
//! mostly missing — each flagged exactly, and the stored figures equal to an independent SQL
//! computation after every file (`rollup_differences`).

#[pgrx::pg_schema]
mod tests {
    use std::fmt::Write as _;

    use pgrx::prelude::*;

    use crate::tests::support::*;

    const DATE: &str = "20230701";

    /// An ordinary speed of slot `slot` (0-287) of `link`: 50-72 km/h, never equal to its
    /// neighbours' and never more than 16 km/h from them.
    fn ordinary(link: i64, slot: usize) -> f64 {
        50.0 + ((slot as i64 * 7 + link) % 23) as f64
    }

    /// A plain file of the day with the samples `(link, slot, speed)`.
    fn write_file(path: &Path, samples: &[(i64, usize, f64)]) {
        let mut text = String::new();
        for &(link, slot, speed) in samples {
            let (h, m) = (slot / 12, slot % 12 * 5);
            writeln!(text, "{DATE},{h:02}{m:02},{link},9,{speed:.1},30").unwrap();
        }
        std::fs::write(path, text).unwrap();
    }

    /// (stuck, all_zero, implausible, jump, missing) of each link, by link.
    fn flags(view: &str) -> Vec<(i64, [bool; 5])> {
        Spi::connect(|client| {
            client
                .select(
                    &format!(
                        "SELECT link_id, stuck, all_zero, implausible, jump, missing FROM {view} ORDER BY link_id"
                    ),
                    None,
                    &[],
                )
                .unwrap()
                .map(|r| {
                    let b = |i| r.get::<bool>(i).unwrap().unwrap();
                    (r.get::<i64>(1).unwrap().unwrap(), [b(2), b(3), b(4), b(5), b(6)])
                })
                .collect()
        })
    }

    #[pg_test]
    fn planted_faults_are_flagged_exactly_and_late_files_change_the_flags_they_should() {
        let dir = fresh_dir("quality");
        let (first, late) = (dir.join(format!("{DATE}_a.csv")), dir.join(format!("{DATE}_b.csv")));
        let mut a = Vec::new();
        let mut b = Vec::new();
        // Ordinary links: every slot.
        for link in 2001..=2003 {
            a.extend((0..288).map(|s| (link, s, ordinary(link, s))));
        }
        // 1001: 42 km/h from 04:00 to 08:55 (60 slots, across the block boundary at 06:00); the
        // first file lacks block 1 (06:00-11:55) whole, which the late file brings.
        a.extend((0..72).map(|s| (1001, s, if s >= 48 { 42.0 } else { ordinary(1001, s) })));
        a.extend((144..288).map(|s| (1001, s, ordinary(1001, s))));
        b.extend((72..144).map(|s| (1001, s, if s < 108 { 42.0 } else { ordinary(1001, s) })));
        // 1002: zero all day.
        a.extend((0..288).map(|s| (1002, s, 0.0)));
        // 1003: 20 km/h at 11:55 and 25 at 12:05; the late file brings 110 km/h at 12:00.
        a.extend((0..288).filter(|&s| s != 144).map(|s| {
            (
                1003,
                s,
                match s {
                    143 => 20.0,
                    145 => 25.0,
                    _ => ordinary(1003, s),
                },
            )
        }));
        b.push((1003, 144, 110.0));
        // 1004: 135-157 km/h all day.
        a.extend((0..288).map(|s| (1004, s, ordinary(1004, s) + 85.0)));
        // 1005: the first 100 slots only.
        a.extend((0..100).map(|s| (1005, s, ordinary(1005, s))));
        write_file(&first, &a);
        write_file(&late, &b);

        let loaded = summary(&format!("SELECT * FROM vs_ingest_file('{}', target => 'public.q')", first.display()));
        assert_eq!((loaded.files_loaded, loaded.rows_loaded), (1, a.len() as i64));
        compute_expected_of(&[(&first, DATE.to_string())], "Asia/Seoul");
        assert_eq!(rollup_differences("public.q_days", "Asia/Seoul"), 0);
        //                      stuck  zero   implau jump   missing
        let ok = [false; 5];
        assert_eq!(
            flags("public.q_quality"),
            vec![
                (1001, ok),
                (1002, [true, true, false, false, false]),
                (1003, ok),
                (1004, [false, false, true, false, false]),
                (1005, [false, false, false, false, true]),
                (2001, ok),
                (2002, ok),
                (2003, ok),
            ]
        );
        assert_eq!(one::<i32>("SELECT longest_same_run FROM public.q_quality WHERE link_id = 1001"), 24);
        assert_eq!(one::<f64>("SELECT missing_rate FROM public.q_quality WHERE link_id = 1001"), 0.25);
        assert_eq!(
            one::<f64>("SELECT round(missing_rate::numeric, 6)::float8 FROM public.q_quality WHERE link_id = 1005"),
            0.652778
        );

        // The late file: 1001's block 1 is new (its rollup row exists: rebuilt), 1003's slot is
        // merged into a stored block.
        let late_run = summary(&format!("SELECT * FROM vs_ingest_file('{}', target => 'public.q')", late.display()));
        assert_eq!(
            (late_run.files_loaded, late_run.rows_loaded),
            (1, b.len() as i64),
            "{}",
            one::<String>(&format!(
                "SELECT string_agg(f::text, ' | ') FROM vs_ingest.file f WHERE run_id = {}",
                late_run.run_id
            ))
        );
        compute_expected_of(&[(&first, DATE.to_string()), (&late, DATE.to_string())], "Asia/Seoul");
        assert_eq!(rollup_differences("public.q_days", "Asia/Seoul"), 0);
        let f = flags("public.q_quality");
        assert_eq!(f[0], (1001, [true, false, false, false, false]));
        assert_eq!(f[2], (1003, [false, false, false, true, false]));
        assert_eq!(one::<i32>("SELECT longest_same_run FROM public.q_quality WHERE link_id = 1001"), 60);
        assert_eq!(one::<f32>("SELECT max_jump FROM public.q_quality WHERE link_id = 1003"), 90.0);
        assert_eq!(one::<i64>("SELECT count(*) FROM public.q_quality WHERE flagged"), 5);

        // Thresholds are the session's settings, read when the view is queried.
        Spi::run("SET LOCAL vs_ingest.quality_stuck_slots = 61").unwrap();
        assert!(!one::<bool>("SELECT stuck FROM public.q_quality WHERE link_id = 1001"));
        Spi::run("SET LOCAL vs_ingest.quality_stuck_slots = 60; SET LOCAL vs_ingest.quality_max_jump = 90").unwrap();
        assert!(one::<bool>("SELECT stuck FROM public.q_quality WHERE link_id = 1001"));
        assert!(!one::<bool>("SELECT jump FROM public.q_quality WHERE link_id = 1003"));
        Spi::run("RESET vs_ingest.quality_stuck_slots; RESET vs_ingest.quality_max_jump").unwrap();

        // The report: worst first, each link's flagged days and its missing rate over the period.
        let report: Vec<(i64, i32, i32, f64)> = Spi::connect(|client| {
            client
                .select(
                    "SELECT link_id, days, days_flagged, round(missing_rate::numeric, 4)::float8
                       FROM vs_ingest_quality('2023-07-01', '2023-07-02', 'public.q', 6)",
                    None,
                    &[],
                )
                .unwrap()
                .map(|r| {
                    (
                        r.get(1).unwrap().unwrap(),
                        r.get(2).unwrap().unwrap(),
                        r.get(3).unwrap().unwrap(),
                        r.get(4).unwrap().unwrap(),
                    )
                })
                .collect()
        });
        assert_eq!(
            report,
            vec![
                (1005, 1, 1, 0.6528),
                (1001, 1, 1, 0.0),
                (1002, 1, 1, 0.0),
                (1003, 1, 1, 0.0),
                (1004, 1, 1, 0.0),
                (2001, 1, 0, 0.0)
            ]
        );
    }
}
