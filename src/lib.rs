//! vs_ingest: load ITS 5-minute link-speed files into time-partitioned PostgreSQL tables.
//!
//! This crate is the thin Postgres shell around the pure engine in `engine/`:
//! - [`api`]: the SQL functions;
//! - [`load`]: the calling side of a load: checks, hand-off to workers, waiting, progress;
//! - [`worker`]: background workers that load files and commit every chunk;
//! - [`postgres`]: access checks, catalog tables, subtransactions, COPY and the writer;
//! - [`gucs`]: settings; [`error`]: the user-facing errors and their SQLSTATEs.
//!
//! SQL that is not generated from Rust lives in `src/sql/`.

use pgrx::prelude::*;

pub mod api;
pub mod error;
pub mod gucs;
pub mod load;
pub mod postgres;
pub mod worker;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("sql/catalog.sql", name = "catalog", bootstrap);
extension_sql_file!("sql/hourly_table.sql", name = "hourly_table", requires = ["catalog"]);
extension_sql_file!(
    "sql/api.sql",
    name = "api",
    requires = [
        "hourly_table",
        api::ingest::vs_ingest_dir,
        api::ingest::vs_ingest_file,
        api::ingest::vs_ingest_resume,
        api::ingest::vs_ingest_cancel
    ],
    finalize
);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    include!("../pgrx-tests/support.rs");
    include!("../pgrx-tests/load.rs");
    include!("../pgrx-tests/workers.rs");
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["vs_ingest.allowed_dirs = '/tmp/vs_ingest_pgtest'"]
    }
}
