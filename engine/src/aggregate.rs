//! Folding samples into hourly rows. Each hourly row holds its link's twelve 5-minute slots; the
//! first sample for a slot wins and any later one is a duplicate, counted and not applied. Loading
//! the same samples twice therefore changes nothing, and merging rows is order-independent only
//! in which rows meet, not in who wins: callers apply samples in file order.

use std::collections::BTreeMap;

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

use crate::format::Sample;

pub const SLOTS: usize = 12;

/// One link's hour: twelve optional speeds and travel times. A travel time is kept only with the
/// speed of the same sample.
#[derive(Clone, Debug, PartialEq)]
pub struct HourlyRow {
    pub link_id: i64,
    pub speed: [f32; SLOTS],
    pub travel_time: [i32; SLOTS],
    /// Bit i set: slot i has a speed.
    pub speed_mask: u16,
    /// Bit i set: slot i has a travel time.
    pub travel_time_mask: u16,
}

impl HourlyRow {
    pub fn new(link_id: i64) -> HourlyRow {
        HourlyRow { link_id, speed: [0.0; SLOTS], travel_time: [0; SLOTS], speed_mask: 0, travel_time_mask: 0 }
    }

    /// Applies a sample; false when its slot already had one (a duplicate).
    pub fn apply(&mut self, slot: u8, speed: f32, travel_time: Option<i32>) -> bool {
        let bit = 1u16 << slot;
        if self.speed_mask & bit != 0 {
            return false;
        }
        self.speed_mask |= bit;
        self.speed[slot as usize] = speed;
        if let Some(t) = travel_time {
            self.travel_time_mask |= bit;
            self.travel_time[slot as usize] = t;
        }
        true
    }

    pub fn speed_at(&self, slot: usize) -> Option<f32> {
        (self.speed_mask & (1 << slot) != 0).then_some(self.speed[slot])
    }

    pub fn travel_time_at(&self, slot: usize) -> Option<i32> {
        (self.travel_time_mask & (1 << slot) != 0).then_some(self.travel_time[slot])
    }

    pub fn samples(&self) -> u16 {
        self.speed_mask.count_ones() as u16
    }

    /// (average, minimum, maximum) of the present speeds. The average sums in f64 in slot order,
    /// as Postgres' `avg(real)` does, then rounds once to f32.
    pub fn speed_stats(&self) -> Option<(f32, f32, f32)> {
        crate::block::speed_stats((0..SLOTS).filter_map(|i| self.speed_at(i)))
    }
}

/// The rows of one local hour, sorted by link id.
#[derive(Clone, Debug, PartialEq)]
pub struct HourBatch {
    /// Hours since 1970-01-01 00:00 in the source's local time.
    pub local_hour: i64,
    pub rows: Vec<HourlyRow>,
}

impl HourBatch {
    pub fn samples(&self) -> u64 {
        self.rows.iter().map(|r| u64::from(r.samples())).sum()
    }

    /// What reported in this hour: the links with a sample, and per slot the links with one
    /// (the coverage that the missing-data report reads).
    pub fn coverage(&self) -> Coverage {
        let mut c = Coverage::default();
        for row in self.rows.iter().filter(|r| r.speed_mask != 0) {
            c.links += 1;
            for (slot, n) in c.slot_links.iter_mut().enumerate() {
                *n += u32::from(row.speed_mask >> slot & 1);
            }
        }
        c
    }
}

/// Links reporting in an hour, in all and per 5-minute slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub links: u32,
    pub slot_links: [u32; SLOTS],
}

/// Open hours of a stream being loaded.
#[derive(Default)]
pub struct Accumulator {
    hours: BTreeMap<i64, HourRows>,
}

/// One open hour: its rows in the order their links first appeared, found through a cursor
/// first and a hash index second. A national file lists the same ~449,000 links in the same
/// order every 5 minutes, so the next sample's row is almost always the one after the last
/// one's: following the file's order walks memory sequentially, where a hash look-up per sample
/// missed the cache every time (it was the merge thread's main cost).
#[derive(Default)]
struct HourRows {
    rows: Vec<HourlyRow>,
    index: FxHashMap<i64, u32>,
    /// Where the next sample's row most likely is.
    cursor: usize,
}

impl HourRows {
    fn row(&mut self, link_id: i64) -> &mut HourlyRow {
        let at = match self.rows.get(self.cursor) {
            Some(row) if row.link_id == link_id => self.cursor,
            _ => match self.index.entry(link_id) {
                Entry::Occupied(e) => *e.get() as usize,
                Entry::Vacant(e) => {
                    e.insert(self.rows.len() as u32);
                    self.rows.push(HourlyRow::new(link_id));
                    self.rows.len() - 1
                }
            },
        };
        self.cursor = at + 1;
        &mut self.rows[at]
    }
}

impl Accumulator {
    /// Applies a sample; false for a duplicate.
    pub fn apply(&mut self, s: &Sample) -> bool {
        self.hours.entry(s.local_hour).or_default().row(s.link_id).apply(s.slot, s.speed, s.travel_time)
    }

    pub fn is_empty(&self) -> bool {
        self.hours.is_empty()
    }

    /// Removes and returns the hours before `local_hour`.
    pub fn take_before(&mut self, local_hour: i64) -> Vec<HourBatch> {
        let kept = self.hours.split_off(&local_hour);
        let done = std::mem::replace(&mut self.hours, kept);
        done.into_iter().map(|(h, rows)| batch(h, rows)).collect()
    }

    pub fn take_all(&mut self) -> Vec<HourBatch> {
        std::mem::take(&mut self.hours).into_iter().map(|(h, rows)| batch(h, rows)).collect()
    }
}

fn batch(local_hour: i64, hour: HourRows) -> HourBatch {
    let mut rows = hour.rows;
    // Usually sorted already (files list links in order), which the sort notices in one pass.
    rows.sort_unstable_by_key(|r| r.link_id);
    HourBatch { local_hour, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(link_id: i64, local_hour: i64, slot: u8, speed: f32, tt: Option<i32>) -> Sample {
        Sample { link_id, local_hour, slot, speed, travel_time: tt }
    }

    #[test]
    fn first_sample_wins_and_keeps_its_travel_time() {
        let mut row = HourlyRow::new(7);
        assert!(row.apply(3, 40.5, None));
        assert!(!row.apply(3, 99.0, Some(12)));
        assert_eq!(row.speed_at(3), Some(40.5));
        assert_eq!(row.travel_time_at(3), None);
        assert!(row.apply(4, 30.0, Some(55)));
        assert_eq!(row.travel_time_at(4), Some(55));
        assert_eq!(row.samples(), 2);
    }

    #[test]
    fn stats_over_present_slots_only() {
        let mut row = HourlyRow::new(1);
        assert_eq!(row.speed_stats(), None);
        row.apply(0, 10.0, None);
        row.apply(11, 25.5, None);
        row.apply(5, 0.0, None);
        assert_eq!(row.speed_stats(), Some((35.5f64 as f32 / 3.0, 0.0, 25.5)));
    }

    #[test]
    fn accumulator_splits_hours_and_sorts_links() {
        let mut acc = Accumulator::default();
        for s in [sample(30, 10, 0, 1.0, None), sample(20, 10, 1, 2.0, None), sample(20, 11, 0, 3.0, None)] {
            assert!(acc.apply(&s));
        }
        assert!(!acc.apply(&sample(20, 10, 1, 9.0, None)));
        let early = acc.take_before(11);
        assert_eq!(early.len(), 1);
        assert_eq!(early[0].local_hour, 10);
        assert_eq!(early[0].rows.iter().map(|r| r.link_id).collect::<Vec<_>>(), vec![20, 30]);
        assert_eq!(early[0].samples(), 2);
        let rest = acc.take_all();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].local_hour, 11);
        assert!(acc.is_empty());
    }

    #[test]
    fn coverage_counts_links_per_slot() {
        let mut a = Accumulator::default();
        a.apply(&sample(1, 10, 0, 50.0, None));
        a.apply(&sample(1, 10, 11, 51.0, Some(3)));
        a.apply(&sample(2, 10, 0, 60.0, None));
        a.apply(&sample(2, 10, 0, 61.0, None)); // a duplicate changes nothing
        a.apply(&sample(3, 11, 5, 70.0, None));
        let hours = a.take_all();
        let mut slots = [0; SLOTS];
        slots[0] = 2;
        slots[11] = 1;
        assert_eq!(hours[0].coverage(), Coverage { links: 2, slot_links: slots });
        let mut slots = [0; SLOTS];
        slots[5] = 1;
        assert_eq!(hours[1].coverage(), Coverage { links: 1, slot_links: slots });
        assert_eq!(HourBatch { local_hour: 0, rows: vec![HourlyRow::new(9)] }.coverage(), Coverage::default());
    }

    #[test]
    fn links_out_of_the_usual_order_still_find_their_rows() {
        let mut acc = Accumulator::default();
        // Two intervals in one order, a third in another, and a link that appears late.
        for (slot, links) in [(0u8, vec![5, 3, 9]), (1, vec![5, 3, 9]), (2, vec![9, 5, 7, 3])] {
            for link in links {
                assert!(acc.apply(&sample(link, 0, slot, f32::from(slot), None)));
            }
        }
        assert!(!acc.apply(&sample(3, 0, 1, 99.0, None)), "a repeat is a duplicate, wherever the cursor is");
        let hour = acc.take_all().remove(0);
        assert_eq!(hour.rows.iter().map(|r| r.link_id).collect::<Vec<_>>(), vec![3, 5, 7, 9]);
        assert_eq!(hour.rows.iter().map(|r| r.samples()).collect::<Vec<_>>(), vec![3, 3, 1, 3]);
        assert_eq!(hour.rows[0].speed_at(1), Some(1.0));
    }
}
