//! Rows of six hours: what the table stores.
//!
//! A stored row holds one link's 72 five-minute slots of a local day's block of six hours
//! (00-05, 06-11, 12-17, 18-23), speeds in tenths of km/h. Against one row per link and hour this
//! divides the per-row overhead (tuple header, line pointer, index entry) by six, which is most of
//! the bytes, and the writer inserts a sixth of the rows. Six hours, not a whole day, because a
//! load commits each block as it finishes (a crash loses at most one block of a file), and the
//! table must never update a row in the common case. See docs/storage.md for the measurements.

use crate::aggregate::{HourBatch, HourlyRow, SLOTS};

/// Hours in a block; 24 is a multiple, so blocks never straddle a local midnight.
pub const BLOCK_HOURS: i64 = 6;
/// Five-minute slots in a block.
pub const BLOCK_SLOTS: usize = BLOCK_HOURS as usize * SLOTS;

/// A speed in tenths of km/h (exact: the parser accepts at most one decimal).
pub fn tenths(speed: f32) -> i16 {
    (speed * 10.0).round() as i16
}

/// The `real` a stored speed stands for: the same value the parser produced, and the same as
/// `tenths / 10.0::real` in SQL (both divisions are correctly rounded).
pub fn kmh(tenths: i16) -> f32 {
    f32::from(tenths) / 10.0
}

/// (average, minimum, maximum) of speeds, the average summed in f64 in slot order and rounded
/// once to f32, as Postgres' `avg(real)` does.
pub fn speed_stats(speeds: impl Iterator<Item = f32>) -> Option<(f32, f32, f32)> {
    let (mut n, mut sum, mut min, mut max) = (0u32, 0f64, f32::INFINITY, f32::NEG_INFINITY);
    for s in speeds {
        n += 1;
        sum += f64::from(s);
        min = min.min(s);
        max = max.max(s);
    }
    (n > 0).then(|| ((sum / f64::from(n)) as f32, min, max))
}

/// Which block of which local day a local hour (hours since 1970-01-01 local time) is in.
pub fn block_of(local_hour: i64) -> (i64, u8) {
    let day = local_hour.div_euclid(24);
    (day, (local_hour.rem_euclid(24) / BLOCK_HOURS) as u8)
}

/// One link's block row.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockRow {
    pub link_id: i64,
    /// Bit h: hour h of the block has at least one sample.
    pub hours: u8,
    pub speed: [i16; BLOCK_SLOTS],
    pub speed_mask: u128,
    pub travel_time: [i32; BLOCK_SLOTS],
    pub travel_time_mask: u128,
}

impl BlockRow {
    pub(crate) fn new(link_id: i64) -> BlockRow {
        BlockRow {
            link_id,
            hours: 0,
            speed: [0; BLOCK_SLOTS],
            speed_mask: 0,
            travel_time: [0; BLOCK_SLOTS],
            travel_time_mask: 0,
        }
    }

    fn add_hour(&mut self, hour: usize, row: &HourlyRow) {
        if row.speed_mask != 0 {
            self.hours |= 1 << hour;
        }
        for slot in 0..SLOTS {
            let at = hour * SLOTS + slot;
            if let Some(speed) = row.speed_at(slot) {
                self.speed[at] = tenths(speed);
                self.speed_mask |= 1 << at;
            }
            if let Some(t) = row.travel_time_at(slot) {
                self.travel_time[at] = t;
                self.travel_time_mask |= 1 << at;
            }
        }
    }

    pub fn speed_at(&self, slot: usize) -> Option<i16> {
        (self.speed_mask >> slot & 1 == 1).then_some(self.speed[slot])
    }

    pub fn travel_time_at(&self, slot: usize) -> Option<i32> {
        (self.travel_time_mask >> slot & 1 == 1).then_some(self.travel_time[slot])
    }
}

/// The finished hours of one block (one or more of its six), each sorted by link id.
#[derive(Debug)]
pub struct Block<'a> {
    /// Local day, days since 1970-01-01.
    pub day: i64,
    /// 0..=3: hours `6 * block ..= 6 * block + 5` of the day.
    pub block: u8,
    pub hours: Vec<&'a HourBatch>,
}

impl Block<'_> {
    /// The block's rows in link order: each link's hours merged into one row.
    pub fn rows(&self) -> BlockRows<'_> {
        self.rows_between(None, None)
    }

    /// The block's rows of links in `[lo, hi)` (`None`: unbounded), in link order.
    pub fn rows_between(&self, lo: Option<i64>, hi: Option<i64>) -> BlockRows<'_> {
        let hours = self
            .hours
            .iter()
            .map(|h| {
                let from = lo.map_or(0, |lo| h.rows.partition_point(|r| r.link_id < lo));
                let to = hi.map_or(h.rows.len(), |hi| h.rows.partition_point(|r| r.link_id < hi));
                (h.local_hour.rem_euclid(BLOCK_HOURS) as usize, &h.rows[from..to])
            })
            .collect();
        BlockRows { hours, cursors: vec![0; self.hours.len()] }
    }

    pub fn samples(&self) -> u64 {
        self.hours.iter().map(|h| h.samples()).sum()
    }
}

/// Groups hours (in any order) into blocks, in block order.
pub fn blocks(hours: &[HourBatch]) -> Vec<Block<'_>> {
    let mut sorted: Vec<&HourBatch> = hours.iter().filter(|h| !h.rows.is_empty()).collect();
    sorted.sort_by_key(|h| h.local_hour);
    let mut out: Vec<Block<'_>> = Vec::new();
    for hour in sorted {
        let (day, block) = block_of(hour.local_hour);
        match out.last_mut() {
            Some(last) if last.day == day && last.block == block => last.hours.push(hour),
            _ => out.push(Block { day, block, hours: vec![hour] }),
        }
    }
    out
}

/// A k-way merge by link id of a block's hours (each sorted by link id).
pub struct BlockRows<'a> {
    /// Each hour's place in the block (0-5) and its rows.
    hours: Vec<(usize, &'a [HourlyRow])>,
    cursors: Vec<usize>,
}

impl Iterator for BlockRows<'_> {
    type Item = BlockRow;

    fn next(&mut self) -> Option<BlockRow> {
        let hours = &self.hours;
        let link_id = (0..hours.len()).filter_map(|i| hours[i].1.get(self.cursors[i]).map(|r| r.link_id)).min()?;
        let mut row = BlockRow::new(link_id);
        for (i, &(hour, rows)) in hours.iter().enumerate() {
            if let Some(r) = rows.get(self.cursors[i]).filter(|r| r.link_id == link_id) {
                row.add_hour(hour, r);
                self.cursors[i] += 1;
            }
        }
        Some(row)
    }

    /// At least the rows of the hour with the most left (each link is one row).
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.hours.iter().zip(&self.cursors).map(|((_, rows), &at)| rows.len() - at);
        (left.clone().max().unwrap_or(0), Some(left.sum()))
    }
}

/// The `hours` mask a stored `smallint[72]` with null bitmap `nulls` must carry: bit h set exactly
/// when hour h (0-5) has a sample. The storage's CHECK compares the two.
pub fn hours_mask(nulls: Option<&[u8]>) -> u8 {
    (0..BLOCK_HOURS as usize).filter(|&h| hour_samples(nulls, h) > 0).fold(0, |mask, h| mask | 1 << h)
}

/// Samples in hour `hour` (0-5) of a stored `smallint[72]` with null bitmap `nulls` (none: every
/// slot has one).
pub fn hour_samples(nulls: Option<&[u8]>, hour: usize) -> u16 {
    let first = hour.min(BLOCK_HOURS as usize - 1) * SLOTS;
    match nulls {
        None => SLOTS as u16,
        Some(bits) => {
            (first..first + SLOTS).filter(|&i| bits.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1)).count() as u16
        }
    }
}

/// The hour's average speed in km/h, summed as `avg(real)` sums the `real` speeds.
pub fn hour_average(slots: &[Option<i16>; SLOTS]) -> Option<f32> {
    let (n, sum) = slots.iter().flatten().fold((0u32, 0f64), |(n, sum), &t| (n + 1, sum + f64::from(kmh(t))));
    (n > 0).then(|| (sum / f64::from(n)) as f32)
}

/// The hour's lowest and highest speed in km/h.
pub fn hour_min_max(slots: &[Option<i16>; SLOTS]) -> Option<(f32, f32)> {
    let present = slots.iter().flatten();
    Some((kmh(*present.clone().min()?), kmh(*present.max()?)))
}

/// The twelve slots of hour `hour` (0-5) of a stored `smallint[72]`, read from its parts as
/// Postgres lays them out: `nulls` is the array's null bitmap (bit i set: element i present; none
/// when no element is NULL), `data` its elements' bytes, the present ones only, in order. `None`
/// when the parts are inconsistent (too short).
pub fn hour_slots(nulls: Option<&[u8]>, data: &[u8], hour: usize) -> Option<[Option<i16>; SLOTS]> {
    let first = hour.min(BLOCK_HOURS as usize - 1) * SLOTS;
    let present = |i: usize| nulls.is_none_or(|bits| bits.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1));
    // Elements before the hour's first slot that take room in `data`.
    let mut at = match nulls {
        None => first,
        Some(bits) => {
            let whole = bits.get(..first / 8)?.iter().map(|b| b.count_ones() as usize).sum::<usize>();
            let partial = match first % 8 {
                0 => 0,
                r => (bits.get(first / 8)? & ((1u8 << r) - 1)).count_ones() as usize,
            };
            whole + partial
        }
    };
    let mut slots = [None; SLOTS];
    for (i, slot) in slots.iter_mut().enumerate() {
        if present(first + i) {
            let bytes = data.get(at * 2..at * 2 + 2)?;
            *slot = Some(i16::from_ne_bytes([bytes[0], bytes[1]]));
            at += 1;
        }
    }
    Some(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(local_hour: i64, rows: Vec<HourlyRow>) -> HourBatch {
        HourBatch { local_hour, rows }
    }

    fn row(link_id: i64, samples: &[(u8, f32, Option<i32>)]) -> HourlyRow {
        let mut r = HourlyRow::new(link_id);
        for &(slot, speed, tt) in samples {
            r.apply(slot, speed, tt);
        }
        r
    }

    #[test]
    fn tenths_round_trip_every_accepted_speed() {
        for n in 0..=3000i16 {
            let parsed = f32::from(n) / 10.0;
            assert_eq!(tenths(parsed), n);
            assert_eq!(kmh(n), parsed);
            // What the parser's `str::parse::<f32>` of the decimal would give.
            assert_eq!(kmh(n), format!("{}.{}", n / 10, n % 10).parse::<f32>().unwrap());
        }
    }

    #[test]
    fn hours_group_into_blocks_of_their_local_day() {
        let day = 19_539; // 2023-07-01
        let h = |i: i64| hour(day * 24 + i, vec![row(1, &[(0, 10.0, None)])]);
        let batches = vec![h(7), h(5), h(0), h(23), h(6), hour(day * 24 + 8, vec![]), h(24)];
        let got: Vec<(i64, u8, Vec<i64>)> = blocks(&batches)
            .iter()
            .map(|b| (b.day, b.block, b.hours.iter().map(|h| h.local_hour - day * 24).collect()))
            .collect();
        assert_eq!(got, vec![(day, 0, vec![0, 5]), (day, 1, vec![6, 7]), (day, 3, vec![23]), (day + 1, 0, vec![24])]);
        assert_eq!(block_of(-1), (-1, 3));
    }

    #[test]
    fn a_block_merges_each_links_hours_into_one_row() {
        let day = 19_539;
        let batches = vec![
            hour(day * 24 + 6, vec![row(10, &[(0, 50.5, Some(30))]), row(30, &[(11, 20.0, None)])]),
            hour(day * 24 + 8, vec![row(20, &[(3, 0.0, None)]), row(30, &[(0, 33.3, None), (1, 34.0, Some(7))])]),
            hour(day * 24 + 11, vec![row(10, &[(11, 99.9, None)])]),
        ];
        let blocks = blocks(&batches);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].samples(), 6);
        let rows: Vec<BlockRow> = blocks[0].rows().collect();
        assert_eq!(rows.iter().map(|r| r.link_id).collect::<Vec<_>>(), vec![10, 20, 30]);
        let r10 = &rows[0];
        assert_eq!(r10.hours, 0b10_0001);
        assert_eq!(r10.speed_at(0), Some(505));
        assert_eq!(r10.travel_time_at(0), Some(30));
        assert_eq!(r10.speed_at(71), Some(999));
        assert_eq!(r10.speed_mask.count_ones(), 2);
        assert_eq!(r10.travel_time_mask.count_ones(), 1);
        let r20 = &rows[1];
        assert_eq!((r20.hours, r20.speed_at(2 * 12 + 3)), (0b100, Some(0)));
        let r30 = &rows[2];
        assert_eq!(r30.hours, 0b101);
        assert_eq!(r30.speed_at(11), Some(200));
        assert_eq!(r30.speed_at(24), Some(333));
        assert_eq!(r30.travel_time_at(25), Some(7));
        assert_eq!(r30.travel_time_at(24), None);
    }

    #[test]
    fn an_hour_reads_back_as_the_hourly_row_it_came_from() {
        let original = row(5, &[(0, 10.0, None), (4, 25.5, Some(3)), (11, 115.0, None), (7, 0.1, None)]);
        let batches = vec![hour(19_539 * 24 + 14, vec![original.clone()])];
        let blocks = blocks(&batches);
        let stored = blocks[0].rows().next().unwrap();
        let (nulls, data) = postgres_layout(&stored);
        let slots = hour_slots(nulls.as_deref(), &data, 2).unwrap();
        assert_eq!(slots.map(|s| s.map(kmh)).to_vec(), (0..SLOTS).map(|i| original.speed_at(i)).collect::<Vec<_>>());
        assert_eq!(hour_samples(nulls.as_deref(), 2), original.samples());
        assert_eq!(hour_samples(nulls.as_deref(), 1), 0);
        assert_eq!(hour_samples(None, 4), 12);
        assert_eq!(hours_mask(nulls.as_deref()), stored.hours);
        assert_eq!(hours_mask(nulls.as_deref()), 0b100);
        assert_eq!(hours_mask(None), 0b11_1111);
        let (avg, min, max) = original.speed_stats().unwrap();
        assert_eq!(hour_average(&slots), Some(avg));
        assert_eq!(hour_min_max(&slots), Some((min, max)));
        assert_eq!(hour_average(&[None; SLOTS]), None);
        assert_eq!(hour_min_max(&[None; SLOTS]), None);
    }

    /// `row`'s speeds laid out as Postgres stores a `smallint[72]`: null bitmap and present elements.
    fn postgres_layout(row: &BlockRow) -> (Option<Vec<u8>>, Vec<u8>) {
        let mut bits = vec![0u8; BLOCK_SLOTS.div_ceil(8)];
        let mut data = Vec::new();
        for i in 0..BLOCK_SLOTS {
            if let Some(v) = row.speed_at(i) {
                bits[i / 8] |= 1 << (i % 8);
                data.extend_from_slice(&v.to_ne_bytes());
            }
        }
        ((row.speed_mask.count_ones() as usize) < BLOCK_SLOTS)
            .then_some(bits)
            .map_or((None, data.clone()), |b| (Some(b), data))
    }

    #[test]
    fn hour_slots_reads_every_hour_of_sparse_and_full_rows() {
        let mut sparse = BlockRow::new(1);
        let mut full = BlockRow::new(2);
        for i in 0..BLOCK_SLOTS {
            full.speed[i] = i as i16 * 3;
            full.speed_mask |= 1 << i;
            // present in a pattern that crosses byte boundaries unevenly
            if i % 3 == 0 || i % 7 == 1 {
                sparse.speed[i] = 1000 + i as i16;
                sparse.speed_mask |= 1 << i;
            }
        }
        for row in [&sparse, &full] {
            let (nulls, data) = postgres_layout(row);
            assert_eq!(nulls.is_none(), row.speed_mask.count_ones() == 72);
            for hour in 0..6 {
                let got = hour_slots(nulls.as_deref(), &data, hour).unwrap();
                let want: Vec<Option<i16>> = (0..SLOTS).map(|i| row.speed_at(hour * SLOTS + i)).collect();
                assert_eq!(got.to_vec(), want, "hour {hour}");
            }
        }
        // Inconsistent parts are refused, never read past.
        let (nulls, data) = postgres_layout(&full);
        assert_eq!(hour_slots(nulls.as_deref(), &data[..10], 5), None);
        assert_eq!(hour_slots(Some(&[0xff]), &data, 3), None);
    }
}
