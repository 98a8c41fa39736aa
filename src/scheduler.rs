//! The scheduler: a static background worker, registered when `shared_preload_libraries`
//! includes vs_ingest. It connects to `vs_ingest.database` and, every
//! `vs_ingest.scheduler_interval`, starts a run for each enabled source that is due and has
//! files its ledger has not settled (new, changed, or left unfinished by a crash or a stop). A
//! source with a run going is not started again. The loads themselves run in the usual dynamic
//! workers, as the source's owner, so the scheduler never waits on a load.
//!
//! It also evaluates the alerts (late, missing and thin days, failing files: src/sql/alerts.sql),
//! applies each source's partition retention and prunes the run history older than
//! `vs_ingest.history_days`. SIGHUP reloads the settings. SIGTERM ends it once its current tick
//! is done (the load workers, signalled by a shutdown too, commit their chunk in flight); it
//! exits with code 1, so the postmaster starts it again after a `pg_terminate_backend` or a crash.

use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::prelude::*;

use crate::budget;
use crate::error::Result;
use crate::gucs;
use crate::load;
use crate::postgres::access;
use crate::postgres::catalog;
use crate::postgres::source::{self, Source};
use crate::postgres::transaction::in_transaction;

pub const SCHEDULER_TYPE: &str = "vs_ingest scheduler";
/// The postmaster starts a scheduler that died again after this long.
const RESTART_AFTER: Duration = Duration::from_secs(5);
/// History is pruned at most this often.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Registers the scheduler; called from `_PG_init` while shared libraries are preloaded.
pub fn register() {
    BackgroundWorkerBuilder::new(SCHEDULER_TYPE)
        .set_type(SCHEDULER_TYPE)
        .set_library("vs_ingest")
        .set_function("vs_ingest_scheduler_main")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(RESTART_AFTER))
        .load();
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn vs_ingest_scheduler_main(_argument: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = gucs::string(&gucs::DATABASE).unwrap_or_else(|| "postgres".into());
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    access::fix_search_path_for_process();
    log!("vs_ingest scheduler: started on database \"{database}\"");
    let mut scheduler = Scheduler { last_prune: None, warned_missing: false, warned_window: false };
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: rereads the configuration files on the worker's main thread, between transactions.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        scheduler.tick();
        let interval = Duration::from_secs(gucs::SCHEDULER_INTERVAL.get().max(1) as u64);
        if !BackgroundWorker::wait_latch(Some(interval)) {
            break;
        }
    }
    log!("vs_ingest scheduler: stopping on SIGTERM");
    // SAFETY: ends the process between transactions. Exit code 1 asks the postmaster for a restart
    // after RESTART_AFTER (a shutdown does not restart anything).
    unsafe { pg_sys::proc_exit(1) }
}

struct Scheduler {
    last_prune: Option<Instant>,
    warned_missing: bool,
    warned_window: bool,
}

impl Scheduler {
    fn tick(&mut self) {
        match in_transaction(extension_installed) {
            Ok(true) => self.warned_missing = false,
            Ok(false) => {
                if !self.warned_missing {
                    log!("vs_ingest scheduler: the extension is not installed in this database; waiting for it");
                    self.warned_missing = true;
                }
                return;
            }
            Err(e) => {
                warning!("vs_ingest scheduler: {e}");
                return;
            }
        }
        if let Err(e) = in_transaction(catalog::fail_orphaned_runs) {
            warning!("vs_ingest scheduler: {e}");
        }
        if self.in_window() {
            self.check_sources();
        }
        let retained = in_transaction(source::with_retention).unwrap_or_default();
        for s in &retained {
            apply_retention(s);
        }
        evaluate_alerts();
        if self.last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            self.last_prune = Some(Instant::now());
            prune_history();
        }
    }

    /// Whether scheduled loads may run now (`vs_ingest.scheduled_hours`); outside the window, the
    /// running ones are asked to stop after their chunk in flight.
    fn in_window(&mut self) -> bool {
        let window = match budget::scheduled_window() {
            Ok(window) => {
                self.warned_window = false;
                window
            }
            Err(e) => {
                // Loads outside the hours a DBA meant are worse than late ones: none start.
                if !self.warned_window {
                    warning!("vs_ingest scheduler: vs_ingest.scheduled_hours: {e}; no scheduled load starts until it is corrected");
                    self.warned_window = true;
                }
                return false;
            }
        };
        match in_transaction(budget::current_hour) {
            Ok(hour) if window.contains(hour) => true,
            Ok(_) => {
                match in_transaction(budget::stop_scheduled_runs) {
                    Ok(runs) if !runs.is_empty() => {
                        log!("vs_ingest scheduler: outside vs_ingest.scheduled_hours: stopping runs {runs:?}")
                    }
                    Ok(_) => {}
                    Err(e) => warning!("vs_ingest scheduler: stopping scheduled runs: {e}"),
                }
                false
            }
            Err(e) => {
                warning!("vs_ingest scheduler: {e}");
                false
            }
        }
    }

    fn check_sources(&self) {
        let due = in_transaction(source::due).unwrap_or_else(|e| {
            warning!("vs_ingest scheduler: reading vs_ingest.source: {e}");
            Vec::new()
        });
        for s in &due {
            check_source(s);
        }
    }
}

fn extension_installed() -> Result<bool> {
    Spi::get_one::<bool>("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vs_ingest')")
        .map(|b| b.unwrap_or(false))
        .map_err(crate::error::spi_error)
}

/// Runs `work` as the source's owner (the role by oid: never another role that took its name),
/// who must still exist and still be allowed to load.
fn as_owner<T>(s: &Source, work: impl FnOnce() -> Result<T>) -> Result<T> {
    let owner =
        s.owner_oid.filter(|&owner| access::role_exists(owner)).ok_or(crate::error::IngestError::NotPermitted)?;
    access::as_role(owner, work)
}

/// Starts a run for the source's unsettled files, if it has any, and records the check.
fn check_source(s: &Source) {
    let started = in_transaction(|| as_owner(s, || load::load_source(s, true, false)));
    let error = match &started {
        Ok(Some(summary)) => {
            log!(
                "vs_ingest scheduler: source \"{}\": run {} started for {} file(s)",
                s.name,
                summary.run_id,
                summary.files_seen
            );
            None
        }
        Ok(None) => None,
        Err(e) => {
            warning!("vs_ingest scheduler: source \"{}\": {e}", s.name);
            Some(e.to_string())
        }
    };
    if let Err(e) = in_transaction(|| source::checked(s.id, error.as_deref())) {
        warning!("vs_ingest scheduler: source \"{}\": recording the check: {e}", s.name);
    }
}

fn apply_retention(s: &Source) {
    let Some(action) = s.retain_action.as_deref() else { return };
    let handled = in_transaction(|| {
        as_owner(s, || {
            // Detaching or dropping waits for every reader of the table: give up after a while
            // (the next tick tries again) rather than stall the scheduler and queue everyone.
            Spi::run("SET LOCAL lock_timeout = '5s'").map_err(crate::error::spi_error)?;
            Spi::connect_mut(|client| {
                client
                    .update(
                        "SELECT p FROM vs_ingest.apply_retention($1, (SELECT retain FROM vs_ingest.source
                                                                       WHERE source_id = $2), $3) AS p",
                        None,
                        &[s.target.clone().into(), s.id.into(), action.into()],
                    )?
                    .map(|row| row.get::<String>(1).map(Option::unwrap_or_default))
                    .collect::<Result<Vec<_>, pgrx::spi::Error>>()
            })
            .map_err(crate::error::spi_error)
        })
    });
    match handled {
        Ok(parts) if !parts.is_empty() => {
            let verb = if action == "drop" { "dropped" } else { "detached" };
            log!("vs_ingest scheduler: source \"{}\": {verb} {}", s.name, parts.join(", "));
        }
        Ok(_) => {}
        Err(e) => {
            warning!("vs_ingest scheduler: source \"{}\": retention: {e}", s.name);
            let _ = in_transaction(|| source::retention_failed(s.id, &e.to_string()));
        }
    }
}

/// Records the alerts that hold now and NOTIFYs channel `vs_ingest` of those raised and cleared
/// (`vs_ingest.evaluate_alerts`, src/sql/alerts.sql).
fn evaluate_alerts() {
    let evaluated = in_transaction(|| {
        // (Until ALTER EXTENSION vs_ingest UPDATE, the extension's SQL may predate alerts.)
        let updated = Spi::get_one::<bool>("SELECT to_regprocedure('vs_ingest.evaluate_alerts()') IS NOT NULL")
            .map_err(crate::error::spi_error)?;
        if updated != Some(true) {
            return Ok((Some(0), Some(0)));
        }
        Spi::get_two::<i32, i32>("SELECT raised, cleared FROM vs_ingest.evaluate_alerts()")
            .map_err(crate::error::spi_error)
    });
    match evaluated {
        Ok((Some(raised), Some(cleared))) if raised + cleared > 0 => {
            log!("vs_ingest scheduler: alerts: {raised} raised, {cleared} cleared");
        }
        Ok(_) => {}
        Err(e) => warning!("vs_ingest scheduler: evaluating alerts: {e}"),
    }
}

fn prune_history() {
    let days = gucs::HISTORY_DAYS.get();
    if days <= 0 {
        return;
    }
    let pruned = in_transaction(|| {
        Spi::get_three_with_args::<i64, i64, i64>(
            "SELECT runs, files, rejects FROM vs_ingest.prune_history($1)",
            &[days.into()],
        )
        .map_err(crate::error::spi_error)
    });
    match pruned {
        Ok((Some(runs), Some(files), Some(rejects))) if runs + files + rejects > 0 => {
            log!("vs_ingest scheduler: pruned {runs} run(s), {files} file row(s), {rejects} rejected line(s) older than {days} days");
        }
        Ok(_) => {}
        Err(e) => warning!("vs_ingest scheduler: pruning history: {e}"),
    }
}
