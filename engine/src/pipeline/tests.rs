use super::*;
use crate::aggregate::HourlyRow;
use crate::calendar::Date;
use crate::format::{lookup, RejectReason, REJECT_RAW_MAX};
use crate::links::NetworkLink;

type Outcome = (Vec<HourBatch>, Vec<EntryReject>, Counts, Vec<Position>);

fn run(path: PathBuf, options: Options, threads: usize) -> Result<Outcome> {
    let engine = Engine::new(threads).unwrap();
    let load = engine.load(path, options);
    let (mut hours, mut rejects, mut counts, mut checkpoints) = (Vec::new(), Vec::new(), Counts::default(), Vec::new());
    loop {
        match load.recv_timeout(Duration::from_secs(120)).expect("pipeline stalled")? {
            Event::Batch(b) => {
                hours.extend(b.hours);
                rejects.extend(b.rejects);
                counts += b.counts;
                checkpoints.extend(b.checkpoint);
            }
            Event::Done => return Ok((hours, rejects, counts, checkpoints)),
        }
    }
}

/// Rows keyed by (hour, link) after merging batches with first-wins, as the database does.
fn table(batches: &[HourBatch]) -> BTreeMap<(i64, i64), HourlyRow> {
    let mut t: BTreeMap<(i64, i64), HourlyRow> = BTreeMap::new();
    for b in batches {
        for r in &b.rows {
            let row = t.entry((b.local_hour, r.link_id)).or_insert_with(|| HourlyRow::new(r.link_id));
            for slot in 0..12 {
                if let Some(s) = r.speed_at(slot) {
                    row.apply(slot as u8, s, r.travel_time_at(slot));
                }
            }
        }
    }
    t
}

fn day_csv(links: i64) -> String {
    let mut s = String::new();
    for t in 0..288 {
        for l in 0..links {
            let speed = (l * 7 + t) % 120;
            s.push_str(&format!("20230101,{:02}{:02},{},,{},0\n", t / 12, (t % 12) * 5, 1_000_000_000 + l, speed));
        }
    }
    s
}

#[test]
fn chunked_parallel_load_equals_one_big_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = day_csv(30);
    csv.push_str("20230101,0000,1000000001,,99,0\n"); // late duplicate of the first hour
    csv.push_str("garbage line\n");
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, &csv).unwrap();

    let mut reference = Options::new(lookup("its_5min").unwrap());
    reference.chunk_size = 1 << 30;
    let (ref_hours, ref_rejects, ref_counts, _) = run(path.clone(), reference.clone(), 1).unwrap();

    for (chunk_size, threads) in [(64, 4), (1000, 2), (4096, 3)] {
        let mut options = reference.clone();
        options.chunk_size = chunk_size;
        let (hours, rejects, counts, checkpoints) = run(path.clone(), options, threads).unwrap();
        assert_eq!(table(&hours), table(&ref_hours), "chunk {chunk_size}");
        assert_eq!(rejects, ref_rejects);
        // A sample for an hour already handed over counts as loaded here; the writer's merge
        // finds it a duplicate. Only the sum is independent of chunking.
        assert_eq!((counts.lines, counts.bytes), (ref_counts.lines, ref_counts.bytes));
        assert_eq!(counts.loaded + counts.duplicate, ref_counts.loaded + ref_counts.duplicate);
        assert_eq!(checkpoints, vec![Position { entry: 1, offset: 0, line: 0 }]);
    }
    assert_eq!(ref_counts.loaded, 30 * 288);
    assert_eq!(ref_counts.duplicate, 1);
    assert_eq!(ref_counts.lines.rejected, 1);
    assert_eq!(ref_rejects[0].reject.line, 30 * 288 + 2);
    assert_eq!(ref_rejects[0].entry, "20230101_5Min.csv");
    assert_eq!(ref_counts.bytes, csv.len() as u64);
    let t = table(&ref_hours);
    assert_eq!(t.len(), 30 * 24);
    assert!(t.values().all(|r| r.samples() == 12));
}

#[test]
fn resuming_from_any_byte_checkpoint_completes_the_same_table() {
    let mut options = Options::new(lookup("its_5min").unwrap());
    options.chunk_size = 2000;
    options.checkpoint_bytes = Some(10_000);
    resume_from_checkpoints(options);
}

#[test]
fn resuming_from_any_hour_checkpoint_completes_the_same_table() {
    let mut options = Options::new(lookup("its_5min").unwrap());
    options.chunk_size = 2000;
    options.checkpoint_every_hours = 1;
    resume_from_checkpoints(options);
}

#[test]
fn hour_checkpoints_write_each_hour_once_at_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = day_csv(30);
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, &csv).unwrap();
    let mut options = Options::new(lookup("its_5min").unwrap());
    options.chunk_size = 1500;
    options.checkpoint_every_hours = 1;
    let (hours, _, _, checkpoints) = run(path, options, 2).unwrap();
    let mut seen: Vec<i64> = hours.iter().map(|h| h.local_hour).collect();
    seen.dedup();
    assert_eq!(seen.len(), hours.len(), "an hour was split across batches");
    assert_eq!(hours.len(), 24);
    // 23 hour boundaries, then the end of the entry.
    assert_eq!(checkpoints.len(), 24);
    for (h, cp) in checkpoints[..23].iter().enumerate() {
        let line = (h + 1) * 12 * 30;
        let offset: usize = csv.split_inclusive('\n').take(line).map(str::len).sum();
        assert_eq!((cp.offset, cp.line), (offset as u64, line as u64), "hour {h}");
    }
}

#[test]
fn block_checkpoints_come_only_where_a_block_of_six_hours_begins() {
    let dir = tempfile::tempdir().unwrap();
    let csv = day_csv(30);
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, &csv).unwrap();
    let mut options = Options::new(lookup("its_5min").unwrap());
    options.chunk_size = 1500;
    options.checkpoint_every_hours = 6;
    let (hours, _, _, checkpoints) = run(path, options, 2).unwrap();
    assert_eq!(hours.len(), 24);
    // Local hours 6, 12 and 18 begin blocks, then the entry ends.
    assert_eq!(checkpoints.len(), 4);
    for (b, cp) in checkpoints[..3].iter().enumerate() {
        let line = (b + 1) * 6 * 12 * 30;
        let offset: usize = csv.split_inclusive('\n').take(line).map(str::len).sum();
        assert_eq!((cp.offset, cp.line), (offset as u64, line as u64), "block {b}");
    }
}

#[test]
fn day_commits_hand_over_each_block_but_check_point_only_where_a_day_begins() {
    let dir = tempfile::tempdir().unwrap();
    // Two local days in one file: 2023-01-01 and the first block of 2023-01-02.
    let csv = day_csv(10)
        + &day_csv(10)
            .replace("20230101,", "20230102,")
            .lines()
            .take(6 * 12 * 10)
            .map(|l| format!("{l}\n"))
            .collect::<String>();
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, &csv).unwrap();
    let mut options = Options::new(lookup("its_5min").unwrap());
    options.chunk_size = 1500;
    options.checkpoint_every_hours = 6;
    options.commit_every_hours = 24;
    let engine = Engine::new(2).unwrap();
    let load = engine.load(path, options);
    let mut blocks_per_batch = Vec::new();
    let mut checkpoints = Vec::new();
    while let Event::Batch(b) = load.recv_timeout(Duration::from_secs(120)).expect("pipeline stalled").unwrap() {
        if !b.hours.is_empty() {
            blocks_per_batch.push(crate::block::blocks(&b.hours).len());
        }
        checkpoints.extend(b.checkpoint.map(|c| c.line));
    }
    // Each block is handed over on its own, but only the end of the entry (the day) is a
    // checkpoint (rows of another day are strays of a day file, rejected).
    assert_eq!(blocks_per_batch, vec![1; 4]);
    assert_eq!(checkpoints, vec![0]);
}

#[test]
fn resuming_from_any_block_or_byte_checkpoint_completes_the_same_table() {
    let mut options = Options::new(lookup("its_5min").unwrap());
    options.chunk_size = 2000;
    options.checkpoint_every_hours = 6;
    options.checkpoint_bytes = Some(10_000);
    resume_from_checkpoints(options);
}

fn resume_from_checkpoints(options: Options) {
    resume_from_checkpoints_of(&(day_csv(20) + "bad\n"), options);
}

/// Loads `csv` whole, then from every 7th checkpoint after the batches before it; returns the
/// checkpoints.
fn resume_from_checkpoints_of(csv: &str, options: Options) -> Vec<Position> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, csv).unwrap();
    let (full, full_rejects, full_counts, checkpoints) = run(path.clone(), options.clone(), 2).unwrap();
    assert!(checkpoints.len() > 10);
    // Batches up to a checkpoint, then a resumed load: nothing lost, nothing repeated.
    let engine = Engine::new(2).unwrap();
    for cp in checkpoints.iter().step_by(7) {
        let load = engine.load(path.clone(), options.clone());
        let mut before = Vec::new();
        let mut counts = Counts::default();
        let mut rejects = Vec::new();
        loop {
            let Event::Batch(b) = load.recv_timeout(Duration::from_secs(120)).unwrap().unwrap() else { panic!() };
            before.extend(b.hours);
            counts += b.counts;
            rejects.extend(b.rejects);
            if b.checkpoint == Some(*cp) {
                break;
            }
        }
        drop(load);
        let mut resumed = options.clone();
        resumed.start = *cp;
        let (after, after_rejects, after_counts, _) = run(path.clone(), resumed, 2).unwrap();
        before.extend(after);
        rejects.extend(after_rejects);
        counts += after_counts;
        assert_eq!(table(&before), table(&full), "checkpoint {cp:?}");
        assert_eq!(rejects, full_rejects);
        assert_eq!(counts.lines, full_counts.lines);
        assert_eq!(counts.bytes, full_counts.bytes);
    }
    checkpoints
}

#[test]
fn a_corrupt_file_is_an_error_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.zip");
    std::fs::write(&path, b"PK\x03\x04 this is not really a zip").unwrap();
    let err = run(path, Options::new(lookup("its_5min").unwrap()), 2).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn a_missing_file_is_an_io_error() {
    let err = run("/nonexistent/file.csv".into(), Options::new(lookup("its_5min").unwrap()), 1).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
}

#[test]
fn dropping_a_load_midway_stops_its_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, day_csv(200)).unwrap();
    let mut options = Options::new(lookup("its_5min").unwrap());
    options.chunk_size = 1000;
    let engine = Engine::new(2).unwrap();
    let load = engine.load(path, options);
    assert!(load.recv_timeout(Duration::from_secs(120)).is_some());
    drop(load); // joins; a hang here fails the test by timeout
}

#[test]
fn a_panic_in_a_parse_thread_is_an_error_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.csv");
    std::fs::write(&path, day_csv(5)).unwrap();
    let mut options = Options::new(lookup(crate::format::fault::PANIC_IN_PARSER).unwrap());
    options.chunk_size = 1000;
    let err = run(path, options, 2).unwrap_err();
    assert!(matches!(&err, Error::Panic(m) if m == "injected panic in a parse thread"), "{err}");
}

/// `day_csv(links)` with `long` (no line feed) inserted as a line after `after` lines.
fn with_long_line(links: i64, after: usize, long: &str) -> String {
    let csv = day_csv(links);
    let cut: usize = csv.split_inclusive('\n').take(after).map(str::len).sum();
    format!("{}{long}\n{}", &csv[..cut], &csv[cut..])
}

#[test]
fn a_line_too_long_is_rejected_and_the_load_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("20230101,0000,1000000001,,{},0", "9".repeat(3 << 20));
    let csv = with_long_line(10, 700, &long) + "bad\n";
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, &csv).unwrap();
    let clean = dir.path().join("clean_20230101_5Min.csv");
    std::fs::write(&clean, day_csv(10)).unwrap();
    let (clean_hours, _, _, _) = run(clean, Options::new(lookup("its_5min").unwrap()), 2).unwrap();

    // The default limit (1 MiB) under the default chunk size (4 MiB) and around small ones: the
    // long line is found inside a chunk or by the chunker, with the same result.
    for chunk_size in [4 << 20, 1000, 64] {
        let mut options = Options::new(lookup("its_5min").unwrap());
        options.chunk_size = chunk_size;
        let (hours, rejects, counts, _) = run(path.clone(), options, 2).unwrap();
        let got: Vec<_> = rejects.iter().map(|r| (r.reject.line, r.reject.reason, r.reject.raw.len())).collect();
        assert_eq!(
            got,
            vec![(701, RejectReason::LineTooLong, REJECT_RAW_MAX), (10 * 288 + 2, RejectReason::FieldCount, 3)],
            "chunk {chunk_size}"
        );
        assert!(long.starts_with(&rejects[0].reject.raw));
        assert_eq!(counts.lines.rows, 10 * 288 + 2, "chunk {chunk_size}");
        assert_eq!((counts.lines.lines, counts.lines.rejected), (10 * 288 + 2, 2));
        assert_eq!(counts.bytes, csv.len() as u64);
        assert_eq!(counts.loaded, 10 * 288);
        assert_eq!(table(&hours), table(&clean_hours), "chunk {chunk_size}");
    }
}

#[test]
fn resuming_after_a_line_too_long_completes_the_same_table() {
    let long = "7".repeat(5000);
    let csv = with_long_line(20, 1000, &long) + &long;
    let mut options = Options::new(lookup("its_5min").unwrap());
    options.chunk_size = 700;
    options.max_line = 256;
    options.checkpoint_bytes = Some(3000);
    let checkpoints = resume_from_checkpoints_of(&csv, options.clone());
    // Checkpoints after the long line are where its end says, and every one is a line start.
    let long_end = csv.find(&long).unwrap() + long.len() + 1;
    assert!(checkpoints.iter().any(|cp| cp.entry == 0 && cp.offset as usize > long_end));
    for cp in checkpoints.iter().filter(|cp| cp.entry == 0) {
        let offset = cp.offset as usize;
        // (The file ends with the long line, without a line feed.)
        let at_end = offset == csv.len();
        assert!(offset == 0 || at_end || csv.as_bytes()[offset - 1] == b'\n', "{cp:?}");
        assert_eq!(csv[..offset].matches('\n').count() as u64 + u64::from(at_end), cp.line, "{cp:?}");
    }
    options.checkpoint_bytes = None;
    options.checkpoint_every_hours = 1;
    resume_from_checkpoints_of(&csv, options);
}

#[test]
fn the_load_rejects_rows_at_the_nonexistent_local_times_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let csv = day_csv(10);
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, &csv).unwrap();
    let jan1 = Date::new(2023, 1, 1).unwrap().days_since_epoch();
    let (plain_hours, _, plain_counts, _) = run(path.clone(), Options::new(lookup("its_5min").unwrap()), 2).unwrap();
    // 02:00..02:55, as in New York on a spring-forward day.
    let gaps = Arc::new(LocalGaps::from_slots((24..36).map(|s| (jan1, s))));
    for chunk_size in [4 << 20, 1000, 64] {
        let mut options = Options::new(lookup("its_5min").unwrap());
        options.chunk_size = chunk_size;
        options.checkpoint_every_hours = 6;
        options.gaps = Some(gaps.clone());
        let (hours, rejects, counts, _) = run(path.clone(), options, 3).unwrap();
        let got: Vec<_> = rejects.iter().map(|r| (r.reject.line, r.reject.reason)).collect();
        // Lines 2 * 12 * 10 + 1 ..= 3 * 12 * 10 are the rows of 02:xx.
        let want: Vec<_> = (241..=360).map(|l| (l, RejectReason::NonexistentTime)).collect();
        assert_eq!(got, want, "chunk {chunk_size}");
        assert_eq!(counts.lines.rejected, 120);
        assert_eq!(counts.lines.rows, plain_counts.lines.rows);
        assert_eq!(counts.loaded, plain_counts.loaded - 120);
        let mut want_table = table(&plain_hours);
        want_table.retain(|(hour, _), _| *hour != jan1 * 24 + 2);
        assert_eq!(table(&hours), want_table, "chunk {chunk_size}");
    }
}

mod props;

#[test]
fn a_link_filter_keeps_exactly_its_links_and_counts_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, day_csv(20)).unwrap();
    let mut all = Options::new(lookup("its_5min").unwrap());
    all.chunk_size = 4096;
    let (all_hours, _, all_counts, _) = run(path.clone(), all.clone(), 2).unwrap();

    // Every third link, and one id the file lacks.
    let kept: Vec<i64> = (0..20).step_by(3).map(|l| 1_000_000_000 + l).chain([7]).collect();
    let mut region = all.clone();
    region.links = Some(Arc::new(LinkSet::new(kept.clone())));
    let (hours, rejects, counts, _) = run(path, region, 2).unwrap();
    let want: BTreeMap<(i64, i64), HourlyRow> =
        table(&all_hours).into_iter().filter(|((_, link), _)| kept.contains(link)).collect();
    assert_eq!(table(&hours), want);
    assert!(rejects.is_empty());
    assert_eq!(counts.loaded, 7 * 288);
    assert_eq!(counts.filtered, 13 * 288);
    assert_eq!(counts.loaded + counts.filtered, all_counts.loaded);
    assert_eq!(counts.lines, all_counts.lines);
}

/// Counters and per-link unknown samples of a whole load.
fn run_counting_unknown(path: PathBuf, options: Options) -> (Vec<HourBatch>, Counts, UnknownCounts) {
    let engine = Engine::new(2).unwrap();
    let load = engine.load(path, options);
    let (mut hours, mut counts, mut unknown) = (Vec::new(), Counts::default(), UnknownCounts::new());
    loop {
        match load.recv_timeout(Duration::from_secs(120)).expect("pipeline stalled").unwrap() {
            Event::Batch(b) => {
                hours.extend(b.hours);
                counts += b.counts;
                add_unknown(&mut unknown, b.unknown_links);
            }
            Event::Done => return (hours, counts, unknown),
        }
    }
}

#[test]
fn a_network_counts_the_samples_of_links_it_lacks_and_skips_them_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, day_csv(10)).unwrap();
    let mut all = Options::new(lookup("its_5min").unwrap());
    all.chunk_size = 4096;
    let (all_hours, all_counts, none) = run_counting_unknown(path.clone(), all.clone());
    assert!(none.is_empty() && all_counts.unknown == 0);

    // Links 0-5 always; link 6 only from the day after the file's; link 7 until the file's day
    // (excluded); link 8 valid on exactly the file's day; 9 is not listed.
    let day = crate::calendar::days_from_civil(2023, 1, 1) as i32;
    let id = |l: i64| 1_000_000_000 + l;
    let mut listed: Vec<NetworkLink> =
        (0..6).map(|l| NetworkLink { link_id: id(l), valid_from: None, valid_until: None }).collect();
    listed.push(NetworkLink { link_id: id(6), valid_from: Some(day + 1), valid_until: None });
    listed.push(NetworkLink { link_id: id(7), valid_from: None, valid_until: Some(day) });
    listed.push(NetworkLink { link_id: id(8), valid_from: Some(day), valid_until: Some(day + 1) });
    let network = Arc::new(Network::new(listed));
    let want_unknown = UnknownCounts::from([(id(6), 288), (id(7), 288), (id(9), 288)]);

    let mut load = all.clone();
    load.network = Some((network.clone(), UnknownLinks::Load));
    let (hours, counts, unknown) = run_counting_unknown(path.clone(), load);
    assert_eq!(table(&hours), table(&all_hours));
    assert_eq!((counts.loaded, counts.filtered, counts.unknown), (all_counts.loaded, 0, 3 * 288));
    assert_eq!(unknown, want_unknown);

    let mut skip = all.clone();
    skip.network = Some((network, UnknownLinks::Skip));
    // With a region too: the region filters first, so link 9 is filtered, not unknown.
    skip.links = Some(Arc::new(LinkSet::new((0..9).map(id).collect())));
    let (hours, counts, unknown) = run_counting_unknown(path, skip);
    let known = [0, 1, 2, 3, 4, 5, 8].map(id);
    let want: BTreeMap<(i64, i64), HourlyRow> =
        table(&all_hours).into_iter().filter(|((_, link), _)| known.contains(link)).collect();
    assert_eq!(table(&hours), want);
    assert_eq!((counts.loaded, counts.filtered, counts.unknown), (7 * 288, 3 * 288, 2 * 288));
    assert_eq!(unknown, UnknownCounts::from([(id(6), 288), (id(7), 288)]));
    assert_eq!(counts.lines, all_counts.lines);
}

#[test]
fn blocks_handed_over_are_the_hours_blocks_encoded_with_their_sums() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20230101_5Min.csv");
    std::fs::write(&path, day_csv(9000)).unwrap();
    let collect = |hand_over: HandOver| {
        let mut options = Options::new(lookup("its_5min").unwrap());
        options.checkpoint_every_hours = 6;
        options.hand_over = hand_over;
        let engine = Engine::new(2).unwrap();
        let load = engine.load(path.clone(), options);
        let (mut hours, mut blocks) = (Vec::new(), Vec::new());
        while let Event::Batch(b) = load.recv_timeout(Duration::from_secs(120)).expect("pipeline stalled").unwrap() {
            hours.extend(b.hours);
            blocks.extend(b.blocks);
        }
        (hours, blocks)
    };
    let (hours, none) = collect(HandOver::Hours);
    assert!(none.is_empty());
    let expected: Vec<(i64, u8, Vec<crate::block::BlockRow>)> =
        crate::block::blocks(&hours).iter().map(|b| (b.day, b.block, b.rows().collect())).collect();
    assert_eq!(expected.len(), 4);
    for hand_over in [HandOver::Blocks, HandOver::BlocksWithSums] {
        let (no_hours, blocks) = collect(hand_over);
        assert!(no_hours.is_empty());
        let got: Vec<(i64, u8, Vec<crate::block::BlockRow>)> = blocks
            .iter()
            .map(|b| (b.day, b.block, b.stored_rows().map(|(piece, row)| piece.block_row(row)).collect()))
            .collect();
        assert_eq!(got, expected);
        assert!(blocks.iter().all(|b| b.rows.len() > 1), "a block of 9,000 links is encoded in pieces");
        let sums: usize = blocks.iter().map(|b| b.sums.len()).sum();
        assert_eq!(sums, if hand_over == HandOver::Blocks { 0 } else { 4 * 9000 });
    }
}
