//! Block rows as Postgres holds their values in memory, encoded on the engine's threads: the
//! fixed-width columns by value, each array as the varlena `ArrayType` that `array_recv` would
//! build from COPY's text of it (`smallint[72]`, `integer[72]`, little-endian, null bitmap).
//!
//! The writer hands these values to Postgres whole (a multi-insert of finished tuples), so the
//! backend's main thread no longer receives 144 array elements per row one by one, which was
//! most of its time (see docs/write-path.md). Where COPY's machinery is still needed (a target
//! with triggers, Citus, the stage of a merge), [`StoredRows::push_copy`] gives the same rows in
//! binary COPY format.

use rayon::prelude::*;

use crate::aggregate::{Coverage, HourBatch};
use crate::block::{Block, BlockRow, BLOCK_SLOTS};
use crate::copy_binary::{CopyBuffer, INT2_OID, INT4_OID, PG_EPOCH_OFFSET_DAYS};
use crate::rollup::DayRow;

/// `sizeof(ArrayType)` plus one dimension and one lower bound: the header before any null bitmap.
const ARRAY_HEADER: usize = 24;
/// `ARR_OVERHEAD_NONULLS(1)`: where the data of an array without NULLs starts.
const OVERHEAD_NO_NULLS: usize = 24;

/// One stored row: its fixed-width values, and where its arrays are in [`StoredRows`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredRow {
    pub link_id: i64,
    /// A Postgres `date`: days since 2000-01-01.
    pub day: i32,
    pub block: i16,
    pub hours: i16,
    /// The speed array's first word in the buffer.
    speed: u32,
    /// The travel-time array's first word; `None`: NULL (no slot has a travel time).
    travel_time: Option<u32>,
}

/// Block rows with their arrays, each array starting on an 8-byte boundary (Postgres reads a
/// varlena's 4-byte header in place).
#[derive(Debug, Default)]
pub struct StoredRows {
    rows: Vec<StoredRow>,
    words: Vec<u64>,
}

impl StoredRows {
    /// Room for `rows` rows with a full speed array each, allocated once (a national block piece
    /// grows to ~20 MB: doubling it would copy it and fault in fresh pages several times).
    pub fn with_capacity(rows: usize) -> StoredRows {
        StoredRows {
            rows: Vec::with_capacity(rows),
            words: Vec::with_capacity(rows * (OVERHEAD_NO_NULLS + 2 * BLOCK_SLOTS) / 8),
        }
    }

    /// Appends a block row of local day `day` (days since 1970-01-01).
    pub fn push(&mut self, day: i64, block: u8, row: &BlockRow) {
        let speed = push_array(&mut self.words, INT2_OID, BLOCK_SLOTS, row.speed_mask, |i| row.speed[i].to_le_bytes());
        let travel_time = (row.travel_time_mask != 0).then(|| {
            push_array(&mut self.words, INT4_OID, BLOCK_SLOTS, row.travel_time_mask, |i| {
                row.travel_time[i].to_le_bytes()
            })
        });
        self.rows.push(StoredRow {
            link_id: row.link_id,
            day: (day - PG_EPOCH_OFFSET_DAYS) as i32,
            block: i16::from(block),
            hours: i16::from(row.hours),
            speed,
            travel_time,
        });
    }

    pub fn rows(&self) -> &[StoredRow] {
        &self.rows
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row's speeds: a whole `smallint[]` varlena (header included), 8-byte aligned.
    pub fn speed(&self, row: &StoredRow) -> &[u8] {
        self.array(row.speed)
    }

    /// The row's travel times as an `integer[]` varlena; `None` for NULL.
    pub fn travel_time(&self, row: &StoredRow) -> Option<&[u8]> {
        row.travel_time.map(|at| self.array(at))
    }

    /// The same row as the block row it was encoded from.
    pub fn block_row(&self, row: &StoredRow) -> BlockRow {
        let mut out = BlockRow::new(row.link_id);
        out.hours = row.hours as u8;
        for_each_element::<2>(self.speed(row), |i, b| {
            out.speed[i] = i16::from_le_bytes(b);
            out.speed_mask |= 1 << i;
        });
        if let Some(tt) = self.travel_time(row) {
            for_each_element::<4>(tt, |i, b| {
                out.travel_time[i] = i32::from_le_bytes(b);
                out.travel_time_mask |= 1 << i;
            });
        }
        out
    }

    /// Appends the rows to a binary COPY payload for the storage table.
    pub fn push_copy(&self, copy: &mut CopyBuffer) {
        for row in &self.rows {
            copy.push_block(i64::from(row.day) + PG_EPOCH_OFFSET_DAYS, row.block as u8, &self.block_row(row));
        }
    }

    fn array(&self, at: u32) -> &[u8] {
        array_at(&self.words, at)
    }
}

/// The array [`push_array`] wrote at word `at` of `words`, its varlena header included.
pub fn array_at(words: &[u64], at: u32) -> &[u8] {
    let bytes = as_bytes(&words[at as usize..]);
    let len = (u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) >> 2) as usize;
    &bytes[..len]
}

/// Appends to `words`, at a word boundary, a one-dimensional array of `len` (at most 128)
/// elements of `N` bytes, element i present when bit i of `mask` is set, laid out as Postgres'
/// `construct_md_array` lays it out; returns its first word.
pub fn push_array<const N: usize>(
    words: &mut Vec<u64>,
    element_oid: u32,
    len: usize,
    mask: u128,
    element: impl Fn(usize) -> [u8; N],
) -> u32 {
    debug_assert!(len <= 128 && (len == 128 || mask >> len == 0));
    let present = mask.count_ones() as usize;
    let nulls = present < len;
    let bitmap = len.div_ceil(8);
    // ARR_OVERHEAD_WITHNULLS / ARR_OVERHEAD_NONULLS: MAXALIGN of the header (and bitmap).
    let data_at = if nulls { (ARRAY_HEADER + bitmap).div_ceil(8) * 8 } else { ARRAY_HEADER };
    let size = data_at + present * N;
    let at = words.len();
    words.resize(at + size.div_ceil(8), 0);
    let b = as_bytes_mut(&mut words[at..]);
    // A 4-byte varlena header on a little-endian machine: the size shifted left by two.
    b[0..4].copy_from_slice(&((size as u32) << 2).to_le_bytes());
    b[4..8].copy_from_slice(&1i32.to_le_bytes()); // dimensions
    b[8..12].copy_from_slice(&(if nulls { data_at as i32 } else { 0 }).to_le_bytes()); // dataoffset
    b[12..16].copy_from_slice(&element_oid.to_le_bytes());
    b[16..20].copy_from_slice(&(len as i32).to_le_bytes());
    b[20..24].copy_from_slice(&1i32.to_le_bytes()); // lower bound
    if nulls {
        b[ARRAY_HEADER..ARRAY_HEADER + bitmap].copy_from_slice(&mask.to_le_bytes()[..bitmap]);
    }
    let mut d = data_at;
    for i in (0..len).filter(|i| mask >> i & 1 == 1) {
        b[d..d + N].copy_from_slice(&element(i));
        d += N;
    }
    at as u32
}

/// Calls `f(slot, bytes)` for each present element of an array [`StoredRows`] encoded.
fn for_each_element<const N: usize>(array: &[u8], mut f: impl FnMut(usize, [u8; N])) {
    // `dataoffset`: where the data starts after a null bitmap; 0 without one.
    let data_at = u32::from_le_bytes(array[8..12].try_into().expect("4 bytes")) as usize;
    let nulls = data_at != 0;
    let mut d = if nulls { data_at } else { OVERHEAD_NO_NULLS };
    for i in 0..BLOCK_SLOTS {
        if !nulls || array[ARRAY_HEADER + i / 8] >> (i % 8) & 1 == 1 {
            f(i, array[d..d + N].try_into().expect("N bytes"));
            d += N;
        }
    }
}

fn as_bytes(words: &[u64]) -> &[u8] {
    // SAFETY: any initialised u64 is 8 valid bytes; u8 needs no alignment; same lifetime.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 8) }
}

fn as_bytes_mut(words: &mut [u64]) -> &mut [u8] {
    // SAFETY: as `as_bytes`; any byte pattern is a valid u64.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 8) }
}

/// A finished block, ready for the writer: its rows encoded, their sums for the day's rollups,
/// and each hour's coverage.
#[derive(Debug)]
pub struct EncodedBlock {
    /// Local day, days since 1970-01-01.
    pub day: i64,
    /// 0..=3.
    pub block: u8,
    pub samples: u64,
    /// Each hour of the block with rows: its local hour and its coverage.
    pub hours: Vec<(i64, Coverage)>,
    /// The rows in link order, in the pieces they were encoded in (in parallel).
    pub rows: Vec<StoredRows>,
    /// Each row's sums for the day's rollups, in link order; empty unless asked for.
    pub sums: Vec<DayRow>,
}

impl EncodedBlock {
    /// Encodes `block` in about `pieces` link ranges on the current rayon pool; with `sums`, also
    /// each row's sums for the day's rollups.
    pub fn encode(block: &Block<'_>, pieces: usize, sums: bool) -> EncodedBlock {
        let ranges = link_ranges(&block.hours, pieces);
        let parts: Vec<(StoredRows, Vec<DayRow>)> = ranges
            .par_iter()
            .map(|&(lo, hi)| {
                let rows_in = block.rows_between(lo, hi).size_hint().0;
                let mut rows = StoredRows::with_capacity(rows_in);
                let mut day_rows = Vec::new();
                for row in block.rows_between(lo, hi) {
                    rows.push(block.day, block.block, &row);
                    if sums {
                        let mut sum = DayRow::new(row.link_id);
                        sum.add_block_row(block.block, &row);
                        day_rows.push(sum);
                    }
                }
                (rows, day_rows)
            })
            .collect();
        let hours = block.hours.par_iter().map(|h| (h.local_hour, h.coverage())).collect();
        let mut out = EncodedBlock {
            day: block.day,
            block: block.block,
            samples: block.samples(),
            hours,
            rows: Vec::new(),
            sums: Vec::new(),
        };
        for (rows, sums) in parts {
            out.rows.push(rows);
            out.sums.extend(sums);
        }
        out
    }

    /// The stored rows in link order.
    pub fn stored_rows(&self) -> impl Iterator<Item = (&StoredRows, &StoredRow)> {
        self.rows.iter().flat_map(|piece| piece.rows().iter().map(move |row| (piece, row)))
    }

    pub fn row_count(&self) -> usize {
        self.rows.iter().map(StoredRows::len).sum()
    }

    /// The block's rows as a binary COPY payload for the storage table.
    pub fn push_copy(&self, copy: &mut CopyBuffer) {
        for piece in &self.rows {
            piece.push_copy(copy);
        }
    }
}

/// Splits the link ids of a block's hours into about `pieces` ranges `[lo, hi)` of similar row
/// counts (`None`: unbounded), taken from the hour with the most rows.
fn link_ranges(hours: &[&HourBatch], pieces: usize) -> Vec<(Option<i64>, Option<i64>)> {
    const MIN_PIECE: usize = 4096;
    let Some(largest) = hours.iter().max_by_key(|h| h.rows.len()) else { return vec![(None, None)] };
    let pieces = pieces.clamp(1, (largest.rows.len() / MIN_PIECE).max(1));
    let mut cuts: Vec<i64> = (1..pieces).map(|k| largest.rows[k * largest.rows.len() / pieces].link_id).collect();
    cuts.dedup();
    let mut ranges = Vec::with_capacity(cuts.len() + 1);
    let mut lo = None;
    for cut in cuts {
        ranges.push((lo, Some(cut)));
        lo = Some(cut);
    }
    ranges.push((lo, None));
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::HourlyRow;
    use crate::block::blocks;

    fn random_row(link_id: i64, seed: &mut u64) -> BlockRow {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        let mut row = BlockRow::new(link_id);
        let density = next() % 4;
        for i in 0..BLOCK_SLOTS {
            let keep = match density {
                0 => true,
                1 => next() % 2 == 0,
                2 => next() % 10 == 0,
                _ => i == 71,
            };
            if keep {
                row.speed[i] = (next() % 3000) as i16;
                row.speed_mask |= 1 << i;
                row.hours |= 1 << (i / 12);
                if next() % 3 != 0 {
                    row.travel_time[i] = (next() % 100_000) as i32 - 50;
                    row.travel_time_mask |= 1 << i;
                }
            }
        }
        row
    }

    /// What Postgres' `construct_md_array` builds for a one-dimensional array, written out
    /// directly from its definition (header, null bitmap, MAXALIGN, elements in order).
    fn reference_array<const N: usize>(oid: u32, slots: &[Option<[u8; N]>]) -> Vec<u8> {
        let nulls = slots.iter().any(Option::is_none);
        let bitmap = slots.len().div_ceil(8);
        let maxalign = |n: usize| n.div_ceil(8) * 8;
        let overhead = if nulls { maxalign(16 + 8 + bitmap) } else { maxalign(16 + 8) };
        let mut b = vec![0u8; overhead];
        b[4..8].copy_from_slice(&1i32.to_le_bytes());
        b[8..12].copy_from_slice(&(if nulls { overhead as i32 } else { 0 }).to_le_bytes());
        b[12..16].copy_from_slice(&oid.to_le_bytes());
        b[16..20].copy_from_slice(&(slots.len() as i32).to_le_bytes());
        b[20..24].copy_from_slice(&1i32.to_le_bytes());
        for (i, s) in slots.iter().enumerate() {
            if let Some(v) = s {
                if nulls {
                    b[24 + i / 8] |= 1 << (i % 8);
                }
                b.extend_from_slice(v);
            }
        }
        let len = b.len() as u32;
        b[0..4].copy_from_slice(&(len << 2).to_le_bytes());
        b
    }

    #[test]
    fn arrays_are_laid_out_as_postgres_builds_them_and_read_back() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let mut stored = StoredRows::default();
        let rows: Vec<BlockRow> = (0..500).map(|i| random_row(1_000_000 + i, &mut seed)).collect();
        for row in &rows {
            stored.push(19_539, 2, row);
        }
        assert_eq!(stored.len(), rows.len());
        for (row, s) in rows.iter().zip(stored.rows()) {
            assert_eq!((s.link_id, s.day, s.block, s.hours), (row.link_id, 19_539 - 10_957, 2, i16::from(row.hours)));
            let speeds: Vec<Option<[u8; 2]>> =
                (0..BLOCK_SLOTS).map(|i| row.speed_at(i).map(i16::to_le_bytes)).collect();
            assert_eq!(stored.speed(s), reference_array(INT2_OID, &speeds));
            assert_eq!(stored.speed(s).as_ptr() as usize % 8, 0);
            match stored.travel_time(s) {
                None => assert_eq!(row.travel_time_mask, 0),
                Some(tt) => {
                    let times: Vec<Option<[u8; 4]>> =
                        (0..BLOCK_SLOTS).map(|i| row.travel_time_at(i).map(i32::to_le_bytes)).collect();
                    assert_eq!(tt, reference_array(INT4_OID, &times));
                }
            }
            // What the views' functions read (`block::hour_slots`) sees the same speeds.
            let bytes = stored.speed(s);
            let nulls = (bytes[8..12] != [0; 4]).then(|| &bytes[24..33]);
            let data = &bytes[if nulls.is_some() { 40 } else { 24 }..];
            for h in 0..6 {
                let slots = crate::block::hour_slots(nulls, data, h).unwrap();
                for (i, slot) in slots.iter().enumerate() {
                    assert_eq!(*slot, row.speed_at(h * 12 + i));
                }
            }
            assert_eq!(stored.block_row(s), *row);
        }
    }

    #[test]
    fn copy_of_stored_rows_equals_copy_of_the_block_rows() {
        let mut seed = 42;
        let mut stored = StoredRows::default();
        let mut direct = CopyBuffer::new();
        for i in 0..300 {
            let row = random_row(i * 7, &mut seed);
            stored.push(19_000, 3, &row);
            direct.push_block(19_000, 3, &row);
        }
        let mut via = CopyBuffer::new();
        stored.push_copy(&mut via);
        assert_eq!(via.finish(), direct.finish());
    }

    #[test]
    fn a_block_encoded_in_pieces_has_its_rows_and_sums_in_link_order() {
        // Three hours of one block with overlapping, partly disjoint links.
        let mut hours = Vec::new();
        for (h, step) in [(12 * 24 + 6, 1), (12 * 24 + 7, 2), (12 * 24 + 9, 3)] {
            let mut rows = Vec::new();
            for link in (0..20_000).step_by(step) {
                let mut r = HourlyRow::new(link);
                r.apply((link % 12) as u8, 20.5 + (link % 50) as f32, (link % 3 == 0).then_some(link as i32));
                rows.push(r);
            }
            hours.push(HourBatch { local_hour: h, rows });
        }
        let block = &blocks(&hours)[0];
        let whole: Vec<BlockRow> = block.rows().collect();
        for pieces in [1, 2, 3, 8] {
            let encoded = EncodedBlock::encode(block, pieces, true);
            assert!(encoded.rows.len() <= pieces.max(1));
            assert_eq!((encoded.day, encoded.block, encoded.samples), (12, 1, block.samples()));
            assert_eq!(encoded.hours.len(), 3);
            assert_eq!(encoded.hours[1], (12 * 24 + 7, hours[1].coverage()));
            let rows: Vec<BlockRow> = encoded.stored_rows().map(|(p, r)| p.block_row(r)).collect();
            assert_eq!(rows, whole);
            assert_eq!(encoded.sums.len(), whole.len());
            for (sum, row) in encoded.sums.iter().zip(&whole) {
                let mut expected = DayRow::new(row.link_id);
                expected.add_block_row(1, row);
                assert_eq!(*sum, expected);
            }
        }
        assert!(EncodedBlock::encode(block, 4, false).sums.is_empty());
    }
}
