//! The columns of the hourly view, computed from a stored block row: hour `h` (0-5) of the block
//! is slots `12 h .. 12 h + 11` of its arrays, speeds in tenths of km/h.

use pgrx::prelude::*;
use vs_ingest_engine::aggregate::SLOTS;
use vs_ingest_engine::block::HourValues;

fn hour(speed: &Array<'_, i16>, hour_in_block: i16) -> HourValues {
    let mut slots = [None; SLOTS];
    let first = hour_in_block.clamp(0, 5) as usize * SLOTS;
    for (to, from) in slots.iter_mut().zip(speed.iter().skip(first)) {
        *to = from;
    }
    HourValues::from_tenths(&slots)
}

/// The hour's twelve speeds in km/h (`real[]`, NULL where no sample).
#[pg_extern(immutable, strict, parallel_safe)]
fn hour_speed(speed: Array<'_, i16>, hour_in_block: i16) -> Vec<Option<f32>> {
    hour(&speed, hour_in_block).speed.to_vec()
}

/// Samples in the hour.
#[pg_extern(immutable, strict, parallel_safe)]
fn hour_samples(speed: Array<'_, i16>, hour_in_block: i16) -> i16 {
    hour(&speed, hour_in_block).samples as i16
}

/// Average speed of the hour's samples, as `avg(real)` would give it.
#[pg_extern(immutable, strict, parallel_safe)]
fn hour_speed_avg(speed: Array<'_, i16>, hour_in_block: i16) -> Option<f32> {
    hour(&speed, hour_in_block).stats.map(|(avg, _, _)| avg)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn hour_speed_min(speed: Array<'_, i16>, hour_in_block: i16) -> Option<f32> {
    hour(&speed, hour_in_block).stats.map(|(_, min, _)| min)
}

#[pg_extern(immutable, strict, parallel_safe)]
fn hour_speed_max(speed: Array<'_, i16>, hour_in_block: i16) -> Option<f32> {
    hour(&speed, hour_in_block).stats.map(|(_, _, max)| max)
}
