//! Data quality: the thresholds the quality views (`vs_its_quality`, `<target>_quality`) compare
//! their stored figures with, read from the session's settings when a view is queried, so that
//! changing a threshold needs no rebuild. The figures are kept by the load with the daily rollups
//! (`src/write/rollup.rs`); the views and the report are SQL (`src/sql/rollup.sql`).

use pgrx::prelude::*;

use crate::gucs;

/// `vs_ingest.quality_thresholds()`: one row with the quality flags' thresholds of this session.
#[pg_extern(stable, parallel_safe)]
fn quality_thresholds() -> TableIterator<
    'static,
    (name!(stuck_slots, i32), name!(max_speed, f64), name!(max_jump, f64), name!(max_missing_rate, f64)),
> {
    TableIterator::once((
        gucs::QUALITY_STUCK_SLOTS.get(),
        gucs::QUALITY_MAX_SPEED.get(),
        gucs::QUALITY_MAX_JUMP.get(),
        gucs::QUALITY_MAX_MISSING_RATE.get(),
    ))
}
