//! `vs_ingest_create_target`: a target made ahead of any load (otherwise the first load makes it).

use pgrx::prelude::*;

use crate::error::{required, OrRaise, Result};
use crate::postgres::access::{self, FixedSearchPath};
use crate::write::target;

/// Creates the target `target` (the hourly view, its 5-minute view and the storage table) for
/// local days of `time_zone`, unless it exists; returns the hourly view's name.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_create_target(
    target: default!(Option<&str>, "'public.vs_its_hourly'"),
    time_zone: default!(Option<&str>, "'Asia/Seoul'"),
) -> String {
    create(target, time_zone).or_raise()
}

fn create(target: Option<&str>, time_zone: Option<&str>) -> Result<String> {
    // The name is resolved under the caller's search_path, by catalog look-ups, before the path
    // is fixed for everything else.
    let target = access::qualify_target(required("target", target)?)?;
    let time_zone = required("time_zone", time_zone)?;
    let _path = FixedSearchPath::enter();
    Ok(target::ensure(&target, time_zone)?.name)
}
