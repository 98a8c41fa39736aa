use super::*;
use crate::format::{LineCounts, REJECT_RAW_MAX};

fn parse(data: &str, first: bool, file_date: Option<Date>) -> ParsedChunk {
    Its5Min.parse_chunk(data.as_bytes(), &ChunkContext { first_in_entry: first, file_date, ..Default::default() })
}

fn parse_bytes(data: &[u8], first: bool, max_line: usize) -> ParsedChunk {
    Its5Min.parse_chunk(data, &ChunkContext { first_in_entry: first, file_date: None, max_line, gaps: None })
}

fn only_reject(line: &str) -> RejectReason {
    let out = parse(line, false, None);
    assert_eq!(out.rejects.len(), 1, "{line:?} should be rejected: {out:?}");
    assert!(out.samples.is_empty());
    assert_eq!(out.rejects[0].line, 1);
    assert_eq!(out.rejects[0].raw, line.trim_end());
    out.rejects[0].reason
}

const JAN1: i64 = 19_358; // 2023-01-01

#[test]
fn parses_the_literal_rows_of_the_spec() {
    let out = parse(
        "20230101,0000,1000000100,,35,0\n20230101,2345,2510159608,,26,0\n20230101,2345,2510159700,,25.5,0\n20230101,2355,4180384201,,115,0\n",
        true,
        None,
    );
    assert!(out.rejects.is_empty());
    let got: Vec<_> = out.samples.iter().map(|s| (s.link_id, s.local_hour - JAN1 * 24, s.slot, s.speed)).collect();
    assert_eq!(
        got,
        vec![
            (1000000100, 0, 0, 35.0),
            (2510159608, 23, 9, 26.0),
            (2510159700, 23, 9, 25.5),
            (4180384201, 23, 11, 115.0)
        ]
    );
    assert!(out.samples.iter().all(|s| s.travel_time.is_none()));
    assert_eq!(out.counts, LineCounts { lines: 4, rows: 4, missing: 0, rejected: 0, header: 0 });
}

#[test]
fn header_behind_bom_with_crlf_is_skipped() {
    let out = parse(
        "\u{FEFF}CREATDE,CREATHM,LINKID,ROADINSTTCD,PASNGSPED,PASNGTIME\r\n20250301,0005,1000000100,1010000,40.5,37\r\n",
        true,
        None,
    );
    assert_eq!(out.counts, LineCounts { lines: 2, rows: 1, missing: 0, rejected: 0, header: 1 });
    assert_eq!(out.samples[0].slot, 1);
    assert_eq!(out.samples[0].travel_time, Some(37));
    assert_eq!(out.samples[0].speed, 40.5);
}

#[test]
fn header_is_only_looked_for_at_the_start_of_an_entry() {
    let line = "CREATDE,CREATHM,LINKID,ROADINSTTCD,PASNGSPED,PASNGTIME\n";
    assert_eq!(parse(line, false, None).rejects[0].reason, RejectReason::BadDate);
    let twice = format!("{line}{line}");
    let out = parse(&twice, true, None);
    assert_eq!(out.counts.header, 1);
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(out.rejects[0].line, 2);
}

#[test]
fn a_headerless_first_line_is_data() {
    let out = parse("20230101,0000,1000000100,,35,0", true, None);
    assert_eq!(out.counts.header, 0);
    assert_eq!(out.samples.len(), 1);
}

#[test]
fn hhmm_of_one_to_four_digits_is_left_padded() {
    for (time, hour, slot) in [("0", 0, 0), ("5", 0, 1), ("55", 0, 11), ("130", 1, 6), ("0130", 1, 6), ("2355", 23, 11)]
    {
        let out = parse(&format!("20230101,{time},1000000100,,35,0\n"), false, None);
        assert_eq!(out.samples.len(), 1, "{time}");
        assert_eq!((out.samples[0].local_hour - JAN1 * 24, out.samples[0].slot), (hour, slot), "{time}");
    }
}

#[test]
fn empty_speed_is_a_missing_sample_not_a_reject() {
    let out = parse("20230101,0000,1000000100,,,0\n20230101,0000,1000000101,,,\n", false, None);
    assert!(out.samples.is_empty() && out.rejects.is_empty());
    assert_eq!(out.counts.missing, 2);
    assert_eq!(out.counts.rows, 2);
}

#[test]
fn travel_time_zero_or_empty_is_missing() {
    let out = parse("20230101,0000,1,,35,0\n20230101,0000,2,,35,\n20230101,0000,3,,35,120\n", false, None);
    let tt: Vec<_> = out.samples.iter().map(|s| s.travel_time).collect();
    assert_eq!(tt, vec![None, None, Some(120)]);
}

#[test]
fn every_reject_reason() {
    use RejectReason::*;
    let cases = [
        ("20230101,0000,1000000100,,35", FieldCount),
        ("20230101,0000,1000000100,,35,0,", FieldCount),
        ("20230101,0000,1000000100,,35,0,9", FieldCount),
        ("", FieldCount), // never reached: blank lines are skipped (checked below)
        ("20230230,0000,1000000100,,35,0", BadDate),
        ("20231301,0000,1000000100,,35,0", BadDate),
        ("2023011,0000,1000000100,,35,0", BadDate),
        (",0000,1000000100,,35,0", BadDate),
        ("20230101,2400,1000000100,,35,0", BadTime),
        ("20230101,0060,1000000100,,35,0", BadTime),
        ("20230101,0007,1000000100,,35,0", BadTime),
        ("20230101,00000,1000000100,,35,0", BadTime),
        ("20230101,,1000000100,,35,0", BadTime),
        ("20230101,12:00,1000000100,,35,0", BadTime),
        ("20230101,0000,10000A0100,,35,0", BadLinkId),
        ("20230101,0000,LINK,,35,0", BadLinkId),
        ("20230101,0000,,,35,0", BadLinkId),
        ("20230101,0000,-1000000100,,35,0", BadLinkId),
        ("20230101,0000,1234567890123456789,,35,0", BadLinkId),
        ("20230101,0000,1000000100,,abc,0", BadSpeed),
        ("20230101,0000,1000000100,,-5,0", BadSpeed),
        ("20230101,0000,1000000100,,301,0", BadSpeed),
        ("20230101,0000,1000000100,,300.5,0", BadSpeed),
        ("20230101,0000,1000000100,,1e3,0", BadSpeed),
        ("20230101,0000,1000000100,,NaN,0", BadSpeed),
        ("20230101,0000,1000000100,,.5,0", BadSpeed),
        ("20230101,0000,1000000100,,5.,0", BadSpeed),
        ("20230101,0000,1000000100,, 35,0", BadSpeed),
        // Finer than a tenth of km/h: stored as tenths, so refused rather than rounded.
        ("20230101,0000,1000000100,,25.25,0", BadSpeed),
        ("20230101,0000,1000000100,,7.0000001,0", BadSpeed),
        ("20230101,0000,1000000100,,299.99,0", BadSpeed),
        ("20230101,0000,1000000100,,35,x", BadTravelTime),
        ("20230101,0000,1000000100,,35,-3", BadTravelTime),
        ("20230101,0000,1000000100,,35,1.5", BadTravelTime),
    ];
    for (line, reason) in cases.into_iter().filter(|(l, _)| !l.is_empty()) {
        assert_eq!(only_reject(line), reason, "{line}");
    }
    assert_eq!(parse("\n\r\n", false, None).counts, LineCounts { lines: 2, ..Default::default() });
}

#[test]
fn stray_dates_are_rejected_only_when_the_file_has_a_date() {
    let line = "20221231,2355,1000000100,,35,0\n";
    assert_eq!(parse(line, false, None).samples.len(), 1);
    let out = parse(line, false, Date::new(2023, 1, 1));
    assert_eq!(out.rejects[0].reason, RejectReason::StrayDate);
}

#[test]
fn speeds_round_like_postgres_real_input() {
    for text in ["0", "300", "300.0", "25.5", "25.50", "0.1", "99.9", "007.5", "115", "12.300"] {
        let out = parse(&format!("20230101,0000,1,,{text},0"), false, None);
        assert_eq!(out.samples[0].speed, text.parse::<f32>().unwrap(), "{text}");
    }
}

#[test]
fn reject_line_numbers_count_every_physical_line() {
    let out = parse("20230101,0000,1,,35,0\n\nbroken\n20230101,0000,2,,35,0\nworse", false, None);
    let lines: Vec<_> = out.rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 5]);
    assert_eq!(out.counts.lines, 5);
    assert_eq!(out.counts.rows, 4);
}

#[test]
fn raw_lines_are_truncated_on_a_character_boundary() {
    let long = format!("20230101,0000,x,{},35,0", "가".repeat(600));
    let out = parse(&long, false, None);
    assert!(out.rejects[0].raw.len() <= REJECT_RAW_MAX);
    assert!(long.starts_with(&out.rejects[0].raw));
}

#[test]
fn file_dates_come_from_the_name() {
    assert_eq!(Its5Min.file_date("20230701_5Min.csv"), Date::new(2023, 7, 1));
    assert_eq!(Its5Min.file_date("dir/20230701_5Min.zip"), Date::new(2023, 7, 1));
    assert_eq!(Its5Min.file_date("20230701.csv"), Date::new(2023, 7, 1));
    assert_eq!(Its5Min.file_date("202307011_5Min.csv"), None);
    assert_eq!(Its5Min.file_date("speeds.csv"), None);
    assert_eq!(Its5Min.file_date("20231301_5Min.csv"), None);
}

#[test]
fn hour_starts_mark_where_later_hours_begin() {
    let data = "20230101,0055,1,,35,0\nbad\n20230101,0100,1,,35,0\n20230101,0055,2,,35,0\n20230101,0200,1,,,0\n20230101,0200,2,,30,0\n";
    let out = parse(data, false, None);
    let starts: Vec<_> = out
        .hour_starts
        .iter()
        .map(|h| {
            (h.local_hour - JAN1 * 24, h.sample, h.rejects, h.counts.lines, h.counts.rows, h.counts.missing, h.byte)
        })
        .collect();
    // The first line, then line 3 (hour 1), then line 6 (hour 2; line 5 has no speed).
    assert_eq!(starts, vec![(0, 0, 0, 0, 0, 0, 0), (1, 1, 1, 2, 2, 0, 26), (2, 3, 1, 5, 5, 1, 90)]);
    assert_eq!(&data.as_bytes()[90..112], b"20230101,0200,2,,30,0\n");
}

const ENGLISH: &str = "CREATDE,CREATHM,LINKID,ROADINSTTCD,PASNGSPED,PASNGTIME";
const KOREAN: &str = "생성일,생성시분,링크ID,도로관리기관,통행속도,통행시간";
const ROW: &str = "20250301,0005,1000000100,,40.5,37";

fn euc_kr(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::EUC_KR.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

#[test]
fn the_cp949_header_names_are_encoding_rs_euc_kr() {
    let names: Vec<&str> = KOREAN.split(',').collect();
    for (i, name) in names.iter().enumerate() {
        assert_eq!(HEADERS[1][i], name.as_bytes());
        assert_eq!(HEADERS[2][i], euc_kr(name), "{name}");
    }
    assert_eq!(HEADERS[0].join(&b","[..]), ENGLISH.as_bytes());
}

#[test]
fn every_known_header_is_recognised_with_or_without_bom_lf_or_crlf() {
    let headers: Vec<(&str, Vec<u8>)> = vec![
        ("english", ENGLISH.as_bytes().to_vec()),
        ("english, lower case, blanks", b"creatde , CreatHM,\tlinkid ,ROADINSTTCD,PasngSped,  pasngtime".to_vec()),
        ("korean utf-8", KOREAN.as_bytes().to_vec()),
        ("korean utf-8, blanks", " 생성일,생성시분 ,링크id,도로관리기관,통행속도,통행시간\t".as_bytes().to_vec()),
        ("korean cp949", euc_kr(KOREAN)),
    ];
    for (what, header) in &headers {
        for bom in [&b""[..], UTF8_BOM] {
            for eol in ["\n", "\r\n"] {
                let data = [bom, header, eol.as_bytes(), ROW.as_bytes(), eol.as_bytes()].concat();
                let out = parse_bytes(&data, true, usize::MAX);
                let case = format!("{what}, bom {}, {eol:?}", !bom.is_empty());
                assert_eq!(out.counts, LineCounts { lines: 2, rows: 1, missing: 0, rejected: 0, header: 1 }, "{case}");
                assert_eq!(out.samples.len(), 1, "{case}");
                // Only as the first line of an entry: elsewhere it is a (rejected) row.
                let out = parse_bytes(&data, false, usize::MAX);
                assert_eq!((out.counts.header, out.counts.rows, out.rejects.len()), (0, 2, 1), "{case}");
                assert_eq!(out.rejects[0].line, 1, "{case}");
            }
        }
    }
}

#[test]
fn any_other_first_line_is_data_loaded_or_rejected_as_line_1() {
    use RejectReason::*;
    let cp949_short = [euc_kr("생성일,생성시분,링크ID,도로관리기관,통행속도"), b",".to_vec()].concat();
    let cases: Vec<(Vec<u8>, Option<RejectReason>)> = vec![
        (b"20230701,0000,1000000100,,35,0".to_vec(), None),
        (b"\xEF\xBB\xBF20230701,0000,1000000100,,35,0".to_vec(), None),
        (b"2023070X,0000,1000000100,,35,0".to_vec(), Some(BadDate)),
        (b" 20230701,0000,1000000100,,35,0".to_vec(), Some(BadDate)),
        (b"\"20230701\",\"0000\",\"1000000100\",\"\",\"35\",\"0\"".to_vec(), Some(BadDate)),
        (b"date,time,link_id,agency,speed,travel_time".to_vec(), Some(BadDate)),
        (b"CREATDE,CREATHM,LINKID,ROADINSTTCD,PASNGSPED".to_vec(), Some(FieldCount)),
        (b"CREATDE,CREATHM,LINKID,ROADINSTTCD,PASNGSPED,PASNGTIME,".to_vec(), Some(FieldCount)),
        (b"CREATED,CREATHM,LINKID,ROADINSTTCD,PASNGSPED,PASNGTIME".to_vec(), Some(BadDate)),
        (b"\"CREATDE\",\"CREATHM\",\"LINKID\",\"ROADINSTTCD\",\"PASNGSPED\",\"PASNGTIME\"".to_vec(), Some(BadDate)),
        ("생성일,CREATHM,LINKID,ROADINSTTCD,PASNGSPED,PASNGTIME".as_bytes().to_vec(), Some(BadDate)),
        (cp949_short, Some(BadDate)),
        (b"garbage".to_vec(), Some(FieldCount)),
        (b"\xFF\xFE2\x000\x00".to_vec(), Some(FieldCount)),
    ];
    for (line, reason) in cases {
        for eol in ["\n", "\r\n"] {
            let data = [&line[..], eol.as_bytes(), ROW.as_bytes(), eol.as_bytes()].concat();
            let out = parse_bytes(&data, true, usize::MAX);
            let case = String::from_utf8_lossy(&line).into_owned();
            assert_eq!(out.counts.header, 0, "{case}");
            assert_eq!(out.counts.rows, 2, "{case}");
            assert_eq!(out.counts.rejected, u64::from(reason.is_some()), "{case}");
            match reason {
                None => assert_eq!(out.samples.len(), 2, "{case}"),
                Some(reason) => {
                    assert_eq!(out.samples.len(), 1, "{case}");
                    assert_eq!((out.rejects[0].line, out.rejects[0].reason), (1, reason), "{case}");
                    let raw = line.strip_prefix(UTF8_BOM).unwrap_or(&line);
                    assert_eq!(out.rejects[0].raw, String::from_utf8_lossy(raw), "{case}");
                }
            }
        }
    }
}

#[test]
fn a_bom_or_blank_first_line_is_blank_not_a_row() {
    for data in [&b"\xEF\xBB\xBF\n"[..], b"\r\n", b"\n"] {
        let data = [data, ROW.as_bytes()].concat();
        let out = parse_bytes(&data, true, usize::MAX);
        assert_eq!(out.counts, LineCounts { lines: 2, rows: 1, missing: 0, rejected: 0, header: 0 });
    }
}

#[test]
fn a_line_over_max_line_is_rejected_and_the_next_lines_load() {
    let long = format!("20230101,0000,1000000100,,35,0,{}", "0".repeat(2000));
    let data = format!("20230101,0000,1,,35,0\n{long}\r\n\n20230101,0005,2,,36,0\nbad\n");
    let out = parse_bytes(data.as_bytes(), true, 40);
    assert_eq!(out.counts, LineCounts { lines: 5, rows: 4, missing: 0, rejected: 2, header: 0 });
    let rejects: Vec<_> = out.rejects.iter().map(|r| (r.line, r.reason)).collect();
    assert_eq!(rejects, vec![(2, RejectReason::LineTooLong), (5, RejectReason::FieldCount)]);
    // The raw text is that of the first max_line + 1 bytes, as the chunker keeps them.
    assert_eq!(out.rejects[0].raw, long[..41]);
    assert_eq!(out.samples.iter().map(|s| s.link_id).collect::<Vec<_>>(), vec![1, 2]);
    // Without a limit the same line is only too many fields.
    assert_eq!(parse_bytes(data.as_bytes(), true, usize::MAX).rejects[0].reason, RejectReason::FieldCount);
    // Raw text stays within REJECT_RAW_MAX for a large limit.
    let out = parse_bytes(long.as_bytes(), false, 1500);
    assert_eq!(out.rejects[0].raw, long[..REJECT_RAW_MAX]);
}

#[test]
fn the_limit_counts_bytes_before_the_line_feed_cr_included() {
    let row = "20230101,0000,1,,35,0"; // 21 bytes
    for (data, max_line, too_long) in [
        (format!("{row}\n"), 21, false),
        (format!("{row}\r\n"), 21, true),
        (format!("{row}\r\n"), 22, false),
        (row.to_string(), 20, true),
    ] {
        let out = parse_bytes(data.as_bytes(), false, max_line);
        assert_eq!(out.rejects.len(), usize::from(too_long), "{data:?} {max_line}");
        assert_eq!(out.counts.rows, 1);
    }
}

#[test]
fn a_long_first_line_is_never_a_header() {
    let data = format!("{ENGLISH}\n{ROW}\n");
    let out = parse_bytes(data.as_bytes(), true, 40);
    assert_eq!((out.counts.header, out.counts.rows, out.counts.rejected), (0, 2, 1));
    assert_eq!((out.rejects[0].line, out.rejects[0].reason), (1, RejectReason::LineTooLong));
    assert_eq!(out.samples.len(), 1);
}

/// 2023-03-12 as days since 1970-01-01.
const MAR12: i64 = 19_428;

fn parse_with_gaps(data: &str, file_date: Option<Date>, gaps: &LocalGaps) -> ParsedChunk {
    let ctx = ChunkContext { file_date, gaps: Some(std::sync::Arc::new(gaps.clone())), ..Default::default() };
    Its5Min.parse_chunk(data.as_bytes(), &ctx)
}

/// New York's spring-forward gap of 2023-03-12 (02:00..02:55), and a half-hour gap (Lord Howe
/// style, 02:00..02:25) on 2023-03-13, so that two days of one chunk keep their own slots.
fn two_gaps() -> LocalGaps {
    LocalGaps::from_slots((24..36).map(|s| (MAR12, s)).chain((24..30).map(|s| (MAR12 + 1, s))))
}

/// Every slot of two days for two links, one missing speed per day, in time order.
fn two_days() -> String {
    let mut data = String::new();
    for day in ["20230312", "20230313"] {
        for slot in 0..288u32 {
            for link in [1000000001u64, 1000000002] {
                let speed = if slot == 27 && link == 1000000002 || slot == 100 && link == 1000000001 {
                    String::new()
                } else {
                    format!("{}.5", 10 + (slot + link as u32) % 80)
                };
                data.push_str(&format!("{day},{:02}{:02},{link},,{speed},{}\n", slot / 12, slot % 12 * 5, slot % 7));
            }
        }
    }
    data
}

#[test]
fn the_day_of_2023_03_12_is_the_one_the_gap_tests_name() {
    assert_eq!(Date::new(2023, 3, 12).unwrap().days_since_epoch(), MAR12);
}

#[test]
fn rows_at_nonexistent_local_times_are_rejected_and_the_others_unchanged() {
    let data = two_days();
    let gaps = two_gaps();
    let plain = parse(&data, true, None);
    let out = parse_with_gaps(&data, None, &gaps);

    // Computed independently of the parser's check: from each line's text.
    let in_gap = |line: &str| {
        let f: Vec<&str> = line.split(',').collect();
        let hhmm: u32 = f[1].parse().unwrap();
        let minutes = hhmm / 100 * 60 + hhmm % 100;
        match f[0] {
            "20230312" => (120..180).contains(&minutes),
            "20230313" => (120..150).contains(&minutes),
            _ => false,
        }
    };
    let lines: Vec<&str> = data.lines().collect();
    let want_rejects: Vec<(u64, RejectReason, String)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| in_gap(l))
        .map(|(i, l)| (i as u64 + 1, RejectReason::NonexistentTime, l.to_string()))
        .collect();
    let got_rejects: Vec<_> = out.rejects.iter().map(|r| (r.line, r.reason, r.raw.clone())).collect();
    assert_eq!(got_rejects, want_rejects);
    // Two links x (12 slots of the first day + 6 of the second); one missing speed a day in them.
    assert_eq!(want_rejects.len(), 2 * (12 + 6));

    // Every other row parses as without gaps; the missing speeds in the gaps are rejects now.
    let kept: Vec<Sample> = plain
        .samples
        .iter()
        .filter(|s| {
            let day = s.local_hour.div_euclid(24);
            let slot = (s.local_hour.rem_euclid(24) * 12 + i64::from(s.slot)) as usize;
            !gaps.contains(day, slot)
        })
        .copied()
        .collect();
    assert_eq!(out.samples, kept);
    assert_eq!(plain.samples.len() - kept.len(), want_rejects.len() - 2);
    assert_eq!(
        out.counts,
        LineCounts { rejected: want_rejects.len() as u64, missing: plain.counts.missing - 2, ..plain.counts }
    );
    // Hour starts follow the samples that are kept: 2023-03-12 has no hour 2.
    let hours: Vec<i64> = out.hour_starts.iter().map(|h| h.local_hour - MAR12 * 24).collect();
    assert_eq!(hours, (0..48).filter(|&h| h != 2).collect::<Vec<_>>());
}

#[test]
fn no_gaps_or_an_empty_set_change_nothing() {
    let data = two_days();
    let plain = parse(&data, true, None);
    for out in [
        parse_with_gaps(&data, None, &LocalGaps::default()),
        // Gaps of other days.
        parse_with_gaps(&data, None, &LocalGaps::from_slots((0..288).map(|s| (MAR12 + 2, s)))),
    ] {
        assert_eq!(out.samples, plain.samples);
        assert_eq!(out.rejects, plain.rejects);
        assert_eq!(out.counts, plain.counts);
        assert_eq!(out.hour_starts, plain.hour_starts);
    }
}

#[test]
fn nonexistent_time_is_checked_after_the_other_reasons() {
    use RejectReason::*;
    let gaps = two_gaps();
    let mar12 = Date::new(2023, 3, 12);
    for (line, file_date, reason) in [
        ("20230312,0230,1000000100,,35,0", None, Some(NonexistentTime)),
        ("20230312,230,1000000100,,35,0", mar12, Some(NonexistentTime)),
        ("20230312,0255,1000000100,,,", mar12, Some(NonexistentTime)),
        ("20230312,0155,1000000100,,35,0", mar12, None),
        ("20230312,0300,1000000100,,35,0", mar12, None),
        ("20230313,0230,1000000100,,35,0", None, None),
        ("20230313,0225,1000000100,,35,0", None, Some(NonexistentTime)),
        // A row of another day is stray first, even at one of that day's nonexistent times.
        ("20230312,0230,1000000100,,35,0", Date::new(2023, 3, 13), Some(StrayDate)),
        ("20230312,0230,1000000100,,abc,0", mar12, Some(BadSpeed)),
        ("20230312,0230,1000000100,,35,x", mar12, Some(BadTravelTime)),
        ("20230312,0230,x,,35,0", mar12, Some(BadLinkId)),
        ("20230312,0231,1000000100,,35,0", mar12, Some(BadTime)),
        ("20230312,0230,1000000100,,35", mar12, Some(FieldCount)),
    ] {
        let out = parse_with_gaps(line, file_date, &gaps);
        assert_eq!(out.rejects.first().map(|r| r.reason), reason, "{line} {file_date:?}");
        assert_eq!(out.counts.rows, 1);
    }
}

#[test]
fn every_reject_reason_has_a_unique_name_listed_in_the_readme() {
    let readme = include_str!("../../../../README.md");
    let mut names: Vec<&str> = RejectReason::ALL.iter().map(|r| r.name()).collect();
    for name in &names {
        assert!(readme.contains(&format!("| `{name}` |")), "README's reject table lacks {name}");
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), RejectReason::ALL.len());
}

mod one_pass {
    use super::*;
    use proptest::prelude::*;

    /// A line of the usual shape, or one bent at one place (a field, a length, a byte, the end).
    fn line() -> impl Strategy<Value = String> {
        let date = prop_oneof![
            4 => Just("20230101".to_string()),
            1 => Just("20230102".to_string()),
            1 => "[0-9]{8}",
            1 => "[0-9x]{6,9}",
        ];
        let time = prop_oneof![
            6 => (0u32..24, 0u32..12).prop_map(|(h, m)| format!("{h:02}{:02}", m * 5)),
            1 => "[0-9]{1,5}",
            1 => (20u32..30, 55u32..65).prop_map(|(h, m)| format!("{h:02}{m:02}")),
        ];
        let link = prop_oneof![6 => "[1-9][0-9]{9}", 1 => "[0-9]{0,20}", 1 => "[0-9a ]{1,4}"];
        let agency = prop_oneof![4 => "[0-9A-Z]{0,4}", 1 => "[ -~]{0,20}", 1 => Just("a\rb".to_string())];
        let speed = prop_oneof![
            4 => (0u32..3100).prop_map(|t| if t % 3 == 0 { format!("{}.{}", t / 10, t % 10) } else { (t / 10).to_string() }),
            1 => Just(String::new()),
            1 => "[0-9.]{0,7}",
            1 => "0{0,3}[0-9]{1,3}\\.[0-9]{0,3}",
        ];
        let travel_time = prop_oneof![4 => "[0-9]{0,5}", 1 => "[0-9]{8,11}", 1 => "[0-9 x]{0,3}"];
        let end = prop_oneof![6 => Just("\n"), 2 => Just("\r\n"), 1 => Just(",\n"), 1 => Just("\r\r\n"), 1 => Just("")];
        (date, time, link, agency, speed, travel_time, end)
            .prop_map(|(d, t, l, a, s, tt, e)| format!("{d},{t},{l},{a},{s},{tt}{e}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        /// Whatever the one-pass parse accepts, the full parse gives the same: the chunk's
        /// samples, rejects, counts and hour starts are the same both ways.
        #[test]
        fn the_one_pass_parse_agrees_with_the_full_one(
            lines in proptest::collection::vec(line(), 1..40),
            first in any::<bool>(),
            file_date in prop_oneof![Just(None), Just(Some(Date::from_days_since_epoch(JAN1)))],
            max_line in prop_oneof![Just(usize::MAX), Just(64usize), Just(40usize)],
        ) {
            let data: String = lines.concat();
            let ctx = ChunkContext { first_in_entry: first, file_date, max_line, gaps: None };
            let fast = parse_chunk(data.as_bytes(), &ctx, true);
            let full = parse_chunk(data.as_bytes(), &ctx, false);
            prop_assert_eq!(&fast.samples, &full.samples);
            prop_assert_eq!(&fast.rejects, &full.rejects);
            prop_assert_eq!(fast.counts, full.counts);
            prop_assert_eq!(&fast.hour_starts, &full.hour_starts);
        }
    }

    #[test]
    fn the_usual_lines_take_the_one_pass_parse() {
        let mut dates = DateCache::new(None);
        for line in ["20230101,0005,1000000001,1,35.5,12\n", "20230101,2355,7,ROAD,0,\r\n", "20230101,1200,123,,,0\n"] {
            let (_, len) = fast_row(line.as_bytes(), &mut dates, Some(JAN1)).unwrap_or_else(|| panic!("{line:?}"));
            assert_eq!(len, line.len());
        }
        for line in ["20230101,5,1,1,35,12\n", "20230101,0005,1,1,35.50,12\n", "20230101,0005,1,1,35,12,\n"] {
            assert!(fast_row(line.as_bytes(), &mut dates, None).is_none(), "{line:?}");
        }
    }
}
