//! Daily rollups: one row per link and local day with the day's sample count, sum, minimum and
//! maximum of the speeds (tenths of km/h), per local hour the sample count and sum, and the two
//! figures the quality flags need that sums cannot give: the longest run of consecutive slots with
//! one speed and the largest change between consecutive slots ([`Runs`]).
//!
//! First sample wins makes every stored sample an addition, so a rollup is exact by adding up the
//! samples of the block rows a load writes (`DayRow::add_block_row`), and rollups of disjoint sets
//! of samples add up (`DayRow::add`): the writer adds a transaction's new rows to what is stored.
//! Where a transaction merged into rows that existed, it rebuilds the day's rows of those links
//! from the stored block rows instead (the same `add_block_row`, fed from the storage).

use crate::block::{BlockRow, BLOCK_HOURS, BLOCK_SLOTS};
use crate::copy_binary::{CopyBuffer, PG_EPOCH_OFFSET_DAYS};

pub const DAY_HOURS: usize = 24;

/// Runs of equal speeds and jumps between neighbours over a stretch of a day's slots: what the
/// quality flags read. Stretches that follow each other in time combine exactly ([`Runs::then`]),
/// so a day's figures come from its blocks' in slot order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Runs {
    /// The first slot with a sample (slot of the day, 0-287), its speed, and how many consecutive
    /// slots from it hold that same speed.
    first_slot: u16,
    first: i16,
    head: u16,
    /// The same at the end: the last slot with a sample and the run of its speed ending there.
    last_slot: u16,
    last: i16,
    tail: u16,
    /// The longest run of consecutive slots with one speed.
    pub longest: u16,
    /// The largest change of speed between two consecutive slots (tenths of km/h; 0 when no two
    /// samples are neighbours).
    pub max_jump: i16,
}

impl Runs {
    fn one(slot: u16, tenths: i16) -> Runs {
        Runs {
            first_slot: slot,
            first: tenths,
            head: 1,
            last_slot: slot,
            last: tenths,
            tail: 1,
            longest: 1,
            max_jump: 0,
        }
    }

    /// Whether every slot of the stretch holds its first speed.
    fn uniform(&self) -> bool {
        self.head == self.last_slot - self.first_slot + 1
    }

    /// These runs followed by `later`'s, whose slots all come after this one's.
    pub fn then(self, later: Runs) -> Runs {
        debug_assert!(self.last_slot < later.first_slot);
        let adjacent = self.last_slot + 1 == later.first_slot;
        let joined = adjacent && self.last == later.first;
        let jump = if adjacent { (i32::from(later.first) - i32::from(self.last)).unsigned_abs() as i16 } else { 0 };
        Runs {
            first_slot: self.first_slot,
            first: self.first,
            head: if joined && self.uniform() { self.head + later.head } else { self.head },
            last_slot: later.last_slot,
            last: later.last,
            tail: if joined && later.uniform() { later.tail + self.tail } else { later.tail },
            longest: self.longest.max(later.longest).max(if joined { self.tail + later.head } else { 0 }),
            max_jump: self.max_jump.max(later.max_jump).max(jump),
        }
    }
}

/// One link's local day, summed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayRow {
    pub link_id: i64,
    pub samples: u16,
    /// Sum of the speeds in tenths of km/h (at most 288 x 32,767: fits).
    pub speed_sum: i32,
    pub speed_min: i16,
    pub speed_max: i16,
    pub hour_samples: [u8; DAY_HOURS],
    pub hour_speed_sum: [i32; DAY_HOURS],
    /// The runs of each block (0-3) of the day with a sample.
    block_runs: [Option<Runs>; 4],
}

impl DayRow {
    pub fn new(link_id: i64) -> DayRow {
        DayRow {
            link_id,
            samples: 0,
            speed_sum: 0,
            speed_min: i16::MAX,
            speed_max: i16::MIN,
            hour_samples: [0; DAY_HOURS],
            hour_speed_sum: [0; DAY_HOURS],
            block_runs: [None; 4],
        }
    }

    /// The day's runs: its blocks' in order. `None` without a sample.
    pub fn runs(&self) -> Option<Runs> {
        self.block_runs.iter().flatten().copied().reduce(Runs::then)
    }

    fn add_sample(&mut self, hour: usize, tenths: i16) {
        self.samples += 1;
        self.speed_sum += i32::from(tenths);
        self.speed_min = self.speed_min.min(tenths);
        self.speed_max = self.speed_max.max(tenths);
        self.hour_samples[hour] += 1;
        self.hour_speed_sum[hour] += i32::from(tenths);
    }

    /// Adds the samples of a block row of block `block` (0-3) of this link's day.
    pub fn add_block_row(&mut self, block: u8, row: &BlockRow) {
        let mut mask = row.speed_mask;
        self.add_block_samples(
            block,
            std::iter::from_fn(|| {
                (mask != 0).then(|| {
                    let i = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    (i, row.speed[i])
                })
            }),
        );
    }

    /// Adds the 72 slots of block `block` of the day, `slot(i)` the speed of slot i. A block is
    /// added once: a second part of it (samples merged into a stored block) is not a stretch after
    /// the first, and its day is rebuilt from the storage instead (see `add`).
    pub fn add_block_slots(&mut self, block: u8, slot: impl Fn(usize) -> Option<i16>) {
        self.add_block_samples(block, (0..BLOCK_SLOTS).filter_map(|i| slot(i).map(|v| (i, v))));
    }

    /// Adds a block's samples, `(slot of the block, speed)` in slot order. The runs are followed
    /// sample by sample as `Runs::one(..)` chained with [`Runs::then`] would give them (the
    /// engine's threads sum every row of a national day: this loop is on their path).
    fn add_block_samples(&mut self, block: u8, samples: impl Iterator<Item = (usize, i16)>) {
        let first_hour = usize::from(block) * BLOCK_HOURS as usize;
        let first_slot = usize::from(block) * BLOCK_SLOTS;
        let mut runs: Option<Runs> = None;
        // The head is still growing: every slot so far is consecutive and holds the first speed.
        let mut head_open = true;
        for (i, tenths) in samples {
            self.add_sample(first_hour + i / crate::aggregate::SLOTS, tenths);
            let slot = (first_slot + i) as u16;
            let Some(r) = runs.as_mut() else {
                runs = Some(Runs::one(slot, tenths));
                continue;
            };
            let adjacent = r.last_slot + 1 == slot;
            let joined = adjacent && r.last == tenths;
            if adjacent {
                r.max_jump = r.max_jump.max((i32::from(tenths) - i32::from(r.last)).unsigned_abs() as i16);
            }
            head_open &= joined;
            if head_open {
                r.head += 1;
            }
            r.tail = if joined { r.tail + 1 } else { 1 };
            r.longest = r.longest.max(r.tail);
            r.last_slot = slot;
            r.last = tenths;
        }
        if let Some(runs) = runs {
            debug_assert!(self.block_runs[usize::from(block)].is_none());
            self.block_runs[usize::from(block)] = Some(runs);
        }
    }

    /// Adds the rollup of samples disjoint from this one's, of other blocks: false (and nothing
    /// added) when both hold samples of one block, whose runs only the block's slots can tell.
    #[must_use]
    pub fn add(&mut self, other: &DayRow) -> bool {
        debug_assert_eq!(self.link_id, other.link_id);
        if self.block_runs.iter().zip(&other.block_runs).any(|(a, b)| a.is_some() && b.is_some()) {
            return false;
        }
        for (mine, theirs) in self.block_runs.iter_mut().zip(&other.block_runs) {
            if theirs.is_some() {
                *mine = *theirs;
            }
        }
        self.samples += other.samples;
        self.speed_sum += other.speed_sum;
        self.speed_min = self.speed_min.min(other.speed_min);
        self.speed_max = self.speed_max.max(other.speed_max);
        for h in 0..DAY_HOURS {
            self.hour_samples[h] += other.hour_samples[h];
            self.hour_speed_sum[h] += other.hour_speed_sum[h];
        }
        true
    }
}

/// Appends `rows` of local day `day` (days since 1970-01-01) to a COPY payload for the rollup
/// table `(link_id bigint, day date, samples smallint, speed_sum int, speed_min smallint,
/// speed_max smallint, hour_samples smallint[24], hour_speed_sum int[24], longest_run smallint,
/// max_jump smallint)`. Rows without a sample are skipped: a rollup row always has one.
pub fn push_day_rows<'a>(copy: &mut CopyBuffer, day: i64, rows: impl IntoIterator<Item = &'a DayRow>) {
    for row in rows.into_iter() {
        let Some(runs) = row.runs() else { continue };
        copy.push_fields(&[
            &row.link_id.to_be_bytes(),
            &((day - PG_EPOCH_OFFSET_DAYS) as i32).to_be_bytes(),
            &(row.samples as i16).to_be_bytes(),
            &row.speed_sum.to_be_bytes(),
            &row.speed_min.to_be_bytes(),
            &row.speed_max.to_be_bytes(),
            &crate::copy_binary::int_array(
                crate::copy_binary::INT2_OID,
                row.hour_samples.iter().map(|&n| i16::from(n).to_be_bytes()),
            ),
            &crate::copy_binary::int_array(
                crate::copy_binary::INT4_OID,
                row.hour_speed_sum.iter().map(|s| s.to_be_bytes()),
            ),
            &(runs.longest as i16).to_be_bytes(),
            &runs.max_jump.to_be_bytes(),
        ]);
    }
}

/// A day's rollup rows as Postgres holds their values in memory (see [`crate::stored`]), for the
/// writer's insert into the rollup table (the columns of [`push_day_rows`]). Rows without a sample
/// are skipped.
#[derive(Debug, Default)]
pub struct StoredDayRows {
    rows: Vec<StoredDayRow>,
    words: Vec<u64>,
}

/// One rollup row's fixed-width values, and where its two arrays are in [`StoredDayRows`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredDayRow {
    pub link_id: i64,
    /// A Postgres `date`: days since 2000-01-01.
    pub day: i32,
    pub samples: i16,
    pub speed_sum: i32,
    pub speed_min: i16,
    pub speed_max: i16,
    hour_samples: u32,
    hour_speed_sum: u32,
    pub longest_run: i16,
    pub max_jump: i16,
}

impl StoredDayRows {
    /// The rollup rows of local day `day` (days since 1970-01-01).
    pub fn new<'a>(day: i64, rows: impl IntoIterator<Item = &'a DayRow>) -> StoredDayRows {
        use crate::copy_binary::{INT2_OID, INT4_OID};
        use crate::stored::push_array;
        let mut out = StoredDayRows::default();
        let all = (1u128 << DAY_HOURS) - 1;
        for row in rows {
            let Some(runs) = row.runs() else { continue };
            let hour_samples =
                push_array(&mut out.words, INT2_OID, DAY_HOURS, all, |h| i16::from(row.hour_samples[h]).to_le_bytes());
            let hour_speed_sum =
                push_array(&mut out.words, INT4_OID, DAY_HOURS, all, |h| row.hour_speed_sum[h].to_le_bytes());
            out.rows.push(StoredDayRow {
                link_id: row.link_id,
                day: (day - PG_EPOCH_OFFSET_DAYS) as i32,
                samples: row.samples as i16,
                speed_sum: row.speed_sum,
                speed_min: row.speed_min,
                speed_max: row.speed_max,
                hour_samples,
                hour_speed_sum,
                longest_run: runs.longest as i16,
                max_jump: runs.max_jump,
            });
        }
        out
    }

    pub fn rows(&self) -> &[StoredDayRow] {
        &self.rows
    }

    /// The row's `hour_samples smallint[24]` as a varlena, 8-byte aligned.
    pub fn hour_samples(&self, row: &StoredDayRow) -> &[u8] {
        crate::stored::array_at(&self.words, row.hour_samples)
    }

    /// The row's `hour_speed_sum integer[24]` as a varlena, 8-byte aligned.
    pub fn hour_speed_sum(&self, row: &StoredDayRow) -> &[u8] {
        crate::stored::array_at(&self.words, row.hour_speed_sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{HourBatch, HourlyRow};

    #[test]
    fn a_day_adds_up_its_blocks_samples_per_hour() {
        let day = 19_539;
        let mut h7 = HourlyRow::new(9);
        h7.apply(0, 10.0, None);
        h7.apply(11, 20.5, Some(3));
        let mut h23 = HourlyRow::new(9);
        h23.apply(5, 0.0, None);
        let batches = vec![
            HourBatch { local_hour: day * 24 + 7, rows: vec![h7] },
            HourBatch { local_hour: day * 24 + 23, rows: vec![h23] },
        ];
        let mut d = DayRow::new(9);
        for b in crate::block::blocks(&batches) {
            for r in b.rows() {
                d.add_block_row(b.block, &r);
            }
        }
        assert_eq!((d.samples, d.speed_sum, d.speed_min, d.speed_max), (3, 305, 0, 205));
        assert_eq!((d.hour_samples[7], d.hour_speed_sum[7]), (2, 305));
        assert_eq!((d.hour_samples[23], d.hour_speed_sum[23]), (1, 0));
        assert_eq!(d.hour_samples.iter().map(|&n| u32::from(n)).sum::<u32>(), 3);

        // Disjoint parts add up to the whole, in any order.
        let mut part1 = DayRow::new(9);
        part1.add_block_slots(1, |i| (i == 12).then_some(100));
        let mut part2 = DayRow::new(9);
        part2.add_block_slots(3, |i| (i == 71).then_some(-5));
        let mut whole = DayRow::new(9);
        whole.add_block_slots(1, |i| (i == 12).then_some(100));
        whole.add_block_slots(3, |i| (i == 71).then_some(-5));
        let mut sum = part2.clone();
        assert!(sum.add(&part1));
        assert_eq!(sum, whole);
        // A second part of a block is refused (its runs need the block's slots), leaving the sum.
        let mut again = DayRow::new(9);
        again.add_block_slots(1, |i| (i == 13).then_some(100));
        assert!(!sum.add(&again));
        assert_eq!(sum, whole);
        assert_eq!((sum.speed_min, sum.speed_max, sum.hour_samples[7], sum.hour_samples[23]), (-5, 100, 1, 1));
    }

    /// The longest run and largest jump of a day's 288 slots, counted directly.
    fn runs_directly(day: &[Option<i16>]) -> (u16, i16) {
        let (mut longest, mut run, mut jump) = (0u16, 0u16, 0i16);
        for i in 0..day.len() {
            match (i.checked_sub(1).and_then(|p| day[p]), day[i]) {
                (Some(a), Some(b)) => {
                    jump = jump.max((a - b).abs());
                    run = if a == b { run + 1 } else { 1 };
                }
                (None, Some(_)) => run = 1,
                (_, None) => run = 0,
            }
            longest = longest.max(run);
        }
        (longest, jump)
    }

    #[test]
    fn a_days_runs_and_jumps_are_its_blocks_in_order_whatever_order_they_come_in() {
        // Days of few distinct speeds and gaps, so runs cross blocks, restart, and break at gaps.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for case in 0..500 {
            let day: Vec<Option<i16>> = (0..288)
                .map(|_| match next(10) {
                    0 => None,
                    k if case % 3 == 0 => Some(if k < 8 { 150 } else { 0 }),
                    k => Some(k as i16 * 50),
                })
                .collect();
            let blocks = |order: &[u8]| {
                let mut parts = order.iter().map(|&b| {
                    let mut part = DayRow::new(1);
                    part.add_block_slots(b, |i| day[usize::from(b) * BLOCK_SLOTS + i]);
                    part
                });
                let mut sum = parts.next().unwrap();
                for part in parts {
                    assert!(sum.add(&part));
                }
                sum
            };
            let want = runs_directly(&day);
            for order in [[0u8, 1, 2, 3], [3, 1, 0, 2], [2, 3, 0, 1]] {
                let runs = blocks(&order).runs().unwrap();
                assert_eq!((runs.longest, runs.max_jump), want, "case {case}, blocks in order {order:?}");
            }
        }
        // A stuck day: one speed in every slot is a run of 288 and no jump.
        let mut stuck = DayRow::new(1);
        for b in 0..4 {
            stuck.add_block_slots(b, |_| Some(150));
        }
        let runs = stuck.runs().unwrap();
        assert_eq!((runs.longest, runs.max_jump), (288, 0));
        assert!(DayRow::new(1).runs().is_none());
    }

    #[test]
    fn a_blocks_runs_are_its_samples_chained_one_by_one() {
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for case in 0..2000 {
            let block = (case % 4) as u8;
            let slots: Vec<Option<i16>> = (0..BLOCK_SLOTS)
                .map(|_| match next(6) {
                    0 => None,
                    k => Some(if case % 2 == 0 { (k % 2) as i16 * 10 } else { k as i16 * 7 - 20 }),
                })
                .collect();
            let mut row = DayRow::new(1);
            row.add_block_slots(block, |i| slots[i]);
            let chained = slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|v| Runs::one((usize::from(block) * BLOCK_SLOTS + i) as u16, v)))
                .reduce(Runs::then);
            assert_eq!(row.block_runs[usize::from(block)], chained, "case {case}");
        }
    }

    #[test]
    fn stored_day_rows_hold_the_sums_as_postgres_arrays() {
        let mut row = DayRow::new(42);
        row.add_block_slots(1, |i| (i % 5 == 0).then_some(i as i16 * 3));
        let stored = StoredDayRows::new(19_539, [&row, &DayRow::new(43)]);
        assert_eq!(stored.rows().len(), 1, "a row without a sample is skipped");
        let r = &stored.rows()[0];
        let runs = row.runs().unwrap();
        assert_eq!(
            (r.link_id, r.day, r.samples, r.speed_sum, r.speed_min, r.speed_max, r.longest_run, r.max_jump),
            (42, 19_539 - 10_957, 15, row.speed_sum, 0, 210, runs.longest as i16, runs.max_jump)
        );
        let samples = stored.hour_samples(r);
        // No NULLs: 24-byte header, then 24 int2 in hour order.
        assert_eq!(samples.len(), 24 + 48);
        assert_eq!(u32::from_le_bytes(samples[0..4].try_into().unwrap()) >> 2, 72);
        assert_eq!(
            (&samples[4..8], &samples[8..12], &samples[16..20]),
            (&1i32.to_le_bytes()[..], &[0u8; 4][..], &24i32.to_le_bytes()[..])
        );
        for h in 0..24 {
            let n = i16::from_le_bytes(samples[24 + 2 * h..26 + 2 * h].try_into().unwrap());
            assert_eq!(n, i16::from(row.hour_samples[h]));
        }
        let sums = stored.hour_speed_sum(r);
        assert_eq!(sums.len(), 24 + 96);
        for h in 0..24 {
            let n = i32::from_le_bytes(sums[24 + 4 * h..28 + 4 * h].try_into().unwrap());
            assert_eq!(n, row.hour_speed_sum[h]);
        }
    }

    #[test]
    fn day_rows_encode_for_copy_and_empty_rows_are_skipped() {
        let mut row = DayRow::new(42);
        row.add_block_slots(0, |i| (i == 0).then_some(125));
        let mut copy = CopyBuffer::new();
        push_day_rows(&mut copy, 19_539, [&row, &DayRow::new(43)]);
        assert_eq!(copy.rows(), 1);
        let bytes = copy.finish();
        let mut p = 19;
        let mut take = |n: usize| {
            p += n;
            bytes[p - n..p].to_vec()
        };
        assert_eq!(take(2), 10i16.to_be_bytes());
        assert_eq!(take(12), [&8i32.to_be_bytes()[..], &42i64.to_be_bytes()].concat());
        assert_eq!(take(8), [&4i32.to_be_bytes()[..], &8582i32.to_be_bytes()].concat());
        assert_eq!(take(6), [&2i32.to_be_bytes()[..], &1i16.to_be_bytes()].concat());
        assert_eq!(take(8), [&4i32.to_be_bytes()[..], &125i32.to_be_bytes()].concat());
        assert_eq!(take(6), [&2i32.to_be_bytes()[..], &125i16.to_be_bytes()].concat());
        assert_eq!(take(6), [&2i32.to_be_bytes()[..], &125i16.to_be_bytes()].concat());
        // hour_samples: 20-byte header + 24 x (4 + 2)
        assert_eq!(take(4), (20 + 24 * 6i32).to_be_bytes());
        take(20);
        assert_eq!(take(6), [&2i32.to_be_bytes()[..], &1i16.to_be_bytes()].concat());
        take(23 * 6);
        assert_eq!(take(4), (20 + 24 * 8i32).to_be_bytes());
        take(20);
        assert_eq!(take(8), [&4i32.to_be_bytes()[..], &125i32.to_be_bytes()].concat());
        take(23 * 8);
        assert_eq!(take(6), [&2i32.to_be_bytes()[..], &1i16.to_be_bytes()].concat());
        assert_eq!(take(6), [&2i32.to_be_bytes()[..], &0i16.to_be_bytes()].concat());
        assert_eq!(take(2), (-1i16).to_be_bytes());
        assert_eq!(p, bytes.len());
    }
}
