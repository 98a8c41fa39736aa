//! Background workers: they load a run's files and commit every chunk (its hourly rows, the
//! file's counters and resume offset, in one transaction), outside the caller's transaction.
//!
//! The first worker of a run (the leader) registers it from the caller's request; every worker
//! then claims files one at a time. A session advisory lock per (table, file) makes one worker,
//! of any run, the only one loading a file; a shared lock per run tells live runs from runs left
//! behind by a crash.

pub mod file;
pub mod handoff;
pub mod request;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, DynamicBackgroundWorker, SignalWakeFlags,
};
use pgrx::prelude::*;
use vs_ingest_engine::calendar::LocalGaps;
use vs_ingest_engine::format::Format;
use vs_ingest_engine::links::{LinkSet, Network, UnknownLinks};
use vs_ingest_engine::pipeline::Engine;

use crate::error::{spi_error, IngestError, Result};
use crate::postgres::catalog;
use crate::postgres::transaction::in_transaction;
use crate::write::Writer;
use handoff::Received;
use request::Request;

const LIBRARY: &str = "vs_ingest";
const ENTRY: &str = "vs_ingest_worker_main";
pub const WORKER_TYPE: &str = "vs_ingest worker";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Registers the run from a shared memory handoff, then loads.
    Leader,
    /// Loads files of an already registered run.
    Helper,
}

/// Starts a worker for the calling session's database and user.
pub fn start(role: Role, argument: pg_sys::Datum) -> Option<DynamicBackgroundWorker> {
    // SAFETY: plain reads of the backend's identity.
    let (database, user, pid) = unsafe { (pg_sys::MyDatabaseId, pg_sys::GetUserId(), pg_sys::MyProcPid) };
    let role_name = match role {
        Role::Leader => "leader",
        Role::Helper => "helper",
    };
    BackgroundWorkerBuilder::new(&format!("vs_ingest {role_name}"))
        .set_type(WORKER_TYPE)
        .set_library(LIBRARY)
        .set_function(ENTRY)
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(None)
        .set_argument(Some(argument))
        .set_extra(&format!("{role_name} {} {}", u32::from(database), u32::from(user)))
        .set_notify_pid(pid)
        .load_dynamic()
        .ok()
}

/// The entry point Postgres calls in a new worker process.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn vs_ingest_worker_main(argument: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP);
    install_stop_handlers();
    let extra: Vec<&str> = BackgroundWorker::get_extra().split(' ').collect();
    let [role, database, user] = extra[..] else { panic!("bad worker arguments {extra:?}") };
    let oid = |s: &str| pg_sys::Oid::from(s.parse::<u32>().expect("an oid"));
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(oid(database)), Some(oid(user)));
    crate::postgres::access::fix_search_path_for_process();

    let (run_id, request) = match role {
        "leader" => {
            let Some(received) = Received::attach(argument.value() as u32) else { return };
            match in_transaction(|| register(&received.request)) {
                Ok((run_id, request)) => {
                    received.registered(run_id);
                    (run_id, request)
                }
                Err(e) => {
                    received.failed(&error_json(&e));
                    return;
                }
            }
        }
        _ => {
            let run_id = argument.value() as i64;
            match in_transaction(|| join(run_id)) {
                Ok(Some(request)) => (run_id, request),
                Ok(None) => return,
                Err(e) => panic!("vs_ingest worker could not join run {run_id}: {e}"),
            }
        }
    };
    if request.on_workers {
        crate::cluster::dispatch(run_id, &request);
    } else {
        work(run_id, request, role == "leader");
    }
}

/// A failure to hand back to the caller, who raises it with its SQLSTATE and hint.
fn error_json(e: &IngestError) -> String {
    serde_json::json!({"code": e.sqlstate() as i32, "message": e.to_string(), "hint": e.hint()}).to_string()
}

/// Registers the run the caller asked for (or reopens the one it resumes); returns its id.
fn register(request_json: &[u8]) -> Result<(i64, Request)> {
    let envelope: Envelope = serde_json::from_slice(request_json).expect("the caller's request is valid JSON");
    catalog::fail_orphaned_runs()?;
    let mut writer = Writer::open(&envelope.request.target, &envelope.request.source_timezone)?;
    if envelope.request.replace {
        writer.replace_for(None)?;
    }
    let mut request = envelope.request;
    request.target = writer.target_name().to_string();
    let run_id = match envelope.resume_run {
        Some(run_id) => {
            // Orphaned runs were just marked failed; one still running has live workers.
            if matches!(catalog::run_status(run_id)?.as_deref(), Some("running" | "cancelling")) {
                return Err(IngestError::RunIsLive(run_id));
            }
            catalog::reopen_run(run_id)?;
            run_id
        }
        None => {
            let request_json = serde_json::to_string(&request).expect("a request serialises");
            let run_id = catalog::start_run(&catalog::NewRun {
                dir: &request.dir,
                pattern: &request.pattern,
                target: &request.target,
                target_oid: writer.target_oid(),
                source_id: request.source_id,
                request_json: &request_json,
            })?;
            catalog::add_pending_files(run_id, &request.files)?;
            run_id
        }
    };
    catalog::hold_run(run_id)?;
    Ok((run_id, request))
}

/// Joins a registered run as a helper; `None` if it is over already.
fn join(run_id: i64) -> Result<Option<Request>> {
    catalog::hold_run(run_id)?;
    match catalog::run_request(run_id)? {
        Some((json, status)) if status == "running" => Ok(Some(Request::from_stored(&json)?)),
        _ => Ok(None),
    }
}

/// What the caller hands the leader.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    pub request: Request,
    /// Continue this interrupted run instead of registering a new one.
    pub resume_run: Option<i64>,
}

/// A worker's state across the files it loads.
pub struct Worker {
    pub run_id: i64,
    pub request: Request,
    pub format: &'static dyn Format,
    pub engine: Engine,
    pub writer: Writer,
    /// The local times that do not exist in the source's time zone (`None`: none between 1970
    /// and 2100): the parser rejects rows at them as `nonexistent_time`.
    pub gaps: Option<Arc<LocalGaps>>,
    /// The only links to keep (`links => ...`), shared by the engine's loads of every file.
    pub links: Option<Arc<LinkSet>>,
    /// The target's reference network, as the worker found it when it started, and what to do
    /// with the links it lacks.
    pub network: Option<(Arc<Network>, UnknownLinks)>,
    /// Chunks this worker committed, for the test-only fault injection.
    pub chunks_committed: u32,
}

/// Loads files of the run until none is left. `leader`: the run's first worker, which waits for
/// a place under the caps across loads where the others give up (`crate::budget::admit`).
fn work(run_id: i64, request: Request, leader: bool) {
    // Before any thread starts, so that they all inherit the priority.
    if let Err(e) = request.budget.apply_priority() {
        warning!("{e}");
    }
    let admitted = crate::budget::admit(&request.budget, request.threads, leader, stop_requested)
        .unwrap_or_else(|e| panic!("vs_ingest worker could not take its place: {e}"));
    let Some(threads) = admitted else {
        if leader {
            let _ = in_transaction(|| stop_run(run_id));
            let _ = in_transaction(|| catalog::finish_run_if_done(run_id));
        }
        return;
    };
    let format = vs_ingest_engine::format::lookup(&request.format).expect("the caller checked the format");
    let engine = Engine::new(threads).expect("the parse threads start");
    let writer = in_transaction(|| {
        let mut writer = Writer::open(&request.target, &request.source_timezone)?;
        if request.replace {
            writer.replace_for(Some(run_id))?;
        }
        Ok(writer)
    })
    .unwrap_or_else(|e| panic!("vs_ingest worker could not open {}: {e}", request.target));
    let gaps = in_transaction(|| local_time_gaps(&request.source_timezone)).unwrap_or_else(|e| {
        panic!("vs_ingest worker could not read the local times of {}: {e}", request.source_timezone)
    });
    let links = request.links.clone().map(|ids| Arc::new(LinkSet::new(ids)));
    let network =
        in_transaction(|| crate::postgres::links::network(writer.target_oid(), request.unknown_links.as_deref()))
            .unwrap_or_else(|e| panic!("vs_ingest worker could not read the link network of {}: {e}", request.target));
    let mut worker = Worker { run_id, request, format, engine, writer, gaps, links, network, chunks_committed: 0 };

    loop {
        if stop_requested() {
            let _ = in_transaction(|| stop_run(run_id));
            break;
        }
        let next = in_transaction(|| next_file(&worker)).unwrap_or_else(|e| panic!("claiming a file failed: {e}"));
        match next {
            Next::File(file_id, path) => {
                let outcome = file::load(&mut worker, file_id, &path);
                let target = worker.request.target.clone();
                let _ = in_transaction(|| catalog::unlock_file(&target, &path));
                if outcome == file::Outcome::Stop {
                    break;
                }
            }
            Next::Wait => {
                // SIGUSR2 sets the latch; SIGTERM's `die` ends the process at the interrupt check.
                crate::load::sleep(Duration::from_millis(200));
                check_for_interrupts!();
            }
            Next::Done => break,
        }
    }
    let _ = in_transaction(|| catalog::finish_run_if_done(run_id));
}

/// The local 5-minute slots that do not exist in `time_zone` (`vs_ingest.local_time_gaps`), for
/// the engine, which has no time zone database; `None` when there are none. Read once per run, on
/// the worker's main thread, before any file is parsed.
fn local_time_gaps(time_zone: &str) -> Result<Option<Arc<LocalGaps>>> {
    let slots = Spi::connect(|client| {
        client
            .select(
                "SELECT (t::date - date '1970-01-01')::bigint, (extract(hour FROM t) * 12 + extract(minute FROM t) / 5)::int
                   FROM vs_ingest.local_time_gaps($1) AS t",
                None,
                &[time_zone.into()],
            )?
            .map(|row| {
                let day = row.get::<i64>(1)?.expect("a gap has a day");
                let slot = row.get::<i32>(2)?.expect("and a slot");
                Ok((day, slot as usize))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .map_err(spi_error)?;
    let gaps = LocalGaps::from_slots(slots);
    Ok((!gaps.is_empty()).then(|| Arc::new(gaps)))
}

enum Next {
    File(i64, String),
    /// Files remain but other loads hold them.
    Wait,
    Done,
}

fn next_file(worker: &Worker) -> Result<Next> {
    if catalog::run_status(worker.run_id)?.as_deref() != Some("running") {
        catalog::cancel_pending(worker.run_id)?;
        return Ok(Next::Done);
    }
    let mut wait = false;
    for c in catalog::candidates(worker.run_id)? {
        if catalog::try_lock_file(&worker.request.target, &c.path)? {
            if catalog::claim(c.file_id)? {
                return Ok(Next::File(c.file_id, c.path));
            }
            catalog::unlock_file(&worker.request.target, &c.path)?;
        } else if c.pending {
            // Another load has this file; it will be loaded or skipped once that one is done.
            wait = true;
        }
    }
    Ok(if wait { Next::Wait } else { Next::Done })
}

/// Set by SIGUSR2: stop after the chunk in flight (a cancel, or the caller's Ctrl-C).
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// SIGTERM (`pg_terminate_backend`, a fast shutdown, the caller giving up on a deadlock) is
/// Postgres' own `die`: it ends the worker at the next interrupt check, also while it waits for a
/// lock or for I/O; the chunk in flight is rolled back and the next load resumes the file.
/// SIGUSR2 asks for a graceful stop instead: the worker commits the chunk in flight, marks the
/// run cancelled and exits.
fn install_stop_handlers() {
    unsafe extern "C-unwind" {
        /// Postgres' SIGTERM handler for backends (the pgrx binding wraps it; a handler needs the
        /// symbol itself).
        #[link_name = "die"]
        fn postgres_die(signal: std::ffi::c_int);
        /// The raw SetLatch (async-signal-safe); pgrx's binding adds error handling that is not.
        #[link_name = "SetLatch"]
        fn set_latch(latch: *mut pg_sys::Latch);
    }
    extern "C-unwind" fn request_stop(_signal: std::ffi::c_int) {
        // SAFETY: only async-signal-safe work: an atomic store and SetLatch, with errno saved as
        // Postgres' own handlers do.
        unsafe {
            let errno = *libc::__errno_location();
            STOP_REQUESTED.store(true, Ordering::SeqCst);
            set_latch(pg_sys::MyLatch);
            *libc::__errno_location() = errno;
        }
    }
    // SAFETY: installs handlers on the worker's main thread before anything else runs.
    unsafe {
        pg_sys::pqsignal(libc::SIGTERM, Some(postgres_die));
        pg_sys::pqsignal(libc::SIGUSR2, Some(request_stop));
    }
}

/// Whether a graceful stop was asked for.
pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// Asks the worker `pid` to stop after its chunk in flight; false if there is no such process.
pub fn request_stop(pid: i32) -> bool {
    // SAFETY: a signal to another backend process of this server (same OS user).
    unsafe { libc::kill(pid, libc::SIGUSR2) == 0 }
}

/// Stops the run on a requested stop or a cancel: the files nobody started are cancelled too.
pub fn stop_run(run_id: i64) -> Result<()> {
    catalog::request_cancel(run_id)?;
    catalog::cancel_pending(run_id)
}
