//! The columns of the hourly view, computed from a stored block row: hour `h` (0-5) of the block
//! is slots `12 h .. 12 h + 11` of its `smallint[72]` of tenths of km/h.
//!
//! These run once per hourly row a query reads (45,000 calls for one national hour at 1/10
//! scale, millions for a month's aggregate), so they read the array in place, as Postgres' own
//! array functions do, instead of converting it: through pgrx's `Array` and `Vec` conversions a
//! call cost 0.75-1.6 µs, which made the view 5-8x slower than the table it replaces. They are
//! declared in SQL below (`LANGUAGE c`); the slot arithmetic is the engine's
//! [`vs_ingest_engine::block::hour_slots`], tested there.

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use vs_ingest_engine::aggregate::SLOTS;
use vs_ingest_engine::block::{hour_average, hour_min_max, hour_samples, hour_slots, hours_mask, kmh, BLOCK_SLOTS};

/// A stored `smallint[72]` read in place: its null bitmap and its present elements' bytes.
struct Stored<'a> {
    nulls: Option<&'a [u8]>,
    data: &'a [u8],
    hour: usize,
}

impl Stored<'_> {
    fn slots(&self) -> [Option<i16>; SLOTS] {
        match hour_slots(self.nulls, self.data, self.hour) {
            Some(slots) => slots,
            None => {
                ereport!(
                    ERROR,
                    PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                    "vs_ingest: a stored speed array is shorter than its null bitmap says"
                );
            }
        }
    }
}

/// A `smallint[]` read in place, if it has the layout of stored speeds: one dimension of 72
/// elements subscripted from 1. `None` otherwise.
///
/// # Safety
/// `datum` is a non-NULL `smallint[]` datum of the current call; the result borrows it (or its
/// detoasted copy in the call's memory context).
unsafe fn stored_layout<'a>(datum: pg_sys::Datum, hour: usize) -> Option<Stored<'a>> {
    // SAFETY: per the contract, a varlena of type smallint[]: detoasting returns it unchanged when
    // it is stored inline with a 4-byte header, else (a sparse row stored with a 1-byte header,
    // compressed or external) a copy in the call's memory context with a 4-byte header.
    unsafe {
        let a = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *const pg_sys::ArrayType;
        let total = pgrx::varlena::varsize_any(a.cast());
        let header = std::mem::size_of::<pg_sys::ArrayType>();
        let dims = a.cast::<u8>().add(header).cast::<i32>();
        if (*a).ndim != 1 || *dims != BLOCK_SLOTS as i32 || *dims.add(1) != 1 || (*a).elemtype != pg_sys::INT2OID {
            return None;
        }
        // The header, one dimension and its lower bound, then the null bitmap if any; the data
        // starts at `dataoffset`, or after the maximally aligned header without a bitmap.
        let bounds_end = header + 2 * 4;
        let (nulls, data_start) = match (*a).dataoffset {
            0 => (None, (bounds_end + 7) & !7),
            offset => (
                Some(std::slice::from_raw_parts(a.cast::<u8>().add(bounds_end), BLOCK_SLOTS.div_ceil(8))),
                offset as usize,
            ),
        };
        let data = std::slice::from_raw_parts(a.cast::<u8>().add(data_start), total.saturating_sub(data_start));
        Some(Stored { nulls, data, hour })
    }
}

/// Reads argument 0 (a stored `smallint[72]`) and argument 1 (the hour in its block).
///
/// # Safety
/// `fcinfo` is a call of one of the functions below, whose SQL signature is
/// `(smallint[], smallint)`, strict: both arguments are present and not NULL. The result borrows
/// the argument, which lives as long as the call.
unsafe fn stored<'a>(fcinfo: pg_sys::FunctionCallInfo) -> Stored<'a> {
    // SAFETY: per the function's contract, both arguments exist and argument 0 is a smallint[].
    unsafe {
        let args = (*fcinfo).args.as_slice(2);
        let hour = (args[1].value.value() as i16).clamp(0, 5) as usize;
        match stored_layout(args[0].value, hour) {
            Some(stored) => stored,
            None => {
                ereport!(
                    ERROR,
                    PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                    format!("vs_ingest: a stored speed array must be a smallint[{BLOCK_SLOTS}] subscripted from 1"),
                    "A row written into the storage directly breaks the layout the views read; ALTER TABLE ... \
                     VALIDATE CONSTRAINT vs_ingest_speed_slots finds such rows."
                );
            }
        }
    }
}

/// `vs_ingest.speed_fits(speed, hours)`, the storage's CHECK `vs_ingest_speed_slots`: `speed` has
/// the stored layout (72 slots from subscript 1) and `hours` marks exactly its hours with a sample.
/// The views read slots both by position and by subscript, and show the hours `hours` marks.
///
/// # Safety
/// Called by Postgres only, as that SQL function (strict, `(smallint[], smallint)`).
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn vs_ingest_speed_fits(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: both arguments exist (strict); argument 0 is a smallint[], argument 1 a smallint.
    unsafe {
        let args = (*fcinfo).args.as_slice(2);
        let hours = args[1].value.value() as i16;
        let fits = stored_layout(args[0].value, 0).is_some_and(|s| i16::from(hours_mask(s.nulls)) == hours);
        pg_sys::Datum::from(fits)
    }
}

#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_vs_ingest_speed_fits() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

fn float4(v: f32) -> pg_sys::Datum {
    pg_sys::Datum::from(v.to_bits())
}

/// Returns `value`, or NULL.
///
/// # Safety
/// `fcinfo` is the current call.
unsafe fn nullable(fcinfo: pg_sys::FunctionCallInfo, value: Option<f32>) -> pg_sys::Datum {
    match value {
        Some(v) => float4(v),
        None => {
            // SAFETY: the call's own result flag.
            unsafe { (*fcinfo).isnull = true };
            pg_sys::Datum::from(0)
        }
    }
}

macro_rules! v1 {
    ($finfo:ident, $name:ident, $body:path) => {
        #[unsafe(no_mangle)]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pg_sys::Pg_finfo_record {
            const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        /// # Safety
        /// Called by Postgres only, as the SQL function of that name declared below.
        #[pg_guard]
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $name(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
            // SAFETY: called by Postgres as the SQL function declared below.
            unsafe { $body(fcinfo, stored(fcinfo)) }
        }
    };
}

unsafe fn samples(_: pg_sys::FunctionCallInfo, s: Stored<'_>) -> pg_sys::Datum {
    pg_sys::Datum::from(hour_samples(s.nulls, s.hour) as i16)
}

unsafe fn speed_avg(fcinfo: pg_sys::FunctionCallInfo, s: Stored<'_>) -> pg_sys::Datum {
    // SAFETY: the current call.
    unsafe { nullable(fcinfo, hour_average(&s.slots())) }
}

unsafe fn speed_min(fcinfo: pg_sys::FunctionCallInfo, s: Stored<'_>) -> pg_sys::Datum {
    // SAFETY: the current call.
    unsafe { nullable(fcinfo, hour_min_max(&s.slots()).map(|(min, _)| min)) }
}

unsafe fn speed_max(fcinfo: pg_sys::FunctionCallInfo, s: Stored<'_>) -> pg_sys::Datum {
    // SAFETY: the current call.
    unsafe { nullable(fcinfo, hour_min_max(&s.slots()).map(|(_, max)| max)) }
}

/// The twelve speeds as a `real[12]` with NULLs, built in place as `construct_md_array` would:
/// header, dimension, lower bound, null bitmap (when a slot is empty), then the present values.
unsafe fn speed(_: pg_sys::FunctionCallInfo, s: Stored<'_>) -> pg_sys::Datum {
    let slots = s.slots();
    let present = slots.iter().flatten().count();
    let header = std::mem::size_of::<pg_sys::ArrayType>() + 2 * 4;
    let data_offset = if present < SLOTS { (header + SLOTS.div_ceil(8) + 7) & !7 } else { 0 };
    let data_start = if data_offset == 0 { (header + 7) & !7 } else { data_offset };
    let total = data_start + present * 4;
    // SAFETY: a zeroed allocation of `total` bytes in the call's memory context, written within
    // its bounds: the layout above is the one Postgres' array code reads (ARR_* macros).
    unsafe {
        let a = pg_sys::palloc0(total).cast::<u8>();
        pgrx::set_varsize_4b(a.cast(), total as i32);
        let head = a.cast::<pg_sys::ArrayType>();
        (*head).ndim = 1;
        (*head).dataoffset = data_offset as i32;
        (*head).elemtype = pg_sys::FLOAT4OID;
        let dims = a.add(std::mem::size_of::<pg_sys::ArrayType>()).cast::<i32>();
        *dims = SLOTS as i32;
        *dims.add(1) = 1;
        let mut at = a.add(data_start).cast::<f32>();
        for (i, slot) in slots.iter().enumerate() {
            if let Some(t) = slot {
                if data_offset != 0 {
                    *a.add(header + i / 8) |= 1 << (i % 8);
                }
                at.write(kmh(*t));
                at = at.add(1);
            }
        }
        pg_sys::Datum::from(a)
    }
}

v1!(pg_finfo_vs_ingest_hour_samples, vs_ingest_hour_samples, samples);
v1!(pg_finfo_vs_ingest_hour_speed_avg, vs_ingest_hour_speed_avg, speed_avg);
v1!(pg_finfo_vs_ingest_hour_speed_min, vs_ingest_hour_speed_min, speed_min);
v1!(pg_finfo_vs_ingest_hour_speed_max, vs_ingest_hour_speed_max, speed_max);
v1!(pg_finfo_vs_ingest_hour_speed, vs_ingest_hour_speed, speed);

extension_sql!(
    r#"
CREATE FUNCTION vs_ingest.hour_speed(speed smallint[], hour_in_block smallint) RETURNS real[]
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_hour_speed';
COMMENT ON FUNCTION vs_ingest.hour_speed IS 'The hour''s twelve speeds in km/h from a stored block row (NULL: no sample).';
CREATE FUNCTION vs_ingest.hour_samples(speed smallint[], hour_in_block smallint) RETURNS smallint
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_hour_samples';
CREATE FUNCTION vs_ingest.hour_speed_avg(speed smallint[], hour_in_block smallint) RETURNS real
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_hour_speed_avg';
CREATE FUNCTION vs_ingest.hour_speed_min(speed smallint[], hour_in_block smallint) RETURNS real
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_hour_speed_min';
CREATE FUNCTION vs_ingest.hour_speed_max(speed smallint[], hour_in_block smallint) RETURNS real
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_hour_speed_max';
CREATE FUNCTION vs_ingest.speed_fits(speed smallint[], hours smallint) RETURNS boolean
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'vs_ingest_speed_fits';
COMMENT ON FUNCTION vs_ingest.speed_fits IS 'The storage''s CHECK: 72 speed slots from subscript 1, and hours marks exactly the hours with a sample.';
"#,
    name = "hour_functions",
    requires = ["target"]
);
