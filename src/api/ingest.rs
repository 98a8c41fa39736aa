//! `vs_ingest_dir`, `vs_ingest_file`, `vs_ingest_resume` and `vs_ingest_cancel`.

// pgrx derives the SQL signature from the Rust one: every SQL argument is a Rust argument, and
// the result type must be spelled out in full (a type alias does not resolve).
#![allow(clippy::type_complexity, clippy::too_many_arguments)]

use pgrx::prelude::*;

use crate::error::{required, OrRaise};
use crate::load::{self, LoadOptions, Summary};

/// The summary row's values, in column order.
pub(crate) type SummaryValues = (i64, i32, i32, i32, i32, i64, i64, i64, i64, f64, f64);

pub(crate) fn values(s: Summary) -> SummaryValues {
    let mb_per_s = s.mb_per_s();
    (
        s.run_id,
        s.files_seen as i32,
        s.files_loaded as i32,
        s.files_skipped as i32,
        s.files_failed as i32,
        s.totals.rows_read as i64,
        s.totals.rows_loaded as i64,
        s.totals.rows_duplicate as i64,
        s.totals.rows_rejected as i64,
        s.seconds,
        mb_per_s,
    )
}

/// The options of a load as given in SQL; NULL is refused where a value is required.
fn options<'a>(
    target: Option<&'a str>,
    format: Option<&'a str>,
    source_timezone: Option<&'a str>,
    max_reject_ratio: Option<f64>,
    reload_changed: Option<bool>,
    wait: Option<bool>,
) -> crate::error::Result<LoadOptions<'a>> {
    Ok(LoadOptions {
        target: required("target", target)?,
        format: required("format", format)?,
        source_timezone,
        max_reject_ratio,
        reload_changed: required("reload_changed", reload_changed)?,
        wait: required("wait", wait)?,
    })
}

/// Loads every file of the server directory `dir` whose name matches the glob `pattern`.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_dir(
    dir: Option<&str>,
    pattern: default!(Option<&str>, "'*'"),
    target: default!(Option<&str>, "'public.vs_its_hourly'"),
    format: default!(Option<&str>, "'its_5min'"),
    source_timezone: default!(Option<&str>, "NULL"),
    max_reject_ratio: default!(Option<f64>, "NULL"),
    reload_changed: default!(Option<bool>, false),
    wait: default!(Option<bool>, true),
) -> TableIterator<
    'static,
    (
        name!(run_id, i64),
        name!(files_seen, i32),
        name!(files_loaded, i32),
        name!(files_skipped, i32),
        name!(files_failed, i32),
        name!(rows_read, i64),
        name!(rows_loaded, i64),
        name!(rows_duplicate, i64),
        name!(rows_rejected, i64),
        name!(seconds, f64),
        name!(mb_per_s, f64),
    ),
> {
    let load = || {
        let options = options(target, format, source_timezone, max_reject_ratio, reload_changed, wait)?;
        load::load_dir(required("dir", dir)?, required("pattern", pattern)?, &options)
    };
    TableIterator::once(values(load().or_raise()))
}

/// Loads one server file.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_file(
    path: Option<&str>,
    target: default!(Option<&str>, "'public.vs_its_hourly'"),
    format: default!(Option<&str>, "'its_5min'"),
    source_timezone: default!(Option<&str>, "NULL"),
    max_reject_ratio: default!(Option<f64>, "NULL"),
    reload_changed: default!(Option<bool>, false),
    wait: default!(Option<bool>, true),
) -> TableIterator<
    'static,
    (
        name!(run_id, i64),
        name!(files_seen, i32),
        name!(files_loaded, i32),
        name!(files_skipped, i32),
        name!(files_failed, i32),
        name!(rows_read, i64),
        name!(rows_loaded, i64),
        name!(rows_duplicate, i64),
        name!(rows_rejected, i64),
        name!(seconds, f64),
        name!(mb_per_s, f64),
    ),
> {
    let load = || {
        let options = options(target, format, source_timezone, max_reject_ratio, reload_changed, wait)?;
        load::load_file(required("path", path)?, &options)
    };
    TableIterator::once(values(load().or_raise()))
}

/// Continues an interrupted run: every unfinished file goes on from its last committed chunk.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_resume(
    run_id: Option<i64>,
    wait: default!(Option<bool>, true),
) -> TableIterator<
    'static,
    (
        name!(run_id, i64),
        name!(files_seen, i32),
        name!(files_loaded, i32),
        name!(files_skipped, i32),
        name!(files_failed, i32),
        name!(rows_read, i64),
        name!(rows_loaded, i64),
        name!(rows_duplicate, i64),
        name!(rows_rejected, i64),
        name!(seconds, f64),
        name!(mb_per_s, f64),
    ),
> {
    let resume = || load::resume(required("run_id", run_id)?, required("wait", wait)?);
    TableIterator::once(values(resume().or_raise()))
}

/// Stops a run's workers after their chunk in flight; false if the run was not running.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_cancel(run_id: Option<i64>) -> bool {
    required("run_id", run_id).and_then(load::cancel).or_raise()
}
