//! Reading and writing the catalog tables (`vs_ingest.run`, `vs_ingest.file`,
//! `vs_ingest.reject`); their DDL is in `src/sql/catalog.sql`.

use pgrx::prelude::*;
use vs_ingest_engine::pipeline::EntryReject;

use crate::error::Result;
use crate::postgres::writer::spi_error;

/// Totals of a file or a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_duplicate: u64,
    pub rows_missing: u64,
    pub rows_rejected: u64,
    /// Decompressed bytes.
    pub bytes: u64,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, o: Totals) {
        self.rows_read += o.rows_read;
        self.rows_loaded += o.rows_loaded;
        self.rows_duplicate += o.rows_duplicate;
        self.rows_missing += o.rows_missing;
        self.rows_rejected += o.rows_rejected;
        self.bytes += o.bytes;
    }
}

/// A file as found on disk.
#[derive(Clone, Debug)]
pub struct FileFacts {
    pub path: String,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub mtime: f64,
    pub fingerprint: String,
}

/// What the ledger knows about a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prior {
    /// Never loaded.
    New,
    /// Loaded before with the same size, modification time and content.
    Loaded,
    /// Loaded before, but the content under this path has changed since.
    Changed,
}

pub fn start_run(dir: &str, pattern: &str, target: &str, options: &serde_json::Value) -> Result<i64> {
    Spi::get_one_with_args::<i64>(
        "INSERT INTO vs_ingest.run (dir, pattern, target, options) VALUES ($1, $2, $3, $4::jsonb) RETURNING run_id",
        &[dir.into(), pattern.into(), target.into(), options.to_string().into()],
    )
    .map_err(spi_error)
    .map(|id| id.expect("INSERT RETURNING gives the id"))
}

/// What the ledger knows about `file` in the table `target` (a file loaded into another table
/// is new to this one).
pub fn prior(file: &FileFacts, target: &str) -> Result<Prior> {
    let (same, any) = Spi::get_two_with_args::<bool, bool>(
        "SELECT bool_or(f.size = $2 AND f.mtime = to_timestamp($3) AND f.fingerprint = $4), count(*) > 0
           FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
          WHERE f.path = $1 AND f.status = 'loaded' AND r.target = $5",
        &[
            file.path.clone().into(),
            (file.size as i64).into(),
            file.mtime.into(),
            file.fingerprint.clone().into(),
            target.into(),
        ],
    )
    .map_err(spi_error)?;
    Ok(match (same, any) {
        (Some(true), _) => Prior::Loaded,
        (_, Some(true)) => Prior::Changed,
        _ => Prior::New,
    })
}

pub fn add_file(run_id: i64, file: &FileFacts, status: &str) -> Result<i64> {
    Spi::get_one_with_args::<i64>(
        "INSERT INTO vs_ingest.file (run_id, path, size, mtime, fingerprint, status)
         VALUES ($1, $2, $3, to_timestamp($4), $5, $6) RETURNING file_id",
        &[
            run_id.into(),
            file.path.clone().into(),
            (file.size as i64).into(),
            file.mtime.into(),
            file.fingerprint.clone().into(),
            status.into(),
        ],
    )
    .map_err(spi_error)
    .map(|id| id.expect("INSERT RETURNING gives the id"))
}

pub fn finish_file(
    file_id: i64,
    status: &str,
    container: Option<&str>,
    totals: &Totals,
    error: Option<&str>,
) -> Result<()> {
    Spi::run_with_args(
        "UPDATE vs_ingest.file SET status = $2, container = $3, rows_read = $4, rows_loaded = $5,
                rows_duplicate = $6, rows_missing = $7, rows_rejected = $8, bytes = $9, error = $10,
                finished_at = clock_timestamp()
          WHERE file_id = $1",
        &[
            file_id.into(),
            status.into(),
            container.into(),
            (totals.rows_read as i64).into(),
            (totals.rows_loaded as i64).into(),
            (totals.rows_duplicate as i64).into(),
            (totals.rows_missing as i64).into(),
            (totals.rows_rejected as i64).into(),
            (totals.bytes as i64).into(),
            error.into(),
        ],
    )
    .map_err(spi_error)
}

pub fn store_rejects(file_id: i64, rejects: &[EntryReject]) -> Result<()> {
    if rejects.is_empty() {
        return Ok(());
    }
    let entries: Vec<String> = rejects.iter().map(|r| r.entry.clone()).collect();
    let lines: Vec<i64> = rejects.iter().map(|r| r.reject.line as i64).collect();
    let reasons: Vec<String> = rejects.iter().map(|r| r.reject.reason.name().to_string()).collect();
    // Postgres text cannot hold NUL bytes.
    let raws: Vec<String> = rejects.iter().map(|r| r.reject.raw.replace('\0', "\u{FFFD}")).collect();
    Spi::run_with_args(
        "INSERT INTO vs_ingest.reject (file_id, entry, line, reason, raw)
         SELECT $1, e, l, r, w FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[]) AS u(e, l, r, w)",
        &[file_id.into(), entries.into(), lines.into(), reasons.into(), raws.into()],
    )
    .map_err(spi_error)
}

#[derive(Clone, Copy, Debug, Default)]
pub struct FileCounts {
    pub seen: u32,
    pub loaded: u32,
    pub skipped: u32,
    pub failed: u32,
}

pub fn finish_run(run_id: i64, status: &str, files: &FileCounts, totals: &Totals, error: Option<&str>) -> Result<()> {
    Spi::run_with_args(
        "UPDATE vs_ingest.run SET status = $2, files_seen = $3, files_loaded = $4, files_skipped = $5,
                files_failed = $6, rows_read = $7, rows_loaded = $8, rows_duplicate = $9, rows_missing = $10,
                rows_rejected = $11, bytes = $12, error = $13, finished_at = clock_timestamp()
          WHERE run_id = $1",
        &[
            run_id.into(),
            status.into(),
            (files.seen as i32).into(),
            (files.loaded as i32).into(),
            (files.skipped as i32).into(),
            (files.failed as i32).into(),
            (totals.rows_read as i64).into(),
            (totals.rows_loaded as i64).into(),
            (totals.rows_duplicate as i64).into(),
            (totals.rows_missing as i64).into(),
            (totals.rows_rejected as i64).into(),
            (totals.bytes as i64).into(),
            error.into(),
        ],
    )
    .map_err(spi_error)
}

/// Whether `name` is a time zone Postgres knows.
pub fn is_time_zone(name: &str) -> Result<bool> {
    Spi::get_one_with_args::<bool>("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", &[name.into()])
        .map_err(spi_error)
        .map(|b| b.unwrap_or(false))
}
