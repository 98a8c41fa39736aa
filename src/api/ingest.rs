//! `vs_ingest_dir`, `vs_ingest_file`, `vs_ingest_resume` and `vs_ingest_cancel`.

// pgrx derives the SQL signature from the Rust one: every SQL argument is a Rust argument.
#![allow(clippy::too_many_arguments)]

use pgrx::prelude::*;

use crate::error::{required, OrRaise};
use crate::load::{self, LoadOptions, Summary};

/// The row every load function returns: the composite type `vs_ingest.load_summary`
/// (`src/sql/catalog.sql`), its columns named here and nowhere else in Rust.
pub(crate) fn summary_row(s: Summary) -> pgrx::composite_type!('static, "vs_ingest.load_summary") {
    let build = || -> std::result::Result<_, pgrx::datum::TryFromDatumError> {
        let mut row = PgHeapTuple::new_composite_type("vs_ingest.load_summary")
            .expect("the extension defines vs_ingest.load_summary");
        row.set_by_name("run_id", s.run_id)?;
        row.set_by_name("files_seen", s.files_seen as i32)?;
        row.set_by_name("files_loaded", s.files_loaded as i32)?;
        row.set_by_name("files_skipped", s.files_skipped as i32)?;
        row.set_by_name("files_failed", s.files_failed as i32)?;
        row.set_by_name("rows_read", s.totals.rows_read as i64)?;
        row.set_by_name("rows_loaded", s.totals.rows_loaded as i64)?;
        row.set_by_name("rows_duplicate", s.totals.rows_duplicate as i64)?;
        row.set_by_name("rows_rejected", s.totals.rows_rejected as i64)?;
        row.set_by_name("seconds", two_decimals(s.seconds))?;
        row.set_by_name("mb_per_s", two_decimals(s.mb_per_s()))?;
        Ok(row)
    };
    build().expect("the summary's values fit vs_ingest.load_summary")
}

/// `x` as a numeric with 2 decimals (how the summary shows seconds and MB/s).
fn two_decimals(x: f64) -> pgrx::AnyNumeric {
    format!("{x:.2}").parse().expect("a formatted float is a numeric")
}

/// The options of a load as given in SQL; NULL is refused where a value is required.
pub(crate) fn options<'a>(
    target: Option<&'a str>,
    format: Option<&'a str>,
    source_timezone: Option<&'a str>,
    max_reject_ratio: Option<f64>,
    reload_changed: Option<bool>,
    replace: Option<bool>,
    wait: Option<bool>,
    nodes: Option<&'a str>,
    links: Option<&'a str>,
    unknown_links: Option<&'a str>,
) -> crate::error::Result<LoadOptions<'a>> {
    Ok(LoadOptions {
        target: required("target", target)?,
        format: required("format", format)?,
        source_timezone,
        max_reject_ratio,
        reload_changed: required("reload_changed", reload_changed)?,
        replace: required("replace", replace)?,
        wait: required("wait", wait)?,
        nodes,
        links,
        unknown_links,
    })
}

/// Loads every file of the server directory `dir` whose name matches the glob `pattern`; with
/// `nodes => 'workers'`, on the Citus worker nodes (`crate::cluster`).
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
    nodes: default!(Option<&str>, "NULL"),
    replace: default!(Option<bool>, false),
    links: default!(Option<&str>, "NULL"),
    unknown_links: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "vs_ingest.load_summary") {
    let load = || {
        let options = options(
            target,
            format,
            source_timezone,
            max_reject_ratio,
            reload_changed,
            replace,
            wait,
            nodes,
            links,
            unknown_links,
        )?;
        load::load_dir(required("dir", dir)?, required("pattern", pattern)?, &options)
    };
    summary_row(load().or_raise())
}

/// Loads one server file. With `replace => true`, each local day it covers is rebuilt from it
/// alone and swapped in atomically (README, Corrections).
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_file(
    path: Option<&str>,
    target: default!(Option<&str>, "'public.vs_its_hourly'"),
    format: default!(Option<&str>, "'its_5min'"),
    source_timezone: default!(Option<&str>, "NULL"),
    max_reject_ratio: default!(Option<f64>, "NULL"),
    reload_changed: default!(Option<bool>, false),
    wait: default!(Option<bool>, true),
    replace: default!(Option<bool>, false),
    links: default!(Option<&str>, "NULL"),
    unknown_links: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "vs_ingest.load_summary") {
    let load = || {
        let options = options(
            target,
            format,
            source_timezone,
            max_reject_ratio,
            reload_changed,
            replace,
            wait,
            None,
            links,
            unknown_links,
        )?;
        load::load_file(required("path", path)?, &options)
    };
    summary_row(load().or_raise())
}

/// Continues an interrupted run: every unfinished file goes on from its last committed chunk.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_resume(
    run_id: Option<i64>,
    wait: default!(Option<bool>, true),
) -> pgrx::composite_type!('static, "vs_ingest.load_summary") {
    let resume = || load::resume(required("run_id", run_id)?, required("wait", wait)?);
    summary_row(resume().or_raise())
}

/// Stops a run's workers after their chunk in flight; false if the run was not running.
#[pg_extern(volatile, parallel_unsafe)]
fn vs_ingest_cancel(run_id: Option<i64>) -> bool {
    required("run_id", run_id).and_then(load::cancel).or_raise()
}
