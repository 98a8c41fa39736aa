//! `its_5min`: the national ITS "5분 소통정보" daily file.
//!
//! `date,time,link_id,agency,speed,travel_time`, comma separated, no quoting. Accepted quirks: a
//! header line; LF or CRLF; HHMM of 1-4 digits (left-padded); an empty speed (a missing sample);
//! travel time 0 (missing). Checks run in a fixed order and the first failing one names the reject.
//!
//! The header is the first line of an entry, behind an optional UTF-8 BOM, when it is one the
//! format knows: the six column names in English (`CREATDE,CREATHM,LINKID,ROADINSTTCD,PASNGSPED,
//! PASNGTIME`) or in Korean (`생성일,생성시분,링크ID,도로관리기관,통행속도,통행시간`, in UTF-8 or
//! in CP949/EUC-KR). Names compare ASCII case-insensitively, with spaces and tabs around them
//! ignored. Any other first line is data, loaded or rejected as line 1 like every other line, so
//! no line vanishes uncounted.
//!
//! A line with more than [`ChunkContext::max_line`] bytes before its line feed is rejected as
//! `line_too_long` before any other check (so even a long first line is never a header).
//!
//! A valid row at a local time that does not exist in the source's time zone
//! ([`ChunkContext::gaps`], the slots skipped when clocks go forward) is rejected as
//! `nonexistent_time`, after every other check.

use super::{line_too_long_raw, raw_text, ChunkContext, Format, ParsedChunk, Reject, RejectReason, Sample};
use crate::calendar::{slot_in, Date, DaySlots, LocalGaps};

pub struct Its5Min;

const FIELDS: usize = 6;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// The highest speed accepted, in tenths of km/h.
const MAX_SPEED_TENTHS: u64 = 3000;

impl Format for Its5Min {
    fn name(&self) -> &'static str {
        "its_5min"
    }

    fn file_date(&self, name: &str) -> Option<Date> {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        Date::parse_yyyymmdd(base.as_bytes().get(..8)?)
            .filter(|_| base.as_bytes().get(8).is_none_or(|b| !b.is_ascii_digit()))
    }

    fn parse_chunk(&self, data: &[u8], ctx: &ChunkContext) -> ParsedChunk {
        parse_chunk(data, ctx, true)
    }
}

/// Parses a chunk's lines; `fast`: the usual line is parsed in one pass by [`fast_row`] (tests
/// compare both ways on the same chunks).
fn parse_chunk(data: &[u8], ctx: &ChunkContext, fast: bool) -> ParsedChunk {
    let mut out = ParsedChunk { samples: Vec::with_capacity(data.len() / 28), ..Default::default() };
    let mut dates = DateCache::new(ctx.gaps.as_deref());
    let file_day = ctx.file_date.map(|d| d.days_since_epoch());
    // The one-pass parse leaves nonexistent local times and line limits under its longest
    // line to the full one.
    let fast = fast && dates.gaps.is_none() && ctx.max_line >= FAST_LINE_MAX;
    let mut line_no = 0u64;
    let mut start = 0usize;
    while start < data.len() {
        if fast && (line_no > 0 || !ctx.first_in_entry) {
            if let Some((sample, next)) = fast_row(&data[start..], &mut dates, file_day) {
                line_no += 1;
                out.counts.rows += 1;
                match sample {
                    Some(sample) => out.push_sample(sample, line_no, start),
                    None => out.counts.missing += 1,
                }
                start += next;
                continue;
            }
        }
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
        let line_start = start;
        let mut line = &data[start..end];
        start = end + 1;
        line_no += 1;
        if line.len() > ctx.max_line {
            out.counts.rows += 1;
            out.counts.rejected += 1;
            let raw = line_too_long_raw(line, ctx.max_line);
            out.rejects.push(Reject { line: line_no, reason: RejectReason::LineTooLong, raw });
            continue;
        }
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line_no == 1 && ctx.first_in_entry {
            line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
            if is_header(line) {
                out.counts.header += 1;
                continue;
            }
        }
        if line.is_empty() {
            continue;
        }
        out.counts.rows += 1;
        match parse_row(line, &mut dates, file_day) {
            Ok(Some(sample)) => out.push_sample(sample, line_no, line_start),
            Ok(None) => out.counts.missing += 1,
            Err(reason) => {
                out.counts.rejected += 1;
                out.rejects.push(Reject { line: line_no, reason, raw: raw_text(line) });
            }
        }
    }
    out.counts.lines = line_no;
    out
}

/// The longest line [`fast_row`] takes (bytes before the line feed): 8 + 4 + 18 + 9 digits, a
/// speed of 6 bytes, an agency of up to 16, 5 commas and a CR. Longer lines take the full path.
const FAST_LINE_MAX: usize = 64;

/// The usual line, parsed in one pass: `YYYYMMDD,HHMM,<1-18 digits>,<agency>,<speed>,<0-9 digits>`
/// then LF or CRLF, at the start of `data`, with a valid date (the file's day, if it has one), a
/// valid time and a speed the full parse accepts (empty, or up to 4 digits with at most one
/// decimal digit). Returns the sample (`None` for an empty speed) and the length of the line with
/// its line feed; `None` for anything else, which the full parse (`parse_row`) then takes with
/// every check in its order. Whatever it accepts, `parse_row` gives the same result for (tested
/// on random lines); it only saves the separate passes for the line feed, the commas and each
/// field's digits, most of the engine's parsing time.
#[inline]
fn fast_row(data: &[u8], dates: &mut DateCache, file_day: Option<i64>) -> Option<(Option<Sample>, usize)> {
    let head = data.get(..14)?;
    if head[8] != b',' || head[13] != b',' {
        return None;
    }
    let day = dates.days(&head[..8])?;
    if file_day.is_some_and(|d| d != day) {
        return None;
    }
    let digit = |b: u8| b.wrapping_sub(b'0');
    let t = [digit(head[9]), digit(head[10]), digit(head[11]), digit(head[12])];
    if t.iter().any(|&d| d > 9) {
        return None;
    }
    let (hour, minute) = (t[0] * 10 + t[1], t[2] * 10 + t[3]);
    if hour >= 24 || minute >= 60 || minute % 5 != 0 {
        return None;
    }
    let mut at = 14;
    // The link: 1 to 18 digits.
    let mut link_id = 0i64;
    let link_start = at;
    loop {
        let b = *data.get(at)?;
        if b == b',' {
            break;
        }
        let d = digit(b);
        if d > 9 || at - link_start == 18 {
            return None;
        }
        link_id = link_id * 10 + i64::from(d);
        at += 1;
    }
    if at == link_start {
        return None;
    }
    at += 1;
    // The agency: anything but a comma or a line end.
    let agency_start = at;
    loop {
        match *data.get(at)? {
            b',' => break,
            b'\n' | b'\r' => return None,
            _ if at - agency_start == 16 => return None,
            _ => at += 1,
        }
    }
    at += 1;
    // The speed: empty, or up to 4 digits with at most one decimal digit (longer forms: the full
    // path).
    let speed_start = at;
    let mut tenths = 0u32;
    let mut int_digits = 0;
    loop {
        let d = digit(*data.get(at)?);
        if d > 9 || int_digits == 4 {
            break;
        }
        tenths = tenths * 10 + u32::from(d);
        int_digits += 1;
        at += 1;
    }
    tenths *= 10;
    if data.get(at) == Some(&b'.') {
        let d = digit(*data.get(at + 1)?);
        if int_digits == 0 || d > 9 {
            return None;
        }
        tenths += u32::from(d);
        at += 2;
    }
    if *data.get(at)? != b',' {
        return None;
    }
    let speed = match at - speed_start {
        0 => None,
        _ if tenths <= MAX_SPEED_TENTHS as u32 => Some(tenths as f32 / 10.0),
        _ => return None,
    };
    at += 1;
    // The travel time: 0 to 9 digits, then the line's end.
    let mut travel_time = 0i32;
    let tt_start = at;
    loop {
        let d = digit(*data.get(at)?);
        if d > 9 {
            break;
        }
        if at - tt_start == 9 {
            return None;
        }
        travel_time = travel_time * 10 + i32::from(d);
        at += 1;
    }
    let end = match (data[at], data.get(at + 1)) {
        (b'\n', _) => at + 1,
        (b'\r', Some(b'\n')) => at + 2,
        _ => return None,
    };
    if end - 1 > FAST_LINE_MAX {
        return None;
    }
    let sample = speed.map(|speed| Sample {
        link_id,
        local_hour: day * 24 + i64::from(hour),
        slot: minute / 5,
        speed,
        travel_time: (at > tt_start && travel_time != 0).then_some(travel_time),
    });
    Some((sample, end))
}

/// The header rows the format knows (see the module doc).
const HEADERS: [[&[u8]; FIELDS]; 3] = [
    [b"CREATDE", b"CREATHM", b"LINKID", b"ROADINSTTCD", b"PASNGSPED", b"PASNGTIME"],
    // 생성일,생성시분,링크ID,도로관리기관,통행속도,통행시간 in UTF-8 ...
    [
        "생성일".as_bytes(),
        "생성시분".as_bytes(),
        "링크ID".as_bytes(),
        "도로관리기관".as_bytes(),
        "통행속도".as_bytes(),
        "통행시간".as_bytes(),
    ],
    // ... and in CP949/EUC-KR (the two agree on these names).
    [
        b"\xBB\xFD\xBC\xBA\xC0\xCF",
        b"\xBB\xFD\xBC\xBA\xBD\xC3\xBA\xD0",
        b"\xB8\xB5\xC5\xA9ID",
        b"\xB5\xB5\xB7\xCE\xB0\xFC\xB8\xAE\xB1\xE2\xB0\xFC",
        b"\xC5\xEB\xC7\xE0\xBC\xD3\xB5\xB5",
        b"\xC5\xEB\xC7\xE0\xBD\xC3\xB0\xA3",
    ],
];

/// Whether a first line (without BOM and line end) is a header the format knows: exactly six
/// fields, each one name of the same header row, ASCII case-insensitively, spaces and tabs
/// around a field ignored.
fn is_header(line: &[u8]) -> bool {
    HEADERS.iter().any(|names| {
        let mut fields = line.split(|&b| b == b',');
        names.iter().all(|name| fields.next().is_some_and(|f| trim_blanks(f).eq_ignore_ascii_case(name)))
            && fields.next().is_none()
    })
}

fn trim_blanks(mut field: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = field {
        field = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = field {
        field = rest;
    }
    field
}

/// Rows of a chunk nearly always share one date: remember the last one parsed, with its
/// nonexistent local slots.
struct DateCache<'g> {
    text: [u8; 8],
    days: Option<i64>,
    /// The time zone's nonexistent local times; `None` when it has none.
    gaps: Option<&'g LocalGaps>,
    /// The nonexistent slots of day `days`, if it has any: for a zone without gaps (Asia/Seoul)
    /// always `None`, so the check costs one branch per row.
    day_gaps: Option<&'g DaySlots>,
}

impl<'g> DateCache<'g> {
    fn new(gaps: Option<&'g LocalGaps>) -> DateCache<'g> {
        DateCache { text: [0; 8], days: None, gaps: gaps.filter(|g| !g.is_empty()), day_gaps: None }
    }

    fn days(&mut self, text: &[u8]) -> Option<i64> {
        if self.days.is_some() && text == self.text {
            return self.days;
        }
        let days = Date::parse_yyyymmdd(text)?.days_since_epoch();
        self.text.copy_from_slice(text);
        self.days = Some(days);
        self.day_gaps = self.gaps.and_then(|g| g.day(days));
        self.days
    }
}

/// `Ok(None)` is a valid row without a speed.
fn parse_row(line: &[u8], dates: &mut DateCache, file_day: Option<i64>) -> Result<Option<Sample>, RejectReason> {
    let mut fields: [&[u8]; FIELDS] = [&[]; FIELDS];
    let mut n = 0;
    for field in line.split(|&b| b == b',') {
        if n == FIELDS {
            return Err(RejectReason::FieldCount);
        }
        fields[n] = field;
        n += 1;
    }
    if n != FIELDS {
        return Err(RejectReason::FieldCount);
    }
    let [date, time, link, _agency, speed, travel_time] = fields;

    let day = dates.days(date).ok_or(RejectReason::BadDate)?;
    let hhmm = parse_digits(time, 4).ok_or(RejectReason::BadTime)?;
    let (hour, minute) = (hhmm / 100, hhmm % 100);
    if hour >= 24 || minute >= 60 || minute % 5 != 0 {
        return Err(RejectReason::BadTime);
    }
    let link_id = parse_digits(link, 18).ok_or(RejectReason::BadLinkId)? as i64;
    let speed = if speed.is_empty() { None } else { Some(parse_speed(speed).ok_or(RejectReason::BadSpeed)?) };
    let travel_time = if travel_time.is_empty() {
        None
    } else {
        Some(parse_digits(travel_time, 9).ok_or(RejectReason::BadTravelTime)? as i32)
    };
    if file_day.is_some_and(|d| d != day) {
        return Err(RejectReason::StrayDate);
    }
    if let Some(gaps) = dates.day_gaps {
        if slot_in(gaps, (hour * 12 + minute / 5) as usize) {
            return Err(RejectReason::NonexistentTime);
        }
    }
    Ok(speed.map(|speed| Sample {
        link_id,
        local_hour: day * 24 + hour as i64,
        slot: (minute / 5) as u8,
        speed,
        travel_time: travel_time.filter(|&t| t != 0),
    }))
}

/// 1..=`max_len` ASCII digits.
fn parse_digits(text: &[u8], max_len: usize) -> Option<u64> {
    if text.is_empty() || text.len() > max_len {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0')))
}

/// `digits[.digits]` within 0..=300 with at most one non-zero decimal (`25.5`, `25.50`, `115`),
/// rounded to the nearest `f32` as Postgres' `real` input does. Speeds are stored as tenths of
/// km/h, so a finer value (`25.25`) is rejected rather than silently rounded.
fn parse_speed(text: &[u8]) -> Option<f32> {
    let (int, frac) = match memchr::memchr(b'.', text) {
        Some(dot) => (&text[..dot], Some(&text[dot + 1..])),
        None => (text, None),
    };
    let int_value = parse_digits(int, 18)?;
    let tenths = match frac {
        None => int_value * 10,
        Some([d, zeros @ ..]) if d.is_ascii_digit() && zeros.iter().all(|&z| z == b'0') => {
            int_value * 10 + u64::from(d - b'0')
        }
        Some(_) => return None,
    };
    // n and 10 are exact in f32 and IEEE division rounds correctly, so n / 10 is the correctly
    // rounded value of the decimal, the same `real` that `n / 10.0::real` gives in SQL.
    (tenths <= MAX_SPEED_TENTHS).then(|| tenths as f32 / 10.0)
}

#[cfg(test)]
mod tests;
