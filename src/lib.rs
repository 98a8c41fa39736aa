//! vs_ingest: load ITS 5-minute link-speed files into time-partitioned PostgreSQL tables.
//!
//! This crate is the thin Postgres shell around the pure engine in `engine/`:
//! - [`api`]: the SQL functions;
//! - [`load`]: the calling side of a load: checks, hand-off to workers, waiting, progress;
//! - [`worker`]: background workers that load files and commit every chunk;
//! - [`scheduler`]: the static background worker that loads sources on a schedule;
//! - [`cluster`]: loads spread over the worker nodes of a Citus cluster;
//! - [`write`]: the write stage: storage rows, merge, coverage, the commit of each chunk;
//! - [`postgres`]: access checks, catalog tables, sources, subtransactions, worker transactions;
//! - [`budget`]: what a load may take of the server: workers, threads, read rate, priority, hours;
//! - [`gucs`]: settings; [`error`]: the user-facing errors and their SQLSTATEs.
//!
//! SQL that is not generated from Rust lives in `src/sql/`.

use pgrx::prelude::*;

pub mod api;
pub mod budget;
pub mod cluster;
pub mod error;
pub mod gucs;
pub mod load;
pub mod postgres;
pub mod scheduler;
pub mod worker;
pub mod write;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("sql/catalog.sql", name = "catalog", bootstrap);
extension_sql_file!("sql/target.sql", name = "target", requires = ["catalog"]);
extension_sql_file!("sql/gaps.sql", name = "gaps", requires = ["catalog"]);
// Needs `vs_ingest.check_time_zone` (target.sql).
extension_sql_file!("sql/time_zone.sql", name = "time_zone", requires = ["catalog", "target"]);
extension_sql_file!("sql/history.sql", name = "history", requires = ["gaps", "target"]);
extension_sql_file!("sql/alerts.sql", name = "alerts", requires = ["catalog", "gaps"]);
extension_sql_file!(
    "sql/rollup.sql",
    name = "rollup",
    requires = [
        "target",
        write::rollup::rebuild_days,
        write::rollup::link_rollups,
        write::rollup::hours_plus,
        api::quality::quality_thresholds
    ]
);
extension_sql_file!(
    "sql/api.sql",
    name = "api",
    requires = [
        "target",
        "gaps",
        "history",
        "alerts",
        "rollup",
        api::ingest::vs_ingest_dir,
        api::ingest::vs_ingest_file,
        api::ingest::vs_ingest_resume,
        api::ingest::vs_ingest_cancel,
        api::source::vs_ingest_add_source,
        api::source::vs_ingest_alter_source,
        api::source::vs_ingest_enable_source,
        api::source::vs_ingest_disable_source,
        api::source::vs_ingest_drop_source,
        api::source::vs_ingest_run_source,
        api::target::vs_ingest_create_target,
        api::convert::vs_ingest_convert_target,
        api::retention::forget_coverage,
        api::cluster::load_files,
        api::cluster::node_run_report,
        api::monitoring::reject_counts,
        api::monitoring::source_freshness,
        api::settings::settings,
        api::plan::vs_ingest_plan,
        api::links::vs_ingest_set_links
    ],
    finalize
);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // Errors reach users without a Rust backtrace in their DETAIL (pgrx adds one when it can
    // capture it). This turns capturing off in the server log too; start the server with
    // RUST_LIB_BACKTRACE=1 to debug a panic.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: _PG_init runs while the backend has a single thread.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    gucs::init();
    // SAFETY: a plain read of a postmaster flag.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        scheduler::register();
    }
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // The scheduler runs in the test cluster, checking the test database every second.
        vec![
            "vs_ingest.allowed_dirs = '/tmp/vs_ingest_pgtest'",
            "shared_preload_libraries = 'vs_ingest'",
            "vs_ingest.database = 'pgrx_tests'",
            "vs_ingest.scheduler_interval = 1",
            // The tests deliver files they have just written.
            "vs_ingest.settle_time = 0",
        ]
    }
}
