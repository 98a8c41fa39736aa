//! Proleptic Gregorian calendar arithmetic on plain integers.
//!
//! The parser turns every row's `YYYYMMDD` into a day number on the hot path, so this is a few
//! integer operations rather than a date library call (Howard Hinnant's `days_from_civil`).

/// A calendar date as it appears in the files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        let date = Date { year, month, day };
        date.is_valid().then_some(date)
    }

    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month) && self.day >= 1 && self.day <= days_in_month(self.year, self.month)
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    pub fn from_days_since_epoch(days: i64) -> Date {
        let (year, month, day) = civil_from_days(days);
        Date { year, month, day }
    }

    /// Parses exactly eight ASCII digits `YYYYMMDD`.
    pub fn parse_yyyymmdd(text: &[u8]) -> Option<Date> {
        if text.len() != 8 || !text.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let num = |s: &[u8]| s.iter().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
        Date::new(num(&text[..4]) as i32, num(&text[4..6]), num(&text[6..8]))
    }

    pub fn yyyymmdd(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// 5-minute slots in a local day.
pub const SLOTS_PER_DAY: usize = 288;

/// One bit per 5-minute slot of a local day (bit `s` of word `s / 64`: minutes `5s..5s+4`).
pub type DaySlots = [u64; SLOTS_PER_DAY.div_ceil(64)];

/// The local 5-minute slots that do not exist in a time zone: those a daylight-saving (or other
/// offset) change skips when clocks go forward. The engine has no time zone database; the shell
/// computes the set in SQL (`vs_ingest.local_time_gaps`) and hands it over, and the parser
/// rejects a row at such a local time as `nonexistent_time`.
///
/// Kept per local day, sorted, one bitmask of the day's slots each: a few hundred days between
/// 1970 and 2100 for a zone with daylight saving, none for Asia/Seoul or UTC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalGaps {
    /// (days since 1970-01-01, the day's nonexistent slots), sorted by day, no empty mask.
    days: Vec<(i64, DaySlots)>,
}

impl LocalGaps {
    /// The set of the given (local day, slot) pairs; `slot` is 0..288 (slot `12h + m / 5` is
    /// `hh:mm`). Pairs may come in any order and repeat.
    ///
    /// # Panics
    /// If a slot is 288 or more.
    pub fn from_slots(slots: impl IntoIterator<Item = (i64, usize)>) -> LocalGaps {
        let mut days: Vec<(i64, DaySlots)> = Vec::new();
        let mut pairs: Vec<(i64, usize)> = slots.into_iter().collect();
        pairs.sort_unstable();
        for (day, slot) in pairs {
            assert!(slot < SLOTS_PER_DAY, "slot {slot} of day {day} is not a 5-minute slot of a day");
            if days.last().is_none_or(|(d, _)| *d != day) {
                days.push((day, DaySlots::default()));
            }
            let mask = &mut days.last_mut().expect("just pushed").1;
            mask[slot / 64] |= 1 << (slot % 64);
        }
        LocalGaps { days }
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// Number of nonexistent slots.
    pub fn len(&self) -> usize {
        self.days.iter().map(|(_, m)| m.iter().map(|w| w.count_ones() as usize).sum::<usize>()).sum()
    }

    /// The nonexistent slots of local day `day` (days since 1970-01-01), if it has any.
    pub fn day(&self, day: i64) -> Option<&DaySlots> {
        self.days.binary_search_by_key(&day, |(d, _)| *d).ok().map(|i| &self.days[i].1)
    }

    /// Whether slot `slot` (0..288) of local day `day` does not exist.
    pub fn contains(&self, day: i64, slot: usize) -> bool {
        self.day(day).is_some_and(|mask| slot_in(mask, slot))
    }
}

/// Whether `slot` (0..288) is set in a day's mask.
#[inline]
pub fn slot_in(mask: &DaySlots, slot: usize) -> bool {
    mask[slot / 64] & (1 << (slot % 64)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2023, 7, 1), 19_539);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        for days in days_from_civil(1900, 1, 1)..days_from_civil(2300, 1, 1) {
            let (y, m, d) = civil_from_days(days);
            assert!(Date { year: y, month: m, day: d }.is_valid());
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn parses_and_validates_yyyymmdd() {
        assert_eq!(Date::parse_yyyymmdd(b"20240229"), Some(Date { year: 2024, month: 2, day: 29 }));
        assert_eq!(Date::parse_yyyymmdd(b"20230229"), None);
        assert_eq!(Date::parse_yyyymmdd(b"20231301"), None);
        assert_eq!(Date::parse_yyyymmdd(b"20230100"), None);
        assert_eq!(Date::parse_yyyymmdd(b"2023011"), None);
        assert_eq!(Date::parse_yyyymmdd(b"2023O101"), None);
        assert_eq!(Date::parse_yyyymmdd(b"20230101").unwrap().yyyymmdd(), "20230101");
    }

    #[test]
    fn local_gaps_keep_their_slots_per_day() {
        let empty = LocalGaps::default();
        assert!(empty.is_empty());
        assert!(!empty.contains(0, 0));
        // New York, 2023-03-12: 02:00..02:55 (slots 24..36); Lord Howe, 2023-10-01: 02:00..02:25.
        let ny = days_from_civil(2023, 3, 12);
        let lh = days_from_civil(2023, 10, 1);
        let gaps =
            LocalGaps::from_slots((24..36).rev().map(|s| (ny, s)).chain((24..30).map(|s| (lh, s))).chain([(ny, 24)]));
        assert!(!gaps.is_empty());
        assert_eq!(gaps.len(), 18);
        for day in [ny - 1, ny, ny + 1, lh] {
            for slot in 0..SLOTS_PER_DAY {
                let want = (day == ny && (24..36).contains(&slot)) || (day == lh && (24..30).contains(&slot));
                assert_eq!(gaps.contains(day, slot), want, "day {day} slot {slot}");
            }
        }
        assert!(gaps.day(ny + 1).is_none());
        // The last slot of a day is bit 31 of the fifth word.
        let late = LocalGaps::from_slots([(5, 287)]);
        assert_eq!(late.day(5).unwrap()[4], 1 << 31);
    }
}
