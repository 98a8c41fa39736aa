//! Named line formats. A format turns the lines of one chunk into samples and rejects; it is pure
//! and runs on any thread. Column positions live in a format, not in the pipeline, so feeds with
//! other layouts (expressway VDS, Seoul TOPIS) can be added beside `its_5min`.

#[cfg(any(test, feature = "fault-injection"))]
pub mod fault;
pub mod its_5min;

use std::sync::Arc;

use crate::calendar::{Date, LocalGaps};

/// One 5-minute measurement of one link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub link_id: i64,
    /// Hours since 1970-01-01 00:00 in the file's local time.
    pub local_hour: i64,
    /// 5-minute slot within the hour, 0..12.
    pub slot: u8,
    pub speed: f32,
    /// `None` where the file says 0 or nothing.
    pub travel_time: Option<i32>,
}

/// Why a line was not loaded. The names are stored in `vs_ingest.reject.reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    FieldCount,
    BadDate,
    BadTime,
    BadLinkId,
    BadSpeed,
    BadTravelTime,
    /// A valid row dated another day than the file's name says.
    StrayDate,
    /// More than the load's `max_line` bytes before its line feed.
    LineTooLong,
    /// A valid row at a local time that does not exist in the source's time zone (the hour
    /// skipped when clocks go forward): checked after [`RejectReason::StrayDate`].
    NonexistentTime,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::FieldCount,
        RejectReason::BadDate,
        RejectReason::BadTime,
        RejectReason::BadLinkId,
        RejectReason::BadSpeed,
        RejectReason::BadTravelTime,
        RejectReason::StrayDate,
        RejectReason::LineTooLong,
        RejectReason::NonexistentTime,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RejectReason::FieldCount => "field_count",
            RejectReason::BadDate => "bad_date",
            RejectReason::BadTime => "bad_time",
            RejectReason::BadLinkId => "bad_link_id",
            RejectReason::BadSpeed => "bad_speed",
            RejectReason::BadTravelTime => "bad_travel_time",
            RejectReason::StrayDate => "stray_date",
            RejectReason::LineTooLong => "line_too_long",
            RejectReason::NonexistentTime => "nonexistent_time",
        }
    }
}

/// Longest raw line kept with a reject, in bytes.
pub const REJECT_RAW_MAX: usize = 1000;

/// The raw text kept with a reject: lossy UTF-8, truncated to [`REJECT_RAW_MAX`] bytes, on a
/// character boundary where the line is valid UTF-8.
pub fn raw_text(line: &[u8]) -> String {
    let mut end = line.len().min(REJECT_RAW_MAX);
    while end < line.len() && end > 0 && (line[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    String::from_utf8_lossy(&line[..end]).into_owned()
}

#[derive(Clone, Debug, PartialEq)]
pub struct Reject {
    /// 1-based line number within the entry (the header, if any, is line 1).
    pub line: u64,
    pub reason: RejectReason,
    /// The line as read (lossy UTF-8, without its line end, truncated to [`REJECT_RAW_MAX`]).
    pub raw: String,
}

/// Line counters of one chunk (or summed over many).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineCounts {
    /// Physical lines, header and blank lines included.
    pub lines: u64,
    /// Data rows: lines that are neither the header nor blank.
    pub rows: u64,
    /// Valid rows with an empty speed: a missing measurement, counted but not loaded.
    pub missing: u64,
    pub rejected: u64,
    pub header: u64,
}

impl std::ops::Sub for LineCounts {
    type Output = LineCounts;
    fn sub(self, o: LineCounts) -> LineCounts {
        LineCounts {
            lines: self.lines - o.lines,
            rows: self.rows - o.rows,
            missing: self.missing - o.missing,
            rejected: self.rejected - o.rejected,
            header: self.header - o.header,
        }
    }
}

impl std::ops::AddAssign for LineCounts {
    fn add_assign(&mut self, o: LineCounts) {
        self.lines += o.lines;
        self.rows += o.rows;
        self.missing += o.missing;
        self.rejected += o.rejected;
        self.header += o.header;
    }
}

/// A line of a chunk whose sample is of a later hour than every sample before it in the chunk.
/// Files come in time order, so these are where a load can commit at an hour boundary: all that
/// precedes the line is described by `counts`, the first `sample` samples and `rejects` rejects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HourStart {
    pub local_hour: i64,
    /// Index in `samples` of the line's sample.
    pub sample: usize,
    /// Number of rejects before the line.
    pub rejects: usize,
    /// Counts of the lines before it (`counts.lines` lines precede it).
    pub counts: LineCounts,
    /// Byte offset of the line within the chunk.
    pub byte: usize,
}

/// What a format makes of one chunk. Reject line numbers are relative to the chunk (1-based);
/// the pipeline adds the chunk's first line number.
#[derive(Debug, Default)]
pub struct ParsedChunk {
    pub samples: Vec<Sample>,
    pub rejects: Vec<Reject>,
    pub counts: LineCounts,
    pub hour_starts: Vec<HourStart>,
}

impl ParsedChunk {
    /// Adds the sample of the line starting at `byte`, the `line`-th of the chunk, whose row is
    /// already counted in `self.counts`.
    pub fn push_sample(&mut self, sample: Sample, line: u64, byte: usize) {
        if self.hour_starts.last().is_none_or(|h| sample.local_hour > h.local_hour) {
            let mut counts = self.counts;
            counts.rows -= 1;
            counts.lines = line - 1;
            self.hour_starts.push(HourStart {
                local_hour: sample.local_hour,
                sample: self.samples.len(),
                rejects: self.rejects.len(),
                counts,
                byte,
            });
        }
        self.samples.push(sample);
    }
}

/// Facts about the entry a chunk comes from.
#[derive(Clone, Debug)]
pub struct ChunkContext {
    /// The chunk starts its entry, so its first line may be a header (behind a UTF-8 BOM).
    pub first_in_entry: bool,
    /// The date the file's name carries; rows of other dates are rejected as stray.
    pub file_date: Option<Date>,
    /// A line with more bytes than this before its line feed (a CR counts) is rejected as
    /// [`RejectReason::LineTooLong`], with [`line_too_long_raw`] as its raw text. The chunker
    /// passes such a line as a chunk of its own holding only the line's first `max_line + 1`
    /// bytes (see [`crate::chunk`]); a format must reject it the same way as a long line it sees
    /// whole, so that results never depend on where the chunks were cut.
    pub max_line: usize,
    /// The local times that do not exist in the source's time zone; a row at one of them is
    /// rejected as [`RejectReason::NonexistentTime`]. `None` (or an empty set): every local
    /// time exists.
    pub gaps: Option<Arc<LocalGaps>>,
}

impl Default for ChunkContext {
    /// Not the first chunk, no file date, no line length limit, no nonexistent local time.
    fn default() -> ChunkContext {
        ChunkContext { first_in_entry: false, file_date: None, max_line: usize::MAX, gaps: None }
    }
}

/// The raw text of a line longer than `max_line`: that of its first `max_line + 1` bytes, all
/// that the chunker keeps of it, so a long line has the same raw text however it was chunked.
pub fn line_too_long_raw(line: &[u8], max_line: usize) -> String {
    raw_text(&line[..line.len().min(max_line.saturating_add(1))])
}

pub trait Format: Sync + Send {
    fn name(&self) -> &'static str;
    fn parse_chunk(&self, data: &[u8], ctx: &ChunkContext) -> ParsedChunk;
    /// The date a file of this format is about, from its (entry) name.
    fn file_date(&self, name: &str) -> Option<Date>;
}

pub fn lookup(name: &str) -> Option<&'static dyn Format> {
    match name {
        "its_5min" => Some(&its_5min::Its5Min),
        #[cfg(any(test, feature = "fault-injection"))]
        fault::PANIC_IN_PARSER => Some(&fault::PanicInParser),
        _ => None,
    }
}

pub const NAMES: &[&str] = &["its_5min"];
