//! A load's budget: how much of a shared server a load may take.
//!
//! - Per load (`vs_ingest.max_workers`, `threads`, `max_read_rate`, `worker_nice`,
//!   `worker_io_priority`; a scheduled load takes the `vs_ingest.scheduled_*` settings instead,
//!   which default to a budget that leaves foreground work most of the server): captured by the
//!   caller into the request, applied by each worker to its own process before its threads start.
//! - Across the loads of a database (`vs_ingest.max_total_workers`, `max_total_threads`): places
//!   are session advisory locks (one key per place) that a worker holds while it lives, so a
//!   crashed worker frees its places with its session and no count can drift.
//! - When (`vs_ingest.scheduled_hours`): the scheduler starts scheduled loads only inside the
//!   window and stops its running ones outside it.

use std::time::Duration;

use pgrx::prelude::*;
use pgrx::PostgresGucEnum;
use serde::{Deserialize, Serialize};

use crate::error::{spi_error, IngestError, Result};
use crate::gucs;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PostgresGucEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoPriority {
    #[default]
    #[name = c"normal"]
    Normal,
    /// Best effort, its lowest level (7).
    #[name = c"low"]
    Low,
    /// The idle class: the disk serves the worker only when nobody else waits.
    #[name = c"idle"]
    Idle,
}

/// What one load may take, as captured from the caller's settings (or the scheduled ones).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Budget {
    /// Workers of the load (0: one per core); the caller stores the number it plans.
    pub workers: usize,
    /// File bytes a second over the whole load, shared evenly by its workers (0: no cap).
    pub read_rate: u64,
    /// CPU nice value of the workers (0 to 19).
    pub nice: i32,
    pub io_priority: IoPriority,
    /// Workers and parse threads at once across the database's loads (0: no cap). Settable by
    /// superusers only, so a load can never raise the server's cap for itself.
    pub total_workers: usize,
    pub total_threads: usize,
    /// Started by the scheduler: stopped outside `vs_ingest.scheduled_hours`.
    pub scheduled: bool,
}

impl Budget {
    /// The budget of a load called from SQL, from the session's settings.
    pub fn interactive() -> Budget {
        Budget {
            workers: gucs::MAX_WORKERS.get().max(0) as usize,
            read_rate: gucs::MAX_READ_RATE.get().max(0) as u64 * 1_000_000,
            nice: gucs::WORKER_NICE.get(),
            io_priority: gucs::WORKER_IO_PRIORITY.get(),
            scheduled: false,
            ..Budget::totals()
        }
    }

    /// The budget of a load the scheduler starts, from the server's `vs_ingest.scheduled_*`.
    pub fn scheduled() -> Budget {
        Budget {
            workers: gucs::SCHEDULED_MAX_WORKERS.get().max(0) as usize,
            read_rate: gucs::SCHEDULED_MAX_READ_RATE.get().max(0) as u64 * 1_000_000,
            nice: gucs::SCHEDULED_NICE.get(),
            io_priority: gucs::SCHEDULED_IO_PRIORITY.get(),
            scheduled: true,
            ..Budget::totals()
        }
    }

    fn totals() -> Budget {
        Budget {
            total_workers: gucs::MAX_TOTAL_WORKERS.get().max(0) as usize,
            total_threads: gucs::MAX_TOTAL_THREADS.get().max(0) as usize,
            ..Budget::default()
        }
    }

    /// Parse threads per worker of the load (0: one per core).
    pub fn threads(scheduled: bool) -> usize {
        let threads = if scheduled { gucs::SCHEDULED_THREADS.get() } else { gucs::THREADS.get() };
        threads.max(0) as usize
    }

    /// The workers to start for `files` files: the budget's, one per core for 0, never more
    /// than the files.
    pub fn planned_workers(&self, files: usize) -> usize {
        let wanted = match self.workers {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        };
        wanted.min(files.max(1))
    }

    /// The read rate of each worker: the load's, shared by the workers it planned.
    pub fn worker_read_rate(&self) -> Option<u64> {
        (self.read_rate > 0).then(|| (self.read_rate / self.workers.max(1) as u64).max(1))
    }

    /// Sets this process's CPU and I/O priority; the threads it starts afterwards inherit both.
    pub fn apply_priority(&self) -> Result<()> {
        if self.nice > 0 {
            // SAFETY: setpriority on the calling thread (Linux: PRIO_PROCESS with 0), which only
            // lowers its priority.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, self.nice) } != 0 {
                return Err(os_error("setpriority"));
            }
        }
        let ioprio = match self.io_priority {
            IoPriority::Normal => return Ok(()),
            IoPriority::Low => (IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT) | 7,
            IoPriority::Idle => IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
        };
        // SAFETY: ioprio_set(IOPRIO_WHO_PROCESS, 0 = the calling thread, a valid priority).
        if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, ioprio) } != 0 {
            return Err(os_error("ioprio_set"));
        }
        Ok(())
    }
}

// linux/ioprio.h (libc has the syscall number, not these).
const IOPRIO_CLASS_SHIFT: i32 = 13;
const IOPRIO_CLASS_BE: i32 = 2;
const IOPRIO_CLASS_IDLE: i32 = 3;
const IOPRIO_WHO_PROCESS: i32 = 1;

fn os_error(call: &str) -> IngestError {
    IngestError::Postgres {
        code: PgSqlErrorCode::ERRCODE_SYSTEM_ERROR,
        message: format!("vs_ingest worker: {call} failed: {}", std::io::Error::last_os_error()),
        detail: None,
        hint: None,
    }
}

/// Which places a worker holds.
#[derive(Clone, Copy)]
enum Places {
    Workers,
    Threads,
}

impl Places {
    /// The first key of the advisory locks, one per kind of place.
    fn key(self) -> &'static str {
        match self {
            Places::Workers => "vs_ingest.budget.workers",
            Places::Threads => "vs_ingest.budget.threads",
        }
    }
}

/// Takes free places of `kind` among `cap`, up to `want`; how many it took. They are held until
/// the worker's session ends.
fn take_places(kind: Places, want: usize, cap: usize) -> Result<usize> {
    Spi::get_one_with_args::<i64>(
        "SELECT count(*) FROM (SELECT place FROM generate_series(0, $2 - 1) AS place
                                WHERE pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext($1), place)
                                LIMIT $3) taken",
        &[kind.key().into(), (cap as i32).into(), (want as i64).into()],
    )
    .map(|n| n.unwrap_or(0) as usize)
    .map_err(spi_error)
}

/// How long a worker waits between looks for a free place.
const PLACE_POLL: Duration = Duration::from_millis(250);

/// Admits a worker under the caps across loads. `wait`: wait for a worker's place (the run's
/// first worker) rather than give up (`None`: its other workers, which then leave). Returns the
/// parse threads it may start: `threads` (0: one per core), fewer if the cap on threads leaves
/// fewer free, at least one. Called between transactions; each look is one.
pub fn admit(budget: &Budget, threads: usize, wait: bool, stop: impl Fn() -> bool) -> Result<Option<usize>> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    if budget.total_workers > 0 {
        loop {
            if crate::postgres::transaction::in_transaction(|| take_places(Places::Workers, 1, budget.total_workers))?
                == 1
            {
                break;
            }
            if !wait || stop() {
                return Ok(None);
            }
            crate::load::sleep(PLACE_POLL);
            check_for_interrupts!();
        }
    }
    if budget.total_threads == 0 {
        return Ok(Some(threads));
    }
    loop {
        let got = crate::postgres::transaction::in_transaction(|| {
            take_places(Places::Threads, threads.min(budget.total_threads), budget.total_threads)
        })?;
        if got > 0 {
            return Ok(Some(got));
        }
        if stop() {
            return Ok(None);
        }
        crate::load::sleep(PLACE_POLL);
        check_for_interrupts!();
    }
}

/// Hours of the day (0 to 23) in which scheduled loads run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    hours: [bool; 24],
}

impl Window {
    /// Parses `vs_ingest.scheduled_hours`: empty or `*` for any hour, else ranges `from-to` of
    /// whole hours (`to` excluded, up to 24; `22-6` wraps past midnight) separated by commas.
    pub fn parse(text: &str) -> std::result::Result<Window, String> {
        let text = text.trim();
        if text.is_empty() || text == "*" {
            return Ok(Window { hours: [true; 24] });
        }
        let mut hours = [false; 24];
        for range in text.split(',') {
            let bad = || format!("\"{}\" is not a range of hours such as 22-6", range.trim());
            let (from, to) = range.split_once('-').ok_or_else(bad)?;
            let from: usize = from.trim().parse().map_err(|_| bad())?;
            let to: usize = to.trim().parse().map_err(|_| bad())?;
            if from > 23 || to > 24 || from == to {
                return Err(bad());
            }
            let mut hour = from;
            loop {
                hours[hour] = true;
                hour = (hour + 1) % 24;
                if hour == to % 24 {
                    break;
                }
            }
        }
        Ok(Window { hours })
    }

    pub fn contains(&self, hour: u32) -> bool {
        self.hours.get(hour as usize).copied().unwrap_or(false)
    }
}

/// The window of `vs_ingest.scheduled_hours` as the server has it.
pub fn scheduled_window() -> std::result::Result<Window, String> {
    Window::parse(&gucs::string(&gucs::SCHEDULED_HOURS).unwrap_or_default())
}

/// The hour of the day now, in the server's time zone (the scheduler's session has the server's).
pub fn current_hour() -> Result<u32> {
    Spi::get_one::<i32>("SELECT extract(hour FROM pg_catalog.now())::int")
        .map(|h| h.unwrap_or(0) as u32)
        .map_err(spi_error)
}

/// Asks the workers of every running scheduled load to stop after their chunk in flight (the next
/// scheduled check inside the window resumes their files); the runs it asked.
pub fn stop_scheduled_runs() -> Result<Vec<i64>> {
    let runs = crate::postgres::access::as_catalog_owner(|| {
        Spi::get_one::<Vec<i64>>(
            "SELECT coalesce(array_agg(run_id ORDER BY run_id), '{}') FROM vs_ingest.run
              WHERE status = 'running' AND (options::jsonb #>> '{budget,scheduled}')::boolean",
        )
    })
    .map_err(spi_error)?
    .unwrap_or_default();
    for &run_id in &runs {
        crate::load::signal_stop(run_id)?;
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(text: &str) -> Vec<u32> {
        let window = Window::parse(text).unwrap();
        (0..24).filter(|&h| window.contains(h)).collect()
    }

    #[test]
    fn windows_of_hours_parse_wrap_and_refuse_nonsense() {
        assert_eq!(hours(""), (0..24).collect::<Vec<_>>());
        assert_eq!(hours("*"), (0..24).collect::<Vec<_>>());
        assert_eq!(hours("1-3"), vec![1, 2]);
        assert_eq!(hours("22-6"), vec![0, 1, 2, 3, 4, 5, 22, 23]);
        assert_eq!(hours("0-7, 19-24"), vec![0, 1, 2, 3, 4, 5, 6, 19, 20, 21, 22, 23]);
        assert_eq!(hours("23-0"), vec![23]);
        assert_eq!(hours("0-24"), (0..24).collect::<Vec<_>>());
        for bad in ["6", "5-5", "25-3", "1-25", "a-b", "1-2,", "-3"] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_loads_read_rate_is_shared_by_its_workers() {
        let budget = Budget { read_rate: 10_000_000, workers: 4, ..Budget::default() };
        assert_eq!(budget.worker_read_rate(), Some(2_500_000));
        assert_eq!(Budget::default().worker_read_rate(), None);
        assert_eq!(Budget { workers: 3, ..Budget::default() }.planned_workers(2), 2);
        assert_eq!(Budget { workers: 3, ..Budget::default() }.planned_workers(0), 1);
    }

    #[test]
    fn a_request_without_a_budget_reads_as_full_speed() {
        let budget: Budget = serde_json::from_str("{}").unwrap();
        assert_eq!(budget, Budget::default());
        let json = serde_json::to_string(&Budget { io_priority: IoPriority::Idle, ..Budget::default() }).unwrap();
        assert!(json.contains("\"io_priority\":\"idle\""), "{json}");
    }
}
