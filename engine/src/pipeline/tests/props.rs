//! Property-based fuzzing of the chunker and the `its_5min` parser: random and mutated ITS
//! streams must never panic, must account for every line, and must give the same result however
//! they are cut into chunks, and when a load resumes at a chunk's end, as when the stream is
//! parsed in one chunk.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;
use crate::calendar::Date;
use crate::chunk::Chunker;
use crate::format::its_5min::Its5Min;
use crate::format::{Reject, Sample};

/// Samples, rejects (line numbers within the entry) and counters of a stream or part of one.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    samples: Vec<Sample>,
    rejects: Vec<Reject>,
    counts: LineCounts,
}

impl Parsed {
    /// Adds a chunk whose first line is line `line + 1` of the entry.
    fn add(&mut self, chunk: ParsedChunk, line: u64) {
        self.samples.extend(chunk.samples);
        self.rejects.extend(chunk.rejects.into_iter().map(|r| Reject { line: r.line + line, ..r }));
        self.counts += chunk.counts;
    }
}

fn context(first: bool, file_date: Option<Date>, max_line: usize) -> ChunkContext {
    ChunkContext { first_in_entry: first, file_date, max_line, gaps: None }
}

/// One chunk's range and what it parsed to.
struct Piece {
    offset: u64,
    end: u64,
    parsed: ParsedChunk,
}

/// Cuts `input` with the chunker (after skipping `start` bytes, `line` lines) and parses each
/// chunk; checks the chunks' ranges tile the rest of the stream and hold its bytes.
fn chunked(input: &[u8], chunk_size: usize, max_line: usize, file_date: Option<Date>, start: u64) -> Vec<Piece> {
    let mut reader = input;
    let mut chunker = Chunker::new(&mut reader, "t", chunk_size, max_line);
    chunker.skip(start).unwrap();
    let mut pieces = Vec::new();
    let mut offset = start;
    while let Some(chunk) = chunker.next_chunk().unwrap() {
        assert_eq!((chunk.offset, chunk.first), (offset, offset == 0));
        assert!(chunk.end > chunk.offset);
        let range = &input[chunk.offset as usize..chunk.end as usize];
        if chunk.data.len() as u64 == chunk.len() {
            assert_eq!(&chunk.data[..], range);
        } else {
            // A line too long to keep: its first max_line + 1 bytes, and the range is the line.
            assert_eq!(chunk.data.len(), max_line + 1);
            assert_eq!(&chunk.data[..], &range[..max_line + 1]);
            assert!(!range[..range.len() - 1].contains(&b'\n'));
        }
        assert!(chunk.end == input.len() as u64 || input[chunk.end as usize - 1] == b'\n');
        let parsed = Its5Min.parse_chunk(&chunk.data, &context(chunk.first, file_date, chunker.max_line()));
        pieces.push(Piece { offset: chunk.offset, end: chunk.end, parsed });
        offset = chunk.end;
    }
    assert_eq!(offset, input.len() as u64);
    pieces
}

fn sum(pieces: Vec<Piece>, mut line: u64) -> Parsed {
    let mut out = Parsed::default();
    for piece in pieces {
        let lines = piece.parsed.counts.lines;
        out.add(piece.parsed, line);
        line += lines;
    }
    out
}

fn row() -> impl Strategy<Value = Vec<u8>> {
    let speed = prop_oneof![
        Just(String::new()),
        (0u32..=3010).prop_map(|v| format!("{}.{}", v / 10, v % 10)),
        (0u32..=305).prop_map(|v| v.to_string()),
    ];
    let travel_time = prop_oneof![Just(String::new()), Just("0".to_string()), (1u32..5000).prop_map(|v| v.to_string())];
    (
        prop::sample::select(vec!["20230101", "20230102", "20221231", "20230229"]),
        0u32..24,
        0u32..12,
        any::<bool>(),
        1u64..=9_999_999_999,
        prop::sample::select(vec!["", "1010000"]),
        speed,
        travel_time,
    )
        .prop_map(|(date, hour, slot, padded, link, agency, speed, travel_time)| {
            let time = if padded { format!("{hour:02}{:02}", slot * 5) } else { (hour * 100 + slot * 5).to_string() };
            format!("{date},{time},{link},{agency},{speed},{travel_time}").into_bytes()
        })
}

fn header() -> impl Strategy<Value = Vec<u8>> {
    let english = b"CREATDE,CREATHM,LINKID,ROADINSTTCD,PASNGSPED,PASNGTIME".to_vec();
    let korean = "생성일,생성시분,링크ID,도로관리기관,통행속도,통행시간";
    let (cp949, _, _) = encoding_rs::EUC_KR.encode(korean);
    prop_oneof![
        Just(english.clone()),
        Just(english.to_ascii_lowercase()),
        Just(b" creatde , CreatHM,\tlinkid,ROADINSTTCD,PasngSped,PASNGTIME ".to_vec()),
        Just(korean.as_bytes().to_vec()),
        Just(cp949.into_owned()),
    ]
}

/// A line without its line end (it may hold line feeds of its own: garbage is garbage).
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        12 => row(),
        2 => Just(Vec::new()),
        1 => header(),
        1 => prop::collection::vec(any::<u8>(), 0..40),
        2 => (row(), 1usize..700).prop_map(|(row, n)| [row, vec![b','], vec![b'9'; n]].concat()),
    ]
}

const INTERESTING: &[u8] = b",\r\n\n \"05A\x00\xFF\xEF\xBB\xBF\xB0\xC5";

#[derive(Clone, Debug)]
enum Mutation {
    Insert(Index, u8),
    Delete(Index),
    Replace(Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![3 => prop::sample::select(INTERESTING), 1 => any::<u8>()];
    prop_oneof![
        (any::<Index>(), byte.clone()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), byte).prop_map(|(i, b)| Mutation::Replace(i, b)),
    ]
}

/// A stream: an optional BOM, an optional header, lines with LF or CRLF, an optional last line
/// end, then mutations.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        prop::option::of((header(), any::<bool>())),
        prop::collection::vec((line(), any::<bool>()), 0..40),
        any::<bool>(),
        prop::collection::vec(mutation(), 0..6),
    )
        .prop_map(|(bom, header, mut lines, last_eol, mutations)| {
            lines.splice(0..0, header);
            let mut out = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
            let n = lines.len();
            for (i, (line, crlf)) in lines.into_iter().enumerate() {
                out.extend_from_slice(&line);
                if i + 1 < n || last_eol {
                    out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                }
            }
            for m in mutations {
                match m {
                    Mutation::Insert(i, b) => {
                        let at = i.index(out.len() + 1);
                        out.insert(at, b);
                    }
                    Mutation::Delete(i) if !out.is_empty() => {
                        out.remove(i.index(out.len()));
                    }
                    Mutation::Replace(i, b) if !out.is_empty() => {
                        let at = i.index(out.len());
                        out[at] = b;
                    }
                    _ => {}
                }
            }
            out
        })
}

fn max_line() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 1usize..8, 2 => 8usize..80, 3 => 80usize..1500, 2 => Just(1 << 20)]
}

/// Physical lines of a stream and how many of them are blank (nothing but a CR, and on line 1 a
/// BOM), counted without the parser.
fn lines_and_blanks(input: &[u8], max_line: usize) -> (u64, u64) {
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if input.is_empty() || input.ends_with(b"\n") {
        lines.pop();
    }
    let blank = lines
        .iter()
        .enumerate()
        .filter(|&(i, &line)| {
            let text = if i == 0 { line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line) } else { line };
            line.len() <= max_line && (text.is_empty() || text == b"\r")
        })
        .count();
    (lines.len() as u64, blank as u64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn any_chunking_parses_like_one_chunk(
        input in stream(),
        max_line in max_line(),
        chunk_sizes in prop::collection::vec(1usize..400, 1..4),
        dated in any::<bool>(),
        resume_at in any::<Index>(),
    ) {
        let file_date = if dated { Date::new(2023, 1, 1) } else { None };

        let mut whole = Parsed::default();
        whole.add(Its5Min.parse_chunk(&input, &context(true, file_date, max_line)), 0);

        // Every line is counted: as the header, as blank, or as a row that is loaded, missing
        // or rejected.
        let c = whole.counts;
        let (lines, blank) = lines_and_blanks(&input, max_line);
        prop_assert_eq!(c.lines, lines);
        prop_assert!(c.header <= 1);
        prop_assert_eq!(c.rows + c.header + blank, c.lines);
        prop_assert_eq!(c.rows, whole.samples.len() as u64 + c.missing + c.rejected);
        prop_assert_eq!(c.rejected, whole.rejects.len() as u64);
        if c.header == 1 {
            // A header the format knows has no digit: no data row is taken for one.
            let first = input.split(|&b| b == b'\n').next().unwrap();
            prop_assert!(!first.iter().any(u8::is_ascii_digit));
        }
        for r in &whole.rejects {
            prop_assert!(r.line >= 1 && r.line <= c.lines);
            prop_assert!(r.raw.chars().count() <= REJECT_RAW_MAX);
        }

        for &chunk_size in &chunk_sizes {
            let pieces = chunked(&input, chunk_size, max_line, file_date, 0);
            // Resuming at the end of any chunk, as a checkpoint does, gives the rest.
            let ends: Vec<(u64, u64)> = pieces
                .iter()
                .scan(0u64, |line, p| {
                    *line += p.parsed.counts.lines;
                    Some((p.end, *line))
                })
                .collect();
            let first_offsets: Vec<u64> = pieces.iter().map(|p| p.offset).collect();
            let split = resume_at.index(pieces.len() + 1);
            let (offset, line) = if split == 0 { (0, 0) } else { ends[split - 1] };
            let resumed = sum(chunked(&input, chunk_size, max_line, file_date, offset), line);
            let mut pieces = pieces;
            let tail = sum(pieces.split_off(split), line);
            prop_assert_eq!(&resumed, &tail, "resumed at {} (chunk {})", offset, chunk_size);

            let all = sum(pieces, 0);
            let mut all_then_tail = all;
            all_then_tail.samples.extend(tail.samples);
            all_then_tail.rejects.extend(tail.rejects);
            all_then_tail.counts += tail.counts;
            prop_assert_eq!(&all_then_tail, &whole, "chunk {} at {:?}", chunk_size, first_offsets);
        }
    }
}

proptest! {
    // Each case runs three loads through the engine's threads: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_chunk_size_loads_like_one_chunk(
        input in stream(),
        max_line in max_line(),
        chunk_sizes in prop::collection::vec(1usize..400, 2),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("20230101_5Min.csv");
        std::fs::write(&path, &input).unwrap();
        let mut options = Options::new(lookup("its_5min").unwrap());
        options.max_line = max_line;
        options.chunk_size = input.len() + 1;
        let (ref_hours, ref_rejects, ref_counts, _) = run(path.clone(), options.clone(), 1).unwrap();

        let whole = Its5Min.parse_chunk(&input, &context(true, Date::new(2023, 1, 1), max_line));
        let rejects: Vec<Reject> = ref_rejects.iter().map(|r| r.reject.clone()).collect();
        prop_assert_eq!(&rejects, &whole.rejects);
        prop_assert_eq!(ref_counts.lines, whole.counts);
        prop_assert_eq!(ref_counts.bytes, input.len() as u64);

        for chunk_size in chunk_sizes {
            options.chunk_size = chunk_size;
            let (hours, rejects, counts, _) = run(path.clone(), options.clone(), 2).unwrap();
            prop_assert_eq!(table(&hours), table(&ref_hours));
            prop_assert_eq!(&rejects, &ref_rejects);
            prop_assert_eq!((counts.lines, counts.bytes), (ref_counts.lines, ref_counts.bytes));
            prop_assert_eq!(counts.loaded + counts.duplicate, ref_counts.loaded + ref_counts.duplicate);
        }
    }
}
