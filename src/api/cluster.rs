//! The functions a Citus coordinator calls on the worker nodes for a load spread over them
//! (`crate::cluster`): not for users, who call `vs_ingest_dir(..., nodes => 'workers')`.

use pgrx::prelude::*;

use crate::error::{required, OrRaise};
use crate::load;

/// Starts loading the listed files here into `target` without waiting; returns the run's id.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::too_many_arguments)]
fn load_files(
    dir: Option<&str>,
    pattern: Option<&str>,
    paths: Option<Vec<String>>,
    target: Option<&str>,
    format: Option<&str>,
    source_timezone: Option<&str>,
    max_reject_ratio: Option<f64>,
    reload_changed: Option<bool>,
) -> i64 {
    let start = || {
        let options = super::ingest::options(
            target,
            format,
            source_timezone,
            max_reject_ratio,
            reload_changed,
            Some(false),
            Some(false),
            None,
            None,
            None,
        )?;
        let paths = required("paths", paths)?;
        load::load_files(required("dir", dir)?, required("pattern", pattern)?, &paths, &options)
    };
    start().or_raise().run_id
}

/// A run of this node and its file rows, as JSON, for the coordinator that started it; a run whose
/// workers are gone is marked failed first.
#[pg_extern(volatile, parallel_unsafe)]
fn node_run_report(run_id: Option<i64>) -> String {
    let report = || {
        let run_id = required("run_id", run_id)?;
        let _path = crate::postgres::access::FixedSearchPath::enter();
        crate::cluster::node_run_report(run_id)
    };
    report().or_raise()
}
