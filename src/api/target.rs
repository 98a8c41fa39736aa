//! `vs_ingest_create_target`: a target made ahead of any load (otherwise the first load makes it).

use pgrx::prelude::*;

use crate::error::{required, OrRaise, Result};
use crate::postgres::access::{self, FixedSearchPath};
use crate::write::target;

/// Creates the target `target` (the hourly view, its 5-minute view and the storage table) for
/// local days of `time_zone`, unless it exists; returns the hourly view's name. With
/// `distributed`, on a Citus coordinator, its storage is distributed by link_id in `shard_count`
/// shards (NULL: `citus.shard_count`).
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_create_target(
    target: default!(Option<&str>, "'public.vs_its_hourly'"),
    time_zone: default!(Option<&str>, "'Asia/Seoul'"),
    distributed: default!(Option<bool>, false),
    shard_count: default!(Option<i32>, "NULL"),
) -> String {
    create(target, time_zone, distributed, shard_count).or_raise()
}

fn create(
    target: Option<&str>,
    time_zone: Option<&str>,
    distributed: Option<bool>,
    shard_count: Option<i32>,
) -> Result<String> {
    // The name is resolved under the caller's search_path, by catalog look-ups, before the path
    // is fixed for everything else.
    let target = access::qualify_target(required("target", target)?)?;
    let time_zone = required("time_zone", time_zone)?;
    let distributed = required("distributed", distributed)?;
    let _path = FixedSearchPath::enter();
    let mut made = target::ensure(&target, time_zone)?;
    if distributed {
        target::distribute(&made, shard_count)?;
    } else {
        made.open_rollups()?;
    }
    Ok(made.name)
}
