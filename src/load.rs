//! The calling side of a load: check access and options, hand the request to background
//! workers, then (by default) wait for them, reporting progress, and return the run's summary.
//! The caller's own transaction writes nothing: the workers commit every chunk in theirs.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorkerStatus, DynamicBackgroundWorker};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{IntoDatum, PgLogLevel};
use vs_ingest_engine::format;
use vs_ingest_engine::source::FileMeta;

use crate::budget::Budget;
use crate::error::{IngestError, Result};
use crate::gucs;
use crate::postgres::access::{self, FixedSearchPath};
use crate::postgres::catalog::{self, RunView, Totals};
use crate::postgres::links;
use crate::postgres::source::Source;
use crate::worker::handoff::{Answer, Handoff};
use crate::worker::request::Request;
use crate::worker::{self, Envelope, Role};

/// Options of a load as given in SQL; `None` takes the setting's value.
pub struct LoadOptions<'a> {
    pub target: &'a str,
    pub format: &'a str,
    pub source_timezone: Option<&'a str>,
    pub max_reject_ratio: Option<f64>,
    pub reload_changed: bool,
    /// Rebuild each local day the files cover from them alone (`crate::write::replace`).
    pub replace: bool,
    pub wait: bool,
    /// Where the files are loaded: `None` or `"local"` here, `"workers"` on the Citus worker
    /// nodes (`crate::cluster`).
    pub nodes: Option<&'a str>,
    /// A table or view whose `link_id`s are the only links to keep (`crate::postgres::links`).
    pub links: Option<&'a str>,
    /// What to do with the samples of links the target's network lacks: `"load"` (`None`: the
    /// same) or `"skip"`; counted either way (`crate::postgres::links`).
    pub unknown_links: Option<&'a str>,
}

/// What a load returns to SQL.
pub struct Summary {
    pub run_id: i64,
    pub files_seen: i64,
    pub files_loaded: i64,
    pub files_skipped: i64,
    pub files_failed: i64,
    pub totals: Totals,
    pub seconds: f64,
}

impl Summary {
    pub fn mb_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.totals.bytes as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }
}

/// Puts the links a load keeps (read as the caller, under the fixed search_path) into its request.
fn keep_links(request: &mut Request, read: Option<(String, Vec<i64>)>) {
    if let Some((from, ids)) = read {
        request.links = Some(ids);
        request.links_from = Some(from);
    }
}

/// Refuses `unknown_links` for a target without a network, and a load spread over the worker
/// nodes into a target with one (their catalogs do not have it).
fn check_network(target: &str, options: &LoadOptions, spread: bool) -> Result<()> {
    let known = match access::relation_oid(target)? {
        Some(target) => links::has_network(target)?,
        None => false,
    };
    if known && spread {
        return Err(IngestError::NetworkSpread(target.into()));
    }
    if options.unknown_links.is_some() && !known {
        return Err(IngestError::NoNetwork(target.into()));
    }
    Ok(())
}

/// Loads the files of `dir` whose names match `pattern`.
pub fn load_dir(dir: &str, pattern: &str, options: &LoadOptions) -> Result<Summary> {
    access::check_role()?;
    let target = access::qualify_target(options.target)?;
    let links = links::resolve(options.links)?;
    let _path = FixedSearchPath::enter();
    let allowed = access::allowed_dirs()?;
    let checked = access::open_dir(dir, &allowed)?;
    let files = access::list_matching(&checked, pattern)?;
    let mut request = request(dir, pattern, files, &target, options)?;
    request.on_workers = match options.nodes {
        None | Some("local") => false,
        Some("workers") => {
            if options.replace {
                return Err(IngestError::ReplaceSpread(target));
            }
            if links.is_some() {
                return Err(IngestError::LinksSpread);
            }
            check_network(&target, options, true)?;
            crate::cluster::check_spread(&target)?;
            true
        }
        Some(other) => return Err(IngestError::BadNodes(other.into())),
    };
    if !request.on_workers {
        check_network(&target, options, false)?; // a spread load's was checked above
    }
    keep_links(&mut request, links::read(links)?);
    launch(Envelope { request, resume_run: None }, options.wait)
}

/// Loads the listed files, each checked as `vs_ingest_file` checks its one: a node's share of a
/// load spread over Citus worker nodes (`crate::cluster`).
pub fn load_files(dir: &str, pattern: &str, paths: &[String], options: &LoadOptions) -> Result<Summary> {
    access::check_role()?;
    let target = access::qualify_target(options.target)?;
    let _path = FixedSearchPath::enter();
    let allowed = access::allowed_dirs()?;
    let files = paths.iter().map(|p| access::check_file(p, &allowed)).collect::<Result<Vec<_>>>()?;
    let request = request(dir, pattern, files, &target, options)?;
    launch(Envelope { request, resume_run: None }, options.wait)
}

/// Loads one file.
pub fn load_file(path: &str, options: &LoadOptions) -> Result<Summary> {
    access::check_role()?;
    let target = access::qualify_target(options.target)?;
    let links = links::resolve(options.links)?;
    let _path = FixedSearchPath::enter();
    let allowed = access::allowed_dirs()?;
    let real = access::check_file(path, &allowed)?;
    let dir = real.parent().map(|d| d.display().to_string()).unwrap_or_default();
    let name = real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut request = request(&dir, &name, vec![real], &target, options)?;
    check_network(&target, options, false)?;
    keep_links(&mut request, links::read(links)?);
    launch(Envelope { request, resume_run: None }, options.wait)
}

/// The role that started the run `run_id` (by oid: a role created again under its name is
/// another role), if the caller may act on it: a run is resumed or cancelled only by that role (or
/// a member of it, or a superuser). `None`: its role was gone when 0.3.0 recorded oids.
pub(crate) fn own_run(run_id: i64) -> Result<Option<pg_sys::Oid>> {
    let started_by = catalog::run_starter(run_id)?.ok_or(IngestError::NoSuchRun(run_id))?;
    if access::may_act_for(started_by) {
        Ok(started_by)
    } else {
        Err(IngestError::NotRunOwner(run_id))
    }
}

/// Continues an interrupted run: its unfinished files go on from their last committed chunk. Its
/// workers run as the role that started it, whoever resumes it.
pub fn resume(run_id: i64, wait: bool) -> Result<Summary> {
    access::check_role()?;
    let started_by = own_run(run_id)?;
    let (json, _) = catalog::run_request(run_id)?.ok_or(IngestError::NoSuchRun(run_id))?;
    let mut request = Request::from_stored(&json)?;
    // The table the run loaded into, under its current name (renamed since, or stored
    // unqualified by 0.1.0).
    request.target = match catalog::run_target(run_id)? {
        (_, Some(current)) => current,
        (false, None) => access::qualify_target(&request.target)?,
        // Its committed chunks went into a table that is gone: continuing mid-file into whatever
        // has the name now would leave that table short.
        (true, None) => return Err(IngestError::RunTargetGone(run_id)),
    };
    let role = started_by.filter(|&role| access::role_exists(role)).ok_or(IngestError::NotRunOwner(run_id))?;
    // Resumed from SQL: the caller's budget (the parse threads stay those of the run).
    request.budget = Budget::interactive();
    access::as_role(role, || launch(Envelope { request, resume_run: Some(run_id) }, wait))
}

/// The pids of the live workers of a run (of those in `among`, if given), from a fresh look at
/// pg_stat_activity (it is otherwise cached for the whole transaction).
fn run_workers(run_id: i64, among: Option<&[i32]>) -> Result<Vec<i32>> {
    access::as_catalog_owner(|| {
        Spi::run("SELECT pg_stat_clear_snapshot()")?;
        Spi::get_one_with_args::<Vec<i32>>(
            "SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_activity
              WHERE backend_type = $1 AND application_name = $2 AND ($3::int[] IS NULL OR pid = ANY ($3))",
            &[worker::WORKER_TYPE.into(), catalog::worker_name(run_id).into(), among.map(<[i32]>::to_vec).into()],
        )
    })
    .map(Option::unwrap_or_default)
    .map_err(crate::error::spi_error)
}

/// How long `vs_ingest_cancel` lets workers finish their chunk in flight before it terminates the
/// ones that wait for a lock.
const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// Asks the workers of a run to stop after their chunk in flight, and waits (a few seconds at
/// most) for them to go; false if none was running.
/// They are signalled rather than told through the catalog: this transaction's writes stay
/// invisible to them until it commits, and a row it updated would block them.
pub fn cancel(run_id: i64) -> Result<bool> {
    access::check_role()?;
    let _path = FixedSearchPath::enter();
    own_run(run_id)?;
    let signalled = signal_stop(run_id)?;
    // A graceful stop waits for the chunk in flight; a worker that is still there after a few
    // seconds because it waits for a lock would wait for ever, so it is terminated (its chunk in
    // flight rolls back; the next load resumes it). Workers are found by pid *and* by what they
    // are, so a reused pid is never signalled.
    let started = Instant::now();
    while !signalled.is_empty() {
        let alive = run_workers(run_id, Some(&signalled))?;
        if alive.is_empty() {
            break;
        }
        if started.elapsed() >= CANCEL_GRACE {
            access::as_catalog_owner(|| {
                Spi::run_with_args(
                    "SELECT pg_terminate_backend(p) FROM unnest($1::int[]) AS p
                      WHERE cardinality(pg_blocking_pids(p)) > 0",
                    &[alive.into()],
                )
            })
            .map_err(crate::error::spi_error)?;
            break;
        }
        check_for_interrupts!();
        sleep(Duration::from_millis(50));
    }
    Ok(!signalled.is_empty())
}

/// Asks the live workers of a run to stop after their chunk in flight; the pids signalled. They
/// are found as the catalog's owner (pg_stat_activity shows other roles' sessions only to it).
pub(crate) fn signal_stop(run_id: i64) -> Result<Vec<i32>> {
    Ok(run_workers(run_id, None)?.into_iter().filter(|&pid| worker::request_stop(pid)).collect())
}

/// Loads a source (`vs_ingest.source`) with its options. A scheduled load takes only the files
/// its target's ledger has not settled, and none at all (no run) when there are none; otherwise,
/// as `vs_ingest_run_source`, every matching file, like `vs_ingest_dir`.
pub fn load_source(source: &Source, scheduled: bool, wait: bool) -> Result<Option<Summary>> {
    access::check_role()?;
    let _path = FixedSearchPath::enter();
    let allowed = access::allowed_dirs()?;
    let checked = access::open_dir(&source.dir, &allowed)?;
    let options = LoadOptions {
        target: &source.target,
        format: &source.format,
        source_timezone: source.source_timezone.as_deref(),
        max_reject_ratio: source.max_reject_ratio,
        reload_changed: source.reload_changed,
        replace: source.replace,
        wait,
        nodes: None,
        links: None,
        unknown_links: source.unknown_links.as_deref(),
    };
    let files = match access::list_matching(&checked, &source.pattern) {
        Err(IngestError::NoMatch { .. }) if scheduled => return Ok(None),
        listed => listed?,
    };
    let files = if scheduled {
        // A file still being written (modified within the settle time) waits for a later check.
        let settle = gucs::SETTLE_TIME.get().max(0) as f64;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let facts: Vec<(String, i64, f64)> = files
            .iter()
            .filter_map(|f| stat(f))
            .filter(|(_, _, mtime)| settle <= 0.0 || now - mtime >= settle)
            .collect();
        let reload = source.reload_changed || source.replace;
        let unsettled = crate::postgres::source::unsettled(&source.target, &facts, reload)?;
        if unsettled.is_empty() {
            return Ok(None);
        }
        unsettled.into_iter().map(PathBuf::from).collect()
    } else {
        files
    };
    // Source targets are stored schema-qualified.
    let mut request = request(&source.dir, &source.pattern, files, &source.target, &options)?;
    request.source_id = Some(source.id);
    check_network(&source.target, &options, false)?;
    if let Some((relation, name)) = &source.links {
        keep_links(&mut request, links::read_stored(*relation, name)?);
    }
    if scheduled {
        request.budget = Budget::scheduled();
        request.threads = Budget::threads(true);
    }
    launch(Envelope { request, resume_run: None }, wait).map(Some)
}

/// (path, size, mtime in seconds) as the ledger records them; `None` for a file that vanished.
pub(crate) fn stat(path: &std::path::Path) -> Option<(String, i64, f64)> {
    let meta = FileMeta::from_metadata(&std::fs::symlink_metadata(path).ok()?).ok()?;
    Some((path.display().to_string(), meta.size as i64, meta.mtime_seconds()))
}

/// Checks a load's options; returns the format's name. (The target's name is checked where it is
/// qualified, `access::qualify_target`.)
pub fn check_options(
    format: &str,
    source_timezone: Option<&str>,
    max_reject_ratio: Option<f64>,
) -> Result<&'static str> {
    let format = format::lookup(format).ok_or_else(|| IngestError::UnknownFormat(format.into()))?;
    if let Some(tz) = source_timezone {
        if !catalog::is_time_zone(tz)? {
            return Err(IngestError::BadTimeZone(tz.into()));
        }
    }
    if let Some(ratio) = max_reject_ratio {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(IngestError::BadRejectRatio(ratio));
        }
    }
    Ok(format.name())
}

fn request(dir: &str, pattern: &str, files: Vec<PathBuf>, target: &str, options: &LoadOptions) -> Result<Request> {
    let source_timezone = match options.source_timezone {
        Some(tz) => tz.to_string(),
        None => gucs::string(&gucs::SOURCE_TIMEZONE).unwrap_or_else(|| "Asia/Seoul".into()),
    };
    let max_reject_ratio = options.max_reject_ratio.unwrap_or_else(|| gucs::MAX_REJECT_RATIO.get());
    let format = check_options(options.format, Some(&source_timezone), Some(max_reject_ratio))?;
    let unknown_links = options.unknown_links.map(links::unknown_links).transpose()?.map(|u| u.word().to_string());
    Ok(Request {
        version: Request::VERSION,
        dir: dir.to_string(),
        pattern: pattern.to_string(),
        files: files.iter().map(|f| f.display().to_string()).collect(),
        target: target.to_string(),
        format: format.to_string(),
        source_timezone,
        max_reject_ratio,
        reload_changed: options.reload_changed,
        threads: Budget::threads(false),
        chunk_size: gucs::CHUNK_KB.get() as usize * 1024,
        max_rejects_stored: gucs::MAX_REJECTS_STORED.get().max(0) as u64,
        source_id: None,
        on_workers: false,
        replace: options.replace,
        budget: Budget::interactive(),
        links: None,
        links_from: None,
        unknown_links,
    })
}

fn launch(mut envelope: Envelope, wait: bool) -> Result<Summary> {
    let started = Instant::now();
    // SAFETY: reads the session's isolation level.
    let isolation = unsafe { pg_sys::XactIsoLevel } as u32;
    if wait && isolation >= pg_sys::XACT_REPEATABLE_READ {
        let name = if isolation == pg_sys::XACT_REPEATABLE_READ { "REPEATABLE READ" } else { "SERIALIZABLE" };
        return Err(IngestError::IsolationLevel(name));
    }
    let files = envelope.request.files.len();
    let spread = envelope.request.on_workers;
    // A spread load's one worker here only follows the nodes. The workers share the load's read
    // rate by the number planned here.
    let wanted = if spread { 1 } else { envelope.request.budget.planned_workers(files) };
    envelope.request.budget.workers = wanted;
    let handoff = Handoff::new(&serde_json::to_vec(&envelope).expect("a request serialises"));
    let leader = worker::start(Role::Leader, pg_sys::Datum::from(handoff.handle())).ok_or(IngestError::NoWorkerSlot)?;
    let workers = RefCell::new(vec![leader]);
    let mut deadlock = DeadlockCheck::new();
    let run_id = loop {
        guarded_interrupt_check(&workers);
        deadlock.check(&workers)?;
        match handoff.answer() {
            Answer::Registered(run_id) => break run_id,
            Answer::Failed(json) => return Err(registration_error(&json)),
            Answer::Waiting if all_stopped(&workers) => {
                return Err(IngestError::Postgres {
                    code: PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    message: "the vs_ingest worker exited before it registered the load".into(),
                    detail: None,
                    hint: Some("See the server log.".into()),
                })
            }
            Answer::Waiting => sleep(Duration::from_millis(5)),
        }
    };
    drop(handoff);

    for _ in 1..wanted {
        match worker::start(Role::Helper, run_id.into_datum().expect("an int8 datum")) {
            Some(w) => workers.borrow_mut().push(w),
            None => break, // no free worker slot: the ones running share the files
        }
    }

    if !wait {
        return Ok(Summary {
            run_id,
            files_seen: files as i64,
            files_loaded: 0,
            files_skipped: 0,
            files_failed: 0,
            totals: Totals::default(),
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    let mut progress = Progress::new(run_id);
    let view = loop {
        guarded_interrupt_check(&workers);
        deadlock.check(&workers)?;
        let view = catalog::run_view(run_id)?;
        if view.status != "running" && view.status != "cancelling" {
            break view;
        }
        if all_stopped(&workers) {
            // Give the last commit a moment to become visible before calling it an interruption.
            let view = catalog::run_view(run_id)?;
            if view.status == "running" || view.status == "cancelling" {
                return Err(IngestError::Interrupted(run_id));
            }
            break view;
        }
        progress.report(&view);
        sleep(Duration::from_millis(100));
    };
    if view.orphaned {
        // Its workers died (a crash, a kill) and another session marked it failed first.
        return Err(IngestError::Interrupted(run_id));
    }
    for failure in catalog::failed_files(run_id)? {
        let message = if failure.error.contains(&failure.path) {
            failure.error
        } else {
            format!("\"{}\" failed: {}", failure.path, failure.error)
        };
        let code = failure.code.as_deref().map(sqlstate_code).unwrap_or(PgSqlErrorCode::ERRCODE_WARNING);
        let mut report = ErrorReport::new(code, message, "vs_ingest");
        if let Some(hint) = failure.hint {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::WARNING);
    }
    if view.status == "cancelled" && view.internal_error.is_none() {
        let unfinished = view.files_seen - view.files_loaded - view.files_skipped - view.files_failed;
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            format!("vs_ingest: run {run_id} was stopped before it finished: {unfinished} file(s) not loaded"),
            "vs_ingest",
        )
        .set_hint(format!(
            "A cancel or a signal stopped its workers; committed chunks are kept. Continue with SELECT * FROM \
             vs_ingest_resume({run_id})."
        ))
        .report(PgLogLevel::WARNING);
    }
    if let Some(error) = view.internal_error {
        return Err(IngestError::Postgres {
            code: PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            message: error.trim_start_matches(crate::worker::file::INTERNAL_ERROR).to_string(),
            detail: Some(format!("run {run_id} was stopped")),
            hint: Some("This is a bug in vs_ingest; please report it with the server log.".into()),
        });
    }
    Ok(Summary {
        run_id,
        files_seen: view.files_seen,
        files_loaded: view.files_loaded,
        files_skipped: view.files_skipped,
        files_failed: view.files_failed,
        totals: view.totals,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// CHECK_FOR_INTERRUPTS, stopping the workers first if it raises (a cancel, a shutdown): they
/// finish their chunk in flight, commit it and exit.
fn guarded_interrupt_check(workers: &RefCell<Vec<DynamicBackgroundWorker>>) {
    let checked = std::panic::catch_unwind(|| {
        check_for_interrupts!();
    });
    if let Err(error) = checked {
        // Ctrl-C, a statement timeout: the workers commit their chunk in flight and stop.
        for w in workers.borrow_mut().drain(..) {
            match w.pid() {
                Ok(pid) => {
                    worker::request_stop(pid);
                }
                // Not started yet: the postmaster will not start it.
                Err(_) => {
                    let _ = w.terminate();
                }
            }
        }
        std::panic::resume_unwind(error);
    }
}

/// Finds a caller that waits for workers which wait for it: the caller's transaction holds a
/// lock they need (it truncated, created, altered or locked the target, ...), or a session
/// queued behind the caller's locks (a `DROP EXTENSION`) holds up the workers. Nothing else
/// would ever end that wait, so the load is stopped with an error that says what to do.
struct DeadlockCheck {
    last: Instant,
}

impl DeadlockCheck {
    const EVERY: Duration = Duration::from_millis(500);

    fn new() -> DeadlockCheck {
        DeadlockCheck { last: Instant::now() }
    }

    fn check(&mut self, workers: &RefCell<Vec<DynamicBackgroundWorker>>) -> Result<()> {
        if self.last.elapsed() < Self::EVERY {
            return Ok(());
        }
        self.last = Instant::now();
        let pids: Vec<i32> = workers.borrow().iter().filter_map(|w| w.pid().ok()).collect();
        if pids.is_empty() {
            return Ok(());
        }
        // Everyone the workers wait for, directly or through other waiters.
        let (waited_for, through) = Spi::get_two_with_args::<bool, String>(
            "WITH RECURSIVE waits(pid) AS (
                 SELECT p FROM unnest($1::int[]) AS p
                 UNION
                 SELECT b FROM waits w, unnest(pg_blocking_pids(w.pid)) AS b)
             SELECT bool_or(w.pid = pg_backend_pid()),
                    string_agg(w.pid || ' (' || left(coalesce(nullif(a.query, ''), a.backend_type, '?'), 60) || ')',
                               ', ') FILTER (WHERE w.pid <> pg_backend_pid() AND w.pid <> ALL ($1::int[]))
               FROM waits w LEFT JOIN pg_stat_activity a ON a.pid = w.pid",
            &[pids.into()],
        )
        .map_err(crate::error::spi_error)?;
        if waited_for != Some(true) {
            return Ok(());
        }
        let through = through.unwrap_or_default();
        for w in workers.borrow_mut().drain(..) {
            let _ = w.terminate();
        }
        let through = if through.is_empty() { String::new() } else { format!(", through {through}") };
        Err(IngestError::WorkersBlocked { through })
    }
}

fn all_stopped(workers: &RefCell<Vec<DynamicBackgroundWorker>>) -> bool {
    workers
        .borrow()
        .iter()
        .all(|w| matches!(w.pid(), Err(BackgroundWorkerStatus::Stopped | BackgroundWorkerStatus::PostmasterDied)))
}

/// Waits on this process's latch for `duration` at most (a signal sets it); the caller checks
/// for interrupts.
pub(crate) fn sleep(duration: Duration) {
    // SAFETY: waits on the backend's own latch; interrupts are checked by the caller's loop.
    unsafe {
        pg_sys::WaitLatch(
            pg_sys::MyLatch,
            (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
            duration.as_millis() as std::ffi::c_long,
            pg_sys::PG_WAIT_EXTENSION,
        );
        pg_sys::ResetLatch(pg_sys::MyLatch);
    }
}

/// A SQLSTATE such as `XX001` as an error code.
fn sqlstate_code(state: &str) -> PgSqlErrorCode {
    let b = state.as_bytes();
    if b.len() != 5 {
        return PgSqlErrorCode::ERRCODE_WARNING;
    }
    // Postgres' MAKE_SQLSTATE: six bits per character.
    let code = (0..5).fold(0i32, |acc, i| acc | ((i32::from(b[i]) - i32::from(b'0')) & 0x3F) << (6 * i));
    PgSqlErrorCode::from(code)
}

fn registration_error(json: &str) -> IngestError {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    IngestError::Postgres {
        code: PgSqlErrorCode::from(v["code"].as_i64().unwrap_or(0) as i32),
        message: v["message"].as_str().unwrap_or(json).to_string(),
        detail: None,
        hint: v["hint"].as_str().map(str::to_string),
    }
}

/// A run's percentage of its input bytes done (every file, started or not), and its ETA in seconds
/// from its own throughput: the bytes its workers read in `elapsed` seconds (`None` before they
/// read any). The same figures as `vs_ingest.progress`'s run_percent and run_eta.
pub fn run_progress(done: i64, total: i64, read: i64, elapsed: f64) -> (f64, Option<f64>) {
    let percent = if total > 0 { 100.0 * done as f64 / total as f64 } else { 0.0 };
    let remaining = (total - done).max(0) as f64;
    let eta = (read > 0).then(|| remaining * elapsed / read as f64);
    (percent, eta)
}

/// Progress NOTICEs every `vs_ingest.progress_interval` seconds while the caller waits.
struct Progress {
    run_id: i64,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(run_id: i64) -> Progress {
        let now = Instant::now();
        Progress { run_id, started: now, last: now }
    }

    fn report(&mut self, view: &RunView) {
        let interval = gucs::PROGRESS_INTERVAL.get();
        if interval <= 0 || self.last.elapsed() < Duration::from_secs(interval as u64) {
            return;
        }
        self.last = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64();
        let (percent, eta) = run_progress(view.input_done, view.input_total, view.input_read, elapsed);
        let eta = eta.map_or_else(|| "unknown".to_string(), |s| format!("{s:.0} s"));
        let in_flight = catalog::files_in_flight(self.run_id)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, done, size)| format!("{name} {:.0}%", 100.0 * done as f64 / size.max(1) as f64))
            .collect::<Vec<_>>()
            .join(", ");
        notice!(
            "vs_ingest: run {}: {}/{} files done, {:.1}% of {:.1} MB, {} rows, {:.1} MB/s, ETA {}{}",
            self.run_id,
            view.files_done,
            view.files_seen,
            percent,
            view.input_total as f64 / 1e6,
            view.totals.rows_read,
            view.totals.bytes as f64 / 1e6 / elapsed.max(1e-9),
            eta,
            if in_flight.is_empty() { String::new() } else { format!("; loading {in_flight}") }
        );
    }
}
