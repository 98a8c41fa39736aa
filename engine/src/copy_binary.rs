//! Rows in PostgreSQL's binary COPY format, ready for `COPY ... FROM ... (FORMAT binary)`.
//!
//! Encoding is plain byte work, tested here without a server. Two row shapes: the stored block
//! rows (link_id, day, block, hours, speed smallint[72], travel_time int[72] or NULL), and the
//! hourly rows of the first release (hour, link_id, speed, travel_time, samples, speed_avg,
//! speed_min, speed_max), which the benchmark's binary-COPY baseline writes.

use crate::aggregate::{HourlyRow, SLOTS};
use crate::block::{BlockRow, BLOCK_SLOTS};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
const COLUMNS: i16 = 8;
const BLOCK_COLUMNS: i16 = 6;
/// Signature, flags and header extension length.
const HEADER_LEN: usize = SIGNATURE.len() + 8;
/// pg_type OIDs of the array element types (`real`, `integer`).
const FLOAT4_OID: u32 = 700;
pub(crate) const INT4_OID: u32 = 23;
pub(crate) const INT2_OID: u32 = 21;
/// Days between 1970-01-01 and 2000-01-01, the epoch of Postgres dates.
pub const PG_EPOCH_OFFSET_DAYS: i64 = 10_957;

/// Microseconds between 1970-01-01 and 2000-01-01, the epoch of Postgres timestamps.
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// A COPY payload under construction.
pub struct CopyBuffer {
    buf: Vec<u8>,
    rows: u64,
}

impl Default for CopyBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyBuffer {
    pub fn new() -> CopyBuffer {
        let mut buf = Vec::with_capacity(1 << 16);
        buf.extend_from_slice(SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        CopyBuffer { buf, rows: 0 }
    }

    /// Appends one row; `hour` is a Postgres timestamptz (microseconds since 2000-01-01 UTC).
    pub fn push(&mut self, hour: i64, row: &HourlyRow) {
        let b = &mut self.buf;
        b.extend_from_slice(&COLUMNS.to_be_bytes());
        field(b, &hour.to_be_bytes());
        field(b, &row.link_id.to_be_bytes());
        array(b, FLOAT4_OID, row.speed_mask, |i| row.speed[i].to_bits().to_be_bytes());
        array(b, INT4_OID, row.travel_time_mask, |i| row.travel_time[i].to_be_bytes());
        field(b, &(row.samples() as i16).to_be_bytes());
        match row.speed_stats() {
            Some((avg, min, max)) => {
                for v in [avg, min, max] {
                    field(b, &v.to_bits().to_be_bytes());
                }
            }
            None => {
                for _ in 0..3 {
                    b.extend_from_slice(&(-1i32).to_be_bytes());
                }
            }
        }
        self.rows += 1;
    }

    /// Appends one stored block row of local day `day` (days since 1970-01-01).
    pub fn push_block(&mut self, day: i64, block: u8, row: &BlockRow) {
        let b = &mut self.buf;
        b.extend_from_slice(&BLOCK_COLUMNS.to_be_bytes());
        field(b, &row.link_id.to_be_bytes());
        field(b, &((day - PG_EPOCH_OFFSET_DAYS) as i32).to_be_bytes());
        field(b, &i16::from(block).to_be_bytes());
        field(b, &i16::from(row.hours).to_be_bytes());
        wide_array(b, INT2_OID, row.speed_mask, |i| row.speed[i].to_be_bytes());
        if row.travel_time_mask == 0 {
            b.extend_from_slice(&(-1i32).to_be_bytes());
        } else {
            wide_array(b, INT4_OID, row.travel_time_mask, |i| row.travel_time[i].to_be_bytes());
        }
        self.rows += 1;
    }

    /// Appends one row of non-NULL fields, each given as its binary representation.
    pub fn push_fields(&mut self, fields: &[&[u8]]) {
        self.buf.extend_from_slice(&(fields.len() as i16).to_be_bytes());
        for f in fields {
            field(&mut self.buf, f);
        }
        self.rows += 1;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The finished payload, trailer included.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }

    /// Appends the trailer and returns the payload, keeping the buffer for [`CopyBuffer::clear`]:
    /// a national hour is about 100 MB, which is worth allocating once, not every hour.
    pub fn finished(&mut self) -> &[u8] {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        &self.buf
    }

    /// Empties the buffer for the next payload (header kept, allocation kept).
    pub fn clear(&mut self) {
        self.buf.truncate(HEADER_LEN);
        self.rows = 0;
    }
}

fn field(b: &mut Vec<u8>, bytes: &[u8]) {
    b.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    b.extend_from_slice(bytes);
}

/// The binary representation of a one-dimensional array without NULLs, subscripted from 1.
pub(crate) fn int_array<const N: usize>(element_oid: u32, elements: impl ExactSizeIterator<Item = [u8; N]>) -> Vec<u8> {
    let mut b = Vec::with_capacity(20 + elements.len() * (4 + N));
    b.extend_from_slice(&1i32.to_be_bytes()); // dimensions
    b.extend_from_slice(&0i32.to_be_bytes()); // has nulls
    b.extend_from_slice(&element_oid.to_be_bytes());
    b.extend_from_slice(&(elements.len() as i32).to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes()); // lower bound
    for e in elements {
        b.extend_from_slice(&(N as i32).to_be_bytes());
        b.extend_from_slice(&e);
    }
    b
}

/// A one-dimensional array of 12 four-byte elements, NULL where `mask` has no bit.
fn array(b: &mut Vec<u8>, element_oid: u32, mask: u16, element: impl Fn(usize) -> [u8; 4]) {
    let present = mask.count_ones() as usize;
    let len = 20 + present * 8 + (SLOTS - present) * 4;
    b.extend_from_slice(&(len as i32).to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes()); // dimensions
    b.extend_from_slice(&i32::from(present < SLOTS).to_be_bytes()); // has nulls
    b.extend_from_slice(&element_oid.to_be_bytes());
    b.extend_from_slice(&(SLOTS as i32).to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes()); // lower bound
    for i in 0..SLOTS {
        if mask & (1 << i) != 0 {
            b.extend_from_slice(&4i32.to_be_bytes());
            b.extend_from_slice(&element(i));
        } else {
            b.extend_from_slice(&(-1i32).to_be_bytes());
        }
    }
}

/// A one-dimensional array of the block's 72 elements, NULL where `mask` has no bit.
fn wide_array<const N: usize>(b: &mut Vec<u8>, element_oid: u32, mask: u128, element: impl Fn(usize) -> [u8; N]) {
    let present = mask.count_ones() as usize;
    let len = 20 + present * (4 + N) + (BLOCK_SLOTS - present) * 4;
    b.extend_from_slice(&(len as i32).to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes()); // dimensions
    b.extend_from_slice(&i32::from(present < BLOCK_SLOTS).to_be_bytes()); // has nulls
    b.extend_from_slice(&element_oid.to_be_bytes());
    b.extend_from_slice(&(BLOCK_SLOTS as i32).to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes()); // lower bound
    for i in 0..BLOCK_SLOTS {
        if mask >> i & 1 == 1 {
            b.extend_from_slice(&(N as i32).to_be_bytes());
            b.extend_from_slice(&element(i));
        } else {
            b.extend_from_slice(&(-1i32).to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_header_rows_and_trailer() {
        let mut row = HourlyRow::new(1_000_000_100);
        row.apply(0, 35.0, None);
        row.apply(11, 25.5, Some(40));
        let mut copy = CopyBuffer::new();
        copy.push(0x0102, &row);
        assert_eq!(copy.rows(), 1);
        let bytes = copy.finish();
        assert_eq!(&bytes[..11], SIGNATURE);
        assert_eq!(&bytes[11..19], &[0; 8]);
        let mut p = 19;
        let mut take = |n: usize| {
            p += n;
            &bytes[p - n..p]
        };
        assert_eq!(take(2), &8i16.to_be_bytes());
        assert_eq!(take(4), &8i32.to_be_bytes());
        assert_eq!(take(8), &0x0102i64.to_be_bytes());
        assert_eq!(take(4), &8i32.to_be_bytes());
        assert_eq!(take(8), &1_000_000_100i64.to_be_bytes());
        // speed: 20-byte header, 2 present elements of 4+4 bytes, 10 NULLs of 4 bytes
        assert_eq!(take(4), &(20 + 16 + 40i32).to_be_bytes());
        assert_eq!(take(4), &1i32.to_be_bytes());
        assert_eq!(take(4), &1i32.to_be_bytes());
        assert_eq!(take(4), &FLOAT4_OID.to_be_bytes());
        assert_eq!(take(8), &[0, 0, 0, 12, 0, 0, 0, 1]);
        assert_eq!(take(4), &4i32.to_be_bytes());
        assert_eq!(take(4), &35.0f32.to_bits().to_be_bytes());
        for _ in 1..11 {
            assert_eq!(take(4), &(-1i32).to_be_bytes());
        }
        assert_eq!(take(4), &4i32.to_be_bytes());
        assert_eq!(take(4), &25.5f32.to_bits().to_be_bytes());
        // travel_time: one present element
        assert_eq!(take(4), &(20 + 8 + 44i32).to_be_bytes());
        take(20 + 44 + 8);
        assert_eq!(take(4), &2i32.to_be_bytes());
        assert_eq!(take(2), &2i16.to_be_bytes());
        for v in [30.25f32, 25.5, 35.0] {
            assert_eq!(take(4), &4i32.to_be_bytes());
            assert_eq!(take(4), &v.to_bits().to_be_bytes());
        }
        assert_eq!(take(2), &(-1i16).to_be_bytes());
        assert_eq!(p, bytes.len());
    }

    #[test]
    fn a_cleared_buffer_encodes_like_a_new_one() {
        let mut row = HourlyRow::new(7);
        row.apply(3, 42.5, Some(9));
        let mut fresh = CopyBuffer::new();
        fresh.push(1, &row);
        let expected = fresh.finish();
        let mut reused = CopyBuffer::new();
        reused.push(2, &row);
        reused.push(3, &row);
        let _ = reused.finished();
        reused.clear();
        reused.push(1, &row);
        assert_eq!(reused.rows(), 1);
        assert_eq!(reused.finished(), &expected[..]);
    }

    #[test]
    fn encodes_a_block_row() {
        use crate::aggregate::HourBatch;
        let mut hourly = HourlyRow::new(42);
        hourly.apply(0, 12.5, None);
        let hours = [HourBatch { local_hour: 19_539 * 24 + 7, rows: vec![hourly] }];
        let blocks = crate::block::blocks(&hours);
        let row = blocks[0].rows().next().unwrap();
        let mut copy = CopyBuffer::new();
        copy.push_block(19_539, 1, &row);
        let bytes = copy.finish();
        let mut p = HEADER_LEN;
        let mut take = |n: usize| {
            p += n;
            &bytes[p - n..p]
        };
        assert_eq!(take(2), &6i16.to_be_bytes());
        assert_eq!(take(12), &[&8i32.to_be_bytes()[..], &42i64.to_be_bytes()].concat()[..]);
        // 2023-07-01 is day 8582 of the Postgres epoch.
        assert_eq!(take(8), &[&4i32.to_be_bytes()[..], &8582i32.to_be_bytes()].concat()[..]);
        assert_eq!(take(6), &[&2i32.to_be_bytes()[..], &1i16.to_be_bytes()].concat()[..]);
        assert_eq!(take(6), &[&2i32.to_be_bytes()[..], &0b10i16.to_be_bytes()].concat()[..]);
        // speed: 20-byte header, slot 12 present (4 + 2 bytes), 71 NULLs of 4 bytes
        assert_eq!(take(4), &(20 + 6 + 71 * 4i32).to_be_bytes());
        assert_eq!(take(4), &1i32.to_be_bytes());
        assert_eq!(take(4), &1i32.to_be_bytes());
        assert_eq!(take(4), &INT2_OID.to_be_bytes());
        assert_eq!(take(8), &[0, 0, 0, 72, 0, 0, 0, 1]);
        for _ in 0..12 {
            assert_eq!(take(4), &(-1i32).to_be_bytes());
        }
        assert_eq!(take(6), &[&2i32.to_be_bytes()[..], &125i16.to_be_bytes()].concat()[..]);
        take(59 * 4);
        // no travel time at all: a NULL column
        assert_eq!(take(4), &(-1i32).to_be_bytes());
        assert_eq!(take(2), &(-1i16).to_be_bytes());
        assert_eq!(p, bytes.len());
    }
}
