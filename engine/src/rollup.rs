//! Daily rollups: one row per link and local day with the day's sample count, sum, minimum and
//! maximum of the speeds (tenths of km/h) and, per local hour, the sample count and sum.
//!
//! First sample wins makes every stored sample an addition, so a rollup is exact by adding up the
//! samples of the block rows a load writes (`DayRow::add_block_row`), and rollups of disjoint sets
//! of samples add up (`DayRow::add`): the writer adds a transaction's new rows to what is stored.
//! Where a transaction merged into rows that existed, it rebuilds the day's rows of those links
//! from the stored block rows instead (the same `add_block_row`, fed from the storage).

use crate::block::{BlockRow, BLOCK_HOURS, BLOCK_SLOTS};
use crate::copy_binary::{CopyBuffer, PG_EPOCH_OFFSET_DAYS};

pub const DAY_HOURS: usize = 24;

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
        }
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
        self.add_block_slots(block, |slot| row.speed_at(slot));
    }

    /// Adds the 72 slots of block `block` of the day, `slot(i)` the speed of slot i.
    pub fn add_block_slots(&mut self, block: u8, slot: impl Fn(usize) -> Option<i16>) {
        let first_hour = usize::from(block) * BLOCK_HOURS as usize;
        for i in 0..BLOCK_SLOTS {
            if let Some(tenths) = slot(i) {
                self.add_sample(first_hour + i / crate::aggregate::SLOTS, tenths);
            }
        }
    }

    /// Adds the rollup of samples disjoint from this one's.
    pub fn add(&mut self, other: &DayRow) {
        debug_assert_eq!(self.link_id, other.link_id);
        self.samples += other.samples;
        self.speed_sum += other.speed_sum;
        self.speed_min = self.speed_min.min(other.speed_min);
        self.speed_max = self.speed_max.max(other.speed_max);
        for h in 0..DAY_HOURS {
            self.hour_samples[h] += other.hour_samples[h];
            self.hour_speed_sum[h] += other.hour_speed_sum[h];
        }
    }
}

/// Appends `rows` of local day `day` (days since 1970-01-01) to a COPY payload for the rollup
/// table `(link_id bigint, day date, samples smallint, speed_sum int, speed_min smallint,
/// speed_max smallint, hour_samples smallint[24], hour_speed_sum int[24])`. Rows without a sample
/// are skipped: a rollup row always has one.
pub fn push_day_rows<'a>(copy: &mut CopyBuffer, day: i64, rows: impl IntoIterator<Item = &'a DayRow>) {
    for row in rows.into_iter().filter(|r| r.samples > 0) {
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
        ]);
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
        sum.add(&part1);
        assert_eq!(sum, whole);
        assert_eq!((sum.speed_min, sum.speed_max, sum.hour_samples[7], sum.hour_samples[23]), (-5, 100, 1, 1));
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
        assert_eq!(take(2), 8i16.to_be_bytes());
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
        assert_eq!(take(2), (-1i16).to_be_bytes());
        assert_eq!(p, bytes.len());
    }
}
