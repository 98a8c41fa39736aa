//! Reading and writing the catalog tables (`vs_ingest.run`, `vs_ingest.file`, `vs_ingest.reject`,
//! `vs_ingest.coverage`); their DDL is in `src/sql/catalog.sql`. Every query here takes a fresh
//! snapshot, so a waiting caller sees what the workers commit.

use pgrx::prelude::*;
use vs_ingest_engine::pipeline::{EntryReject, Position};

use crate::error::{spi_error, IngestError, Result};
use crate::postgres::access;

/// Counters of a file or a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_duplicate: u64,
    pub rows_missing: u64,
    pub rows_rejected: u64,
    /// Samples of links a `links => ...` load left out.
    pub rows_filtered: u64,
    /// Samples of links the target's network lacks (`vs_ingest_set_links`), loaded or skipped.
    pub rows_unknown: u64,
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
        self.rows_filtered += o.rows_filtered;
        self.rows_unknown += o.rows_unknown;
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

/// Advisory lock namespaces (the first key of the two-key form).
const RUN_LOCKS: &str = "hashtext('vs_ingest.run')";
const FILE_LOCKS: &str = "hashtext('vs_ingest.file')";

/// The first column of the first row; `None` for NULL or no row at all. Like all catalog SQL
/// here, it runs as the catalog's owner under a fixed `search_path` (see [`owner`]).
fn get<T: IntoDatum + FromDatum>(query: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<Option<T>> {
    owner(|| match Spi::get_one_with_args::<T>(query, args) {
        Err(pgrx::spi::Error::InvalidPosition) => Ok(None),
        other => other.map_err(spi_error),
    })
}

/// The first two columns of the first row; `None` for no row at all.
fn get_two<A: IntoDatum + FromDatum, B: IntoDatum + FromDatum>(
    query: &str,
    args: &[pgrx::datum::DatumWithOid],
) -> Result<Option<(Option<A>, Option<B>)>> {
    owner(|| match Spi::get_two_with_args::<A, B>(query, args) {
        Err(pgrx::spi::Error::InvalidPosition) => Ok(None),
        other => other.map(Some).map_err(spi_error),
    })
}

fn run_sql(query: &str, args: &[pgrx::datum::DatumWithOid]) -> Result<()> {
    owner(|| Spi::run_with_args(query, args).map_err(spi_error))
}

/// Runs catalog SQL as the catalog's owner: users (loading roles included) cannot write the
/// catalog tables, and see only their own rows of them (row-level security, `catalog.sql`).
fn owner<T>(work: impl FnOnce() -> T) -> T {
    access::as_catalog_owner(work)
}

/// How a ledger row's run is matched to a target table (`$n` is its oid): by the table's oid,
/// or, for runs recorded before the oid was, by the name the table has now.
fn same_target(param: u8) -> String {
    format!("coalesce(r.target_oid, to_regclass(r.target)::oid) = ${param}")
}

/// A run to record: where its files come from, where they go, and the request behind it as the
/// worker stored it (versioned JSON the ledger keeps but does not read).
pub struct NewRun<'a> {
    pub dir: &'a str,
    pub pattern: &'a str,
    pub target: &'a str,
    pub target_oid: pg_sys::Oid,
    pub source_id: Option<i32>,
    pub request_json: &'a str,
}

pub fn start_run(run: &NewRun<'_>) -> Result<i64> {
    get::<i64>(
        "INSERT INTO vs_ingest.run (dir, pattern, target, options, source_id, started_by, target_oid, started_by_oid)
         VALUES ($1, $2, $3, $4::jsonb, $5, $6::name, $7, $8) RETURNING run_id",
        &[
            run.dir.into(),
            run.pattern.into(),
            run.target.into(),
            run.request_json.into(),
            run.source_id.into(),
            // Taken before `get` switches to the catalog's owner: the worker runs as the caller.
            access::current_user_name().into(),
            run.target_oid.into(),
            access::current_user_oid().into(),
        ],
    )
    .map(|id| id.expect("INSERT RETURNING gives the id"))
}

pub fn add_pending_files(run_id: i64, paths: &[String]) -> Result<()> {
    // Their sizes as listed, for the run's progress only: a worker takes the file's facts from
    // its descriptor when it claims it. (A file gone since is 0 here, and fails when claimed.)
    let sizes: Vec<i64> = paths.iter().map(|p| std::fs::symlink_metadata(p).map_or(0, |m| m.len() as i64)).collect();
    run_sql(
        "INSERT INTO vs_ingest.file (run_id, path, listed_size)
         SELECT $1, p, s FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS u(p, s, n) ORDER BY n",
        &[run_id.into(), paths.to_vec().into(), sizes.into()],
    )?;
    run_sql(
        "UPDATE vs_ingest.run SET files_seen = cardinality($2::text[]) WHERE run_id = $1",
        &[run_id.into(), paths.to_vec().into()],
    )
}

/// The request a run was started with.
pub fn run_request(run_id: i64) -> Result<Option<(String, String)>> {
    let found = get_two::<String, String>(
        "SELECT options::text, status FROM vs_ingest.run WHERE run_id = $1",
        &[run_id.into()],
    )?;
    Ok(found.and_then(|(request, status)| request.zip(status)))
}

/// Takes this session's share of the run's lock (a run whose lock nobody holds is not live), and
/// names the session after the run, so that `vs_ingest_cancel` can find it.
pub fn hold_run(run_id: i64) -> Result<()> {
    run_sql(&format!("SELECT pg_advisory_lock_shared({RUN_LOCKS}, $1::int)"), &[(run_id as i32).into()])?;
    run_sql(&format!("SET application_name = '{}'", worker_name(run_id)), &[])
}

/// The `application_name` of a run's workers.
pub fn worker_name(run_id: i64) -> String {
    format!("vs_ingest run {run_id}")
}

/// Marks runs left `running` by a crash, a kill or a vanished caller as failed. A run is live while
/// any of its workers holds its lock.
pub fn fail_orphaned_runs() -> Result<Vec<i64>> {
    let ids: Vec<i64> = owner(|| {
        Spi::connect_mut(|client| {
            client
                .update(
                    "SELECT run_id FROM vs_ingest.run WHERE status IN ('running', 'cancelling') ORDER BY run_id",
                    None,
                    &[],
                )?
                .map(|row| row.get::<i64>(1).map(|v| v.unwrap_or_default()))
                .collect::<Result<Vec<_>, _>>()
        })
    })
    .map_err(spi_error)?;
    let mut orphaned = Vec::new();
    for id in ids {
        // The row is locked before the run's lock is looked at: a resume reopens the row and
        // takes the run's lock in one transaction, so once this lock is granted the row read is
        // the newest one, and a reopened run's lock is held. (Looking at the lock first let a
        // resume that reopened the run in between be marked failed.)
        let free = get::<bool>(
            &format!(
                "SELECT CASE WHEN pg_try_advisory_lock({RUN_LOCKS}, $1::int)
                             THEN pg_advisory_unlock({RUN_LOCKS}, $1::int) ELSE false END
                   FROM (SELECT 1 FROM vs_ingest.run
                          WHERE run_id = $2 AND status IN ('running', 'cancelling') FOR UPDATE) AS live"
            ),
            &[(id as i32).into(), id.into()],
        )?
        .unwrap_or(false);
        if free {
            run_sql(
                "UPDATE vs_ingest.run SET status = 'failed', finished_at = clock_timestamp(),
                        error = 'interrupted before it finished (crash, restart, kill or cancelled caller); '
                                || 'its unfinished files continue from their last committed chunk in the next load'
                  WHERE run_id = $1",
                &[id.into()],
            )?;
            cancel_pending(id)?;
            orphaned.push(id);
        }
    }
    Ok(orphaned)
}

/// Makes an interrupted run live again for `vs_ingest_resume`.
pub fn reopen_run(run_id: i64) -> Result<()> {
    run_sql(
        "UPDATE vs_ingest.run SET status = 'running', finished_at = NULL, error = NULL WHERE run_id = $1",
        &[run_id.into()],
    )?;
    run_sql("UPDATE vs_ingest.file SET status = 'pending' WHERE run_id = $1 AND status = 'cancelled'", &[run_id.into()])
}

/// A file a worker may take: unfinished, in this run.
pub struct Candidate {
    pub file_id: i64,
    pub path: String,
    pub pending: bool,
}

pub fn candidates(run_id: i64) -> Result<Vec<Candidate>> {
    owner(|| {
        Spi::connect_mut(|client| {
            client
                .update(
                    "SELECT file_id, path, status = 'pending' FROM vs_ingest.file
                  WHERE run_id = $1 AND status IN ('pending', 'loading') ORDER BY file_id",
                    None,
                    &[run_id.into()],
                )?
                .map(|row| {
                    Ok(Candidate {
                        file_id: row.get::<i64>(1)?.unwrap_or_default(),
                        path: row.get::<String>(2)?.unwrap_or_default(),
                        pending: row.get::<bool>(3)?.unwrap_or(false),
                    })
                })
                .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
    })
    .map_err(spi_error)
}

/// The session lock that makes one worker, of any run, the only one loading `path` into `target`.
pub fn try_lock_file(target: &str, path: &str) -> Result<bool> {
    get::<bool>(
        &format!("SELECT pg_try_advisory_lock({FILE_LOCKS}, hashtext($1 || '|' || $2))"),
        &[target.into(), path.into()],
    )
    .map(|b| b.unwrap_or(false))
}

pub fn unlock_file(target: &str, path: &str) -> Result<()> {
    run_sql(
        &format!("SELECT pg_advisory_unlock({FILE_LOCKS}, hashtext($1 || '|' || $2))"),
        &[target.into(), path.into()],
    )
}

/// Claims a file for this worker; false if it was finished meanwhile.
pub fn claim(file_id: i64) -> Result<bool> {
    get::<bool>(
        "UPDATE vs_ingest.file SET status = 'loading', worker_pid = pg_backend_pid(),
                started_at = coalesce(started_at, clock_timestamp())
          WHERE file_id = $1 AND status IN ('pending', 'loading') RETURNING true",
        &[file_id.into()],
    )
    .map(|b| b.unwrap_or(false))
}

/// A claimed file's committed state.
pub struct FileState {
    pub fingerprint: Option<String>,
    pub start: Position,
    pub totals: Totals,
    pub rejects_stored: u64,
}

pub fn file_state(file_id: i64) -> Result<FileState> {
    owner(|| {
        Spi::connect_mut(|client| {
            let row = client
            .update(
                "SELECT fingerprint, resume_entry, resume_offset, resume_line, rows_read, rows_loaded, rows_duplicate,
                        rows_missing, rows_rejected, bytes,
                        (SELECT count(*) FROM vs_ingest.reject r WHERE r.file_id = f.file_id), rows_filtered, rows_unknown
                   FROM vs_ingest.file f WHERE file_id = $1",
                None,
                &[file_id.into()],
            )?
            .first();
            let big = |i| row.get::<i64>(i).map(|v| v.unwrap_or_default() as u64);
            Ok(FileState {
                fingerprint: row.get::<String>(1)?,
                start: Position {
                    entry: row.get::<i32>(2)?.unwrap_or_default() as u32,
                    offset: big(3)?,
                    line: big(4)?,
                },
                totals: Totals {
                    rows_read: big(5)?,
                    rows_loaded: big(6)?,
                    rows_duplicate: big(7)?,
                    rows_missing: big(8)?,
                    rows_rejected: big(9)?,
                    rows_filtered: big(12)?,
                    rows_unknown: big(13)?,
                    bytes: big(10)?,
                },
                rejects_stored: big(11)?,
            })
        })
    })
    .map_err(spi_error)
}

pub fn set_facts(file_id: i64, facts: &FileFacts, container: Option<&str>) -> Result<()> {
    run_sql(
        "UPDATE vs_ingest.file SET size = $2, mtime = to_timestamp($3), fingerprint = $4, container = $5 WHERE file_id = $1",
        &[
            file_id.into(),
            (facts.size as i64).into(),
            facts.mtime.into(),
            facts.fingerprint.clone().into(),
            container.into(),
        ],
    )
}

/// What the ledger knows about `file` in the table `target` (a file loaded into another table,
/// or into an earlier table of the same name, is new to this one). A superseded file counts as
/// loaded: loading it again must not bring back samples a replacement took out.
pub fn prior(file: &FileFacts, target: pg_sys::Oid) -> Result<Prior> {
    let (same, any) = owner(|| {
        Spi::get_two_with_args::<bool, bool>(
            &format!(
                "SELECT bool_or(f.size = $2 AND f.mtime = to_timestamp($3) AND f.fingerprint = $4), count(*) > 0
                   FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                  WHERE f.path = $1 AND f.status IN ('loaded', 'superseded') AND {}",
                same_target(5)
            ),
            &[
                file.path.clone().into(),
                (file.size as i64).into(),
                file.mtime.into(),
                file.fingerprint.clone().into(),
                target.into(),
            ],
        )
    })
    .map_err(spi_error)?;
    Ok(match (same, any) {
        (Some(true), _) => Prior::Loaded,
        (_, Some(true)) => Prior::Changed,
        _ => Prior::New,
    })
}

/// Size and fingerprint of the newest loaded version of `path` in the table `target`.
pub fn last_loaded(path: &str, target: pg_sys::Oid) -> Result<Option<(u64, String)>> {
    let found = get_two::<i64, String>(
        &format!(
            "SELECT f.size, f.fingerprint FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
              WHERE f.path = $1 AND f.status = 'loaded' AND {} ORDER BY f.file_id DESC LIMIT 1",
            same_target(2)
        ),
        &[path.into(), target.into()],
    )?;
    Ok(match found {
        Some((Some(size), Some(fingerprint))) => Some((size as u64, fingerprint)),
        _ => None,
    })
}

/// Takes over the committed progress of an interrupted load of the same content into the same
/// table (an older run's file left `loading` or `cancelled`): its offset, counters and rejects.
/// Returns whether there was one.
pub fn adopt_interrupted(file_id: i64, facts: &FileFacts, target: pg_sys::Oid) -> Result<bool> {
    let old = get::<i64>(
        &format!(
            "SELECT f.file_id FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
              WHERE f.path = $1 AND f.fingerprint = $2 AND {} AND f.file_id <> $4
                AND f.status IN ('loading', 'cancelled') AND r.status NOT IN ('running', 'cancelling')
              ORDER BY f.file_id DESC LIMIT 1",
            same_target(3)
        ),
        &[facts.path.clone().into(), facts.fingerprint.clone().into(), target.into(), file_id.into()],
    )?;
    let Some(old) = old else { return Ok(false) };
    run_sql(
        "UPDATE vs_ingest.file n SET resume_entry = o.resume_entry, resume_offset = o.resume_offset,
                resume_line = o.resume_line, rows_read = o.rows_read, rows_loaded = o.rows_loaded,
                rows_duplicate = o.rows_duplicate, rows_missing = o.rows_missing, rows_rejected = o.rows_rejected,
                rows_filtered = o.rows_filtered, rows_unknown = o.rows_unknown, bytes = o.bytes, input_done = o.input_done, chunks = o.chunks, days = o.days
           FROM vs_ingest.file o WHERE n.file_id = $1 AND o.file_id = $2",
        &[file_id.into(), old.into()],
    )?;
    run_sql("UPDATE vs_ingest.reject SET file_id = $1 WHERE file_id = $2", &[file_id.into(), old.into()])?;
    run_sql("UPDATE vs_ingest.unknown_link SET file_id = $1 WHERE file_id = $2", &[file_id.into(), old.into()])?;
    run_sql(
        "UPDATE vs_ingest.file SET status = 'resumed', finished_at = clock_timestamp(),
                error = 'continued by run ' || (SELECT run_id FROM vs_ingest.file WHERE file_id = $1)
          WHERE file_id = $2",
        &[file_id.into(), old.into()],
    )?;
    Ok(true)
}

/// Seconds a worker spent per stage of a chunk.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    /// Waiting for the engine: decompress, parse, aggregate.
    pub wait: f64,
    pub write: f64,
    pub commit: f64,
}

/// Commits a chunk's bookkeeping: the counters it added, where the next chunk starts, the local
/// days it wrote (`YYYY-MM-DD`) and the time spent (the commit time is that of the previous
/// chunk: this one's is not over yet).
pub fn checkpoint(
    file_id: i64,
    add: &Totals,
    at: Position,
    input_done: u64,
    times: &StageTimes,
    days: &[String],
) -> Result<()> {
    run_sql(
        "UPDATE vs_ingest.file SET rows_read = rows_read + $2, rows_loaded = rows_loaded + $3,
                rows_duplicate = rows_duplicate + $4, rows_missing = rows_missing + $5,
                rows_rejected = rows_rejected + $6, bytes = bytes + $7, resume_entry = $8,
                resume_offset = $9, resume_line = $10, input_done = greatest(input_done, $11), chunks = chunks + 1,
                wait_seconds = wait_seconds + $12, write_seconds = write_seconds + $13,
                commit_seconds = commit_seconds + $14,
                days = CASE WHEN cardinality($15::text[]) = 0 THEN days
                            ELSE ARRAY(SELECT DISTINCT d FROM unnest(coalesce(days, '{}') || $15::text[]::date[]) AS d
                                        ORDER BY d) END,
                rows_filtered = rows_filtered + $16, rows_unknown = rows_unknown + $17
          WHERE file_id = $1",
        &[
            file_id.into(),
            (add.rows_read as i64).into(),
            (add.rows_loaded as i64).into(),
            (add.rows_duplicate as i64).into(),
            (add.rows_missing as i64).into(),
            (add.rows_rejected as i64).into(),
            (add.bytes as i64).into(),
            (at.entry as i32).into(),
            (at.offset as i64).into(),
            (at.line as i64).into(),
            (input_done as i64).into(),
            times.wait.into(),
            times.write.into(),
            times.commit.into(),
            days.to_vec().into(),
            (add.rows_filtered as i64).into(),
            (add.rows_unknown as i64).into(),
        ],
    )
}

/// Adds the time a file's load spent after its last chunk's bookkeeping: that chunk's commit
/// (with the day's rollups written at it) and the wait for the engine's end.
pub fn add_final_times(file_id: i64, times: &StageTimes) -> Result<()> {
    run_sql(
        "UPDATE vs_ingest.file SET wait_seconds = wait_seconds + $2, write_seconds = write_seconds + $3,
                commit_seconds = commit_seconds + $4
          WHERE file_id = $1",
        &[file_id.into(), times.wait.into(), times.write.into(), times.commit.into()],
    )
}

pub fn finish_file(file_id: i64, status: &str, error: Option<&str>) -> Result<()> {
    run_sql(
        "UPDATE vs_ingest.file SET status = $2, error = $3, error_code = NULL, error_hint = NULL,
                finished_at = clock_timestamp(),
                input_done = CASE WHEN $2 = 'loaded' THEN coalesce(size, input_done) ELSE input_done END
          WHERE file_id = $1",
        &[file_id.into(), status.into(), error.into()],
    )
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
    run_sql(
        "INSERT INTO vs_ingest.reject (file_id, entry, line, reason, raw)
         SELECT $1, e, l, r, w FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[]) AS u(e, l, r, w)",
        &[file_id.into(), entries.into(), lines.into(), reasons.into(), raws.into()],
    )
}

/// Marks the run as stopping: its workers stop after their chunk in flight.
pub fn request_cancel(run_id: i64) -> Result<bool> {
    get::<bool>(
        "UPDATE vs_ingest.run SET status = 'cancelling' WHERE run_id = $1 AND status IN ('running', 'cancelling')
         RETURNING true",
        &[run_id.into()],
    )
    .map(|b| b.unwrap_or(false))
}

/// Whether a run recorded its table's oid, and that table's current schema-qualified name if it
/// still exists.
pub fn run_target(run_id: i64) -> Result<(bool, Option<String>)> {
    let found = get_two::<bool, String>(
        "SELECT r.target_oid IS NOT NULL, CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', n.nspname, c.relname) END
           FROM vs_ingest.run r LEFT JOIN pg_class c ON c.oid = r.target_oid
           LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE r.run_id = $1",
        &[run_id.into()],
    )?;
    Ok(found.map_or((false, None), |(has_oid, name)| (has_oid.unwrap_or(false), name)))
}

/// The role that started a run, by oid (`Some(None)`: a run whose role was gone when 0.3.0
/// recorded oids); `None` if there is no such run.
pub fn run_starter(run_id: i64) -> Result<Option<Option<pg_sys::Oid>>> {
    let found = get_two::<bool, pg_sys::Oid>(
        "SELECT true, started_by_oid FROM vs_ingest.run WHERE run_id = $1",
        &[run_id.into()],
    )?;
    Ok(found.map(|(_, oid)| oid))
}

pub fn run_status(run_id: i64) -> Result<Option<String>> {
    get::<String>("SELECT status FROM vs_ingest.run WHERE run_id = $1", &[run_id.into()])
}

/// Marks the files nobody has started as cancelled, when a run stops.
pub fn cancel_pending(run_id: i64) -> Result<()> {
    run_sql("UPDATE vs_ingest.file SET status = 'cancelled' WHERE run_id = $1 AND status = 'pending'", &[run_id.into()])
}

/// Closes the run once none of its files is pending or loading: totals over its files, and a
/// status that says whether everything loaded.
pub fn finish_run_if_done(run_id: i64) -> Result<()> {
    run_sql(
        "UPDATE vs_ingest.run r SET
                status = CASE WHEN r.status = 'cancelling' OR a.cancelled > 0 THEN 'cancelled'
                              WHEN a.failed > 0 THEN 'failed' ELSE 'succeeded' END,
                error = CASE WHEN a.failed > 0 THEN a.failed || ' of ' || a.seen || ' files failed; see vs_ingest.file' END,
                files_seen = a.seen, files_loaded = a.loaded, files_skipped = a.skipped, files_failed = a.failed,
                rows_read = a.rows_read, rows_loaded = a.rows_loaded, rows_duplicate = a.rows_duplicate,
                rows_missing = a.rows_missing, rows_rejected = a.rows_rejected, bytes = a.bytes,
                rows_filtered = a.rows_filtered, rows_unknown = a.rows_unknown, finished_at = clock_timestamp()
           FROM (SELECT count(*) AS seen,
                        count(*) FILTER (WHERE status IN ('loaded', 'superseded')) AS loaded,
                        count(*) FILTER (WHERE status IN ('skipped', 'changed')) AS skipped,
                        count(*) FILTER (WHERE status = 'failed') AS failed,
                        count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                        count(*) FILTER (WHERE status IN ('pending', 'loading')) AS open,
                        coalesce(sum(rows_read), 0) AS rows_read, coalesce(sum(rows_loaded), 0) AS rows_loaded,
                        coalesce(sum(rows_duplicate), 0) AS rows_duplicate,
                        coalesce(sum(rows_missing), 0) AS rows_missing,
                        coalesce(sum(rows_rejected), 0) AS rows_rejected, coalesce(sum(bytes), 0) AS bytes,
                        coalesce(sum(rows_filtered), 0) AS rows_filtered,
                        coalesce(sum(rows_unknown), 0) AS rows_unknown
                   FROM vs_ingest.file WHERE run_id = $1) a
          WHERE r.run_id = $1 AND a.open = 0 AND r.status IN ('running', 'cancelling')",
        &[run_id.into()],
    )
}

/// A run as a waiting caller sees it.
#[derive(Clone, Debug, Default)]
pub struct RunView {
    pub status: String,
    pub files_seen: i64,
    pub files_done: i64,
    pub files_loaded: i64,
    pub files_skipped: i64,
    pub files_failed: i64,
    pub totals: Totals,
    /// Input bytes of the run done: every finished file's (loaded, skipped, failed, ...), and the
    /// committed part of each file in flight.
    pub input_done: i64,
    /// Input bytes of all the run's files, started or not (as listed until a worker claims one).
    pub input_total: i64,
    /// Input bytes its workers actually read (skipped files excluded): the run's throughput.
    pub input_read: i64,
    /// The first internal error a worker recorded, if any.
    pub internal_error: Option<String>,
    /// The run was found orphaned (its workers gone before it finished) and marked failed.
    pub orphaned: bool,
}

pub fn run_view(run_id: i64) -> Result<RunView> {
    owner(|| {
        Spi::connect_mut(|client| {
            let row = client
                .update(
                    "SELECT r.status, count(f.*),
                        count(*) FILTER (WHERE f.status NOT IN ('pending', 'loading')),
                        count(*) FILTER (WHERE f.status IN ('loaded', 'superseded')),
                        count(*) FILTER (WHERE f.status IN ('skipped', 'changed')),
                        count(*) FILTER (WHERE f.status = 'failed'),
                        coalesce(sum(f.rows_read), 0)::bigint, coalesce(sum(f.rows_loaded), 0)::bigint,
                        coalesce(sum(f.rows_duplicate), 0)::bigint, coalesce(sum(f.rows_missing), 0)::bigint,
                        coalesce(sum(f.rows_rejected), 0)::bigint, coalesce(sum(f.bytes), 0)::bigint,
                        i.done, i.total,
                        min(f.error) FILTER (WHERE f.error LIKE 'internal error: %'),
                        coalesce(r.error LIKE 'interrupted before it finished%', false), i.read,
                        coalesce(sum(f.rows_filtered), 0)::bigint, coalesce(sum(f.rows_unknown), 0)::bigint
                   FROM vs_ingest.run r LEFT JOIN vs_ingest.file f USING (run_id)
                  CROSS JOIN vs_ingest.run_input($1) i
                  WHERE r.run_id = $1 GROUP BY r.status, r.error, i.done, i.total, i.read",
                    None,
                    &[run_id.into()],
                )?
                .first();
            let big = |i| row.get::<i64>(i).map(|v| v.unwrap_or_default());
            Ok(RunView {
                status: row.get::<String>(1)?.unwrap_or_default(),
                files_seen: big(2)?,
                files_done: big(3)?,
                files_loaded: big(4)?,
                files_skipped: big(5)?,
                files_failed: big(6)?,
                totals: Totals {
                    rows_read: big(7)? as u64,
                    rows_loaded: big(8)? as u64,
                    rows_duplicate: big(9)? as u64,
                    rows_missing: big(10)? as u64,
                    rows_rejected: big(11)? as u64,
                    rows_filtered: big(18)? as u64,
                    rows_unknown: big(19)? as u64,
                    bytes: big(12)? as u64,
                },
                input_done: big(13)?,
                input_total: big(14)?,
                internal_error: row.get::<String>(15)?,
                orphaned: row.get::<bool>(16)?.unwrap_or(false),
                input_read: big(17)?,
            })
        })
    })
    .map_err(spi_error)
}

/// The files of a run being loaded: name, input bytes committed, size.
pub fn files_in_flight(run_id: i64) -> Result<Vec<(String, i64, i64)>> {
    owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT regexp_replace(path, '^.*/', ''), input_done, coalesce(size, listed_size, 0)
                       FROM vs_ingest.file WHERE run_id = $1 AND status = 'loading' ORDER BY file_id",
                    None,
                    &[run_id.into()],
                )?
                .map(|row| {
                    Ok((
                        row.get::<String>(1)?.unwrap_or_default(),
                        row.get::<i64>(2)?.unwrap_or_default(),
                        row.get::<i64>(3)?.unwrap_or_default(),
                    ))
                })
                .collect::<std::result::Result<Vec<_>, pgrx::spi::Error>>()
        })
    })
    .map_err(spi_error)
}

/// Records why a file failed.
pub fn fail_file(file_id: i64, error: &IngestError) -> Result<()> {
    finish_file(file_id, "failed", Some(&error.to_string()))?;
    run_sql(
        "UPDATE vs_ingest.file SET error_code = $2, error_hint = $3 WHERE file_id = $1",
        &[file_id.into(), sqlstate(error.sqlstate()).into(), error.hint().into()],
    )
}

/// A failed file: path, error, SQLSTATE and hint.
pub struct Failure {
    pub path: String,
    pub error: String,
    pub code: Option<String>,
    pub hint: Option<String>,
}

/// The files of a run that failed, with why.
pub fn failed_files(run_id: i64) -> Result<Vec<Failure>> {
    owner(|| {
        Spi::connect_mut(|client| {
            client
                .update(
                    "SELECT path, coalesce(error, ''), error_code, error_hint FROM vs_ingest.file
                  WHERE run_id = $1 AND status = 'failed' ORDER BY file_id",
                    None,
                    &[run_id.into()],
                )?
                .map(|row| {
                    Ok(Failure {
                        path: row.get::<String>(1)?.unwrap_or_default(),
                        error: row.get::<String>(2)?.unwrap_or_default(),
                        code: row.get::<String>(3)?,
                        hint: row.get::<String>(4)?,
                    })
                })
                .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
    })
    .map_err(spi_error)
}

/// The five-character SQLSTATE of an error code.
pub fn sqlstate(code: pgrx::PgSqlErrorCode) -> String {
    // SAFETY: unpack_sql_state returns a pointer to a static buffer holding 5 characters.
    unsafe { std::ffi::CStr::from_ptr(pgrx::pg_sys::unpack_sql_state(code as i32)).to_string_lossy().into_owned() }
}

/// Whether `name` is a time zone Postgres knows.
pub fn is_time_zone(name: &str) -> Result<bool> {
    get::<bool>("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", &[name.into()])
        .map(|b| b.unwrap_or(false))
}

/// Moves the ledger's runs and the coverage of relation `from` to relation `to`, now named
/// `name` (a converted target: same data, new relation).
pub fn move_target(from: pg_sys::Oid, to: pg_sys::Oid, name: &str) -> Result<()> {
    run_sql(
        "UPDATE vs_ingest.run SET target_oid = $2, target = $3 WHERE target_oid = $1",
        &[from.into(), to.into(), name.into()],
    )?;
    run_sql(
        "UPDATE vs_ingest.coverage SET target_oid = $2, target = $3 WHERE target_oid = $1",
        &[from.into(), to.into(), name.into()],
    )
}

// Loads spread over Citus worker nodes (src/cluster.rs): the coordinator's file rows mirror the
// nodes' ledgers.

/// The files of a run not finished yet (all of a new run's; a resumed run's unfinished ones), in
/// order.
pub fn unfinished_files(run_id: i64) -> Result<Vec<(i64, String)>> {
    owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT file_id, path FROM vs_ingest.file
                      WHERE run_id = $1 AND status NOT IN ('loaded', 'superseded', 'skipped', 'changed') ORDER BY file_id",
                    None,
                    &[run_id.into()],
                )?
                .map(|row| Ok((row.get::<i64>(1)?.unwrap_or_default(), row.get::<String>(2)?.unwrap_or_default())))
                .collect::<std::result::Result<Vec<_>, pgrx::spi::Error>>()
        })
    })
    .map_err(spi_error)
}

/// The node each file of the target last went to (in earlier runs, or earlier in a resumed one),
/// latest first; with a lock that makes spread loads into the target assign one at a time.
pub fn earlier_nodes(target_oid: pg_sys::Oid) -> Result<Vec<(String, String)>> {
    run_sql(
        "SELECT pg_advisory_xact_lock(hashtext('vs_ingest.assign'), $1::int)",
        &[(u32::from(target_oid) as i32).into()],
    )?;
    owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT path, node FROM (
                         SELECT DISTINCT ON (f.path) f.path, f.node, f.file_id
                           FROM vs_ingest.file f JOIN vs_ingest.run r USING (run_id)
                          WHERE r.target_oid = $1 AND f.node IS NOT NULL
                          ORDER BY f.path, f.file_id DESC) latest
                      ORDER BY file_id DESC",
                    None,
                    &[target_oid.into()],
                )?
                .map(|row| Ok((row.get::<String>(1)?.unwrap_or_default(), row.get::<String>(2)?.unwrap_or_default())))
                .collect::<std::result::Result<_, pgrx::spi::Error>>()
        })
    })
    .map_err(spi_error)
}

pub fn set_node(file_id: i64, node: &str) -> Result<()> {
    run_sql("UPDATE vs_ingest.file SET node = $2 WHERE file_id = $1", &[file_id.into(), node.into()])
}

/// Records the run on `node` that loads `paths` of the run.
pub fn set_node_run(run_id: i64, node: &str, node_run: i64, paths: &[String]) -> Result<()> {
    run_sql(
        "UPDATE vs_ingest.file SET node_run = $3, status = 'loading', error = NULL, started_at = clock_timestamp()
          WHERE run_id = $1 AND node = $2 AND path = ANY ($4)",
        &[run_id.into(), node.into(), node_run.into(), paths.to_vec().into()],
    )
}

/// Copies a node's ledger rows (`run_report`'s `files`) into the run's rows for that node.
pub fn mirror_node_files(run_id: i64, node: &str, files_json: &str) -> Result<()> {
    run_sql(
        "UPDATE vs_ingest.file f
            SET status = CASE WHEN j.status = 'pending' THEN 'loading' ELSE j.status END,
                size = j.size, mtime = j.mtime, fingerprint = j.fingerprint, container = j.container,
                rows_read = j.rows_read, rows_loaded = j.rows_loaded, rows_duplicate = j.rows_duplicate,
                rows_missing = j.rows_missing, rows_rejected = j.rows_rejected, bytes = j.bytes,
                input_done = j.input_done, chunks = j.chunks, wait_seconds = j.wait_seconds,
                write_seconds = j.write_seconds, commit_seconds = j.commit_seconds, worker_pid = j.worker_pid,
                started_at = coalesce(j.started_at, f.started_at), finished_at = j.finished_at,
                error = j.error, error_code = j.error_code, error_hint = j.error_hint
           FROM json_to_recordset($3::json) AS j(path text, status text, size bigint, mtime timestamptz,
                fingerprint text, container text, rows_read bigint, rows_loaded bigint, rows_duplicate bigint,
                rows_missing bigint, rows_rejected bigint, bytes bigint, input_done bigint, chunks int,
                wait_seconds double precision, write_seconds double precision, commit_seconds double precision,
                worker_pid int, started_at timestamptz, finished_at timestamptz, error text, error_code text,
                error_hint text)
          WHERE f.run_id = $1 AND f.node = $2 AND f.path = j.path",
        &[run_id.into(), node.into(), files_json.into()],
    )
}

/// Fails the run's unfinished files on `node` (`None`: on every node).
pub fn fail_node_files(run_id: i64, node: Option<&str>, error: &str) -> Result<()> {
    run_sql(
        "UPDATE vs_ingest.file SET status = 'failed', error = $3, finished_at = clock_timestamp()
          WHERE run_id = $1 AND ($2::text IS NULL OR node = $2) AND status IN ('pending', 'loading')",
        &[run_id.into(), node.into(), error.into()],
    )
}

/// A run and its file rows as JSON, for the coordinator that started it on this node.
pub fn run_report(run_id: i64) -> Result<String> {
    get::<String>(
        "SELECT json_build_object('status', r.status, 'files',
                    coalesce((SELECT json_agg(json_build_object(
                        'path', f.path, 'status', f.status, 'size', f.size, 'mtime', f.mtime,
                        'fingerprint', f.fingerprint, 'container', f.container, 'rows_read', f.rows_read,
                        'rows_loaded', f.rows_loaded, 'rows_duplicate', f.rows_duplicate,
                        'rows_missing', f.rows_missing, 'rows_rejected', f.rows_rejected, 'bytes', f.bytes,
                        'input_done', f.input_done, 'chunks', f.chunks, 'wait_seconds', f.wait_seconds,
                        'write_seconds', f.write_seconds, 'commit_seconds', f.commit_seconds,
                        'worker_pid', f.worker_pid, 'started_at', f.started_at, 'finished_at', f.finished_at,
                        'error', f.error, 'error_code', f.error_code, 'error_hint', f.error_hint))
                      FROM vs_ingest.file f WHERE f.run_id = r.run_id), '[]'::json))::text
           FROM vs_ingest.run r WHERE r.run_id = $1",
        &[run_id.into()],
    )?
    .ok_or(IngestError::NoSuchRun(run_id))
}
