//! `vs_ingest_convert_target`: a target of 0.1.0 (a partitioned table with one row per link and
//! hour) rewritten into the current layout under the same name (docs/storage.md), keeping its
//! ledger and coverage. The old table stays, renamed `<name>_v0_1`, until its owner drops it.

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use vs_ingest_engine::aggregate::SLOTS;
use vs_ingest_engine::block::{kmh, tenths, BLOCK_SLOTS};

use crate::error::{required, spi_error, IngestError, OrRaise, Result};
use crate::postgres::access::{self, FixedSearchPath};
use crate::postgres::catalog;
use crate::write::coverage;

/// Converts the 0.1.0 table `target` into a target of the current layout for local days of
/// `time_zone` (the zone it was loaded with); returns the hourly rows converted.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_convert_target(
    target: default!(Option<&str>, "'public.vs_its_hourly'"),
    time_zone: default!(Option<&str>, "'Asia/Seoul'"),
) -> i64 {
    convert(target, time_zone).or_raise()
}

fn convert(target: Option<&str>, time_zone: Option<&str>) -> Result<i64> {
    let target = access::qualify_target(required("target", target)?)?;
    let time_zone = required("time_zone", time_zone)?;
    let _path = FixedSearchPath::enter();
    // As the caller: renames the old table (its owner's right), creates the target and the day
    // partitions; returns the old table's oid, the new view's oid and the local days.
    let (old, days) = Spi::get_two_with_args::<pg_sys::Oid, Vec<String>>(
        "SELECT old_table::oid, days::text[] FROM vs_ingest.convert_prepare($1, $2)",
        &[target.as_str().into(), time_zone.into()],
    )
    .map_err(spi_error)?;
    let old = old.expect("convert_prepare returns the old table");
    for day in days.unwrap_or_default() {
        coverage::fill_calendar(time_zone, &day)?;
    }
    let (converted, view) = Spi::get_two_with_args::<i64, pg_sys::Oid>(
        "SELECT rows, view::oid FROM vs_ingest.convert_rows($1, $2, $3)",
        &[old.into(), target.as_str().into(), time_zone.into()],
    )
    .map_err(spi_error)?;
    // The ledger and coverage follow the target: kept by the old table's oid, now the view's.
    catalog::move_target(old, view.expect("convert_rows returns the view"), &target)?;
    Ok(converted.unwrap_or(0))
}

fn bad_speed(speed: f32) -> IngestError {
    IngestError::Postgres {
        code: PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        message: format!("speed {speed} is not a whole number of tenths of km/h"),
        detail: None,
        hint: Some(
            "The current layout stores speeds in tenths of km/h; round the old table's speeds first (UPDATE ... SET \
             speed = ...), or keep it as it is."
                .into(),
        ),
    }
}

/// A block's `smallint[72]` of tenths of km/h from the hourly rows of its hours `hours` (0-5,
/// ascending) and their `real[12]` speeds, as `array_agg` stacks them.
#[pg_extern(immutable, strict, parallel_safe)]
fn block_speed(hours: Vec<i16>, speeds: Array<'_, f32>) -> Vec<Option<i16>> {
    let mut out = vec![None; BLOCK_SLOTS];
    for (i, speed) in speeds.iter().enumerate() {
        let (Some(&hour), Some(speed)) = (hours.get(i / SLOTS), speed) else { continue };
        let t = tenths(speed);
        if kmh(t) != speed {
            Err::<(), _>(bad_speed(speed)).or_raise();
        }
        out[hour.clamp(0, 5) as usize * SLOTS + i % SLOTS] = Some(t);
    }
    out
}

/// The block's `int[72]` of travel times (NULL when none) from its hours' `int[12]` arrays.
#[pg_extern(immutable, strict, parallel_safe)]
fn block_travel_time(hours: Vec<i16>, travel_times: Array<'_, i32>) -> Option<Vec<Option<i32>>> {
    let mut out = vec![None; BLOCK_SLOTS];
    for (i, t) in travel_times.iter().enumerate() {
        if let (Some(&hour), Some(t)) = (hours.get(i / SLOTS), t) {
            out[hour.clamp(0, 5) as usize * SLOTS + i % SLOTS] = Some(t);
        }
    }
    out.iter().any(Option::is_some).then_some(out)
}
