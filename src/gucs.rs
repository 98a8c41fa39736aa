//! Settings (`vs_ingest.*`). Those that widen what the server reads are superuser-only.

use std::ffi::CString;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

use crate::budget::IoPriority;

pub static ALLOWED_DIRS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static SOURCE_TIMEZONE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"Asia/Seoul"));
pub static MAX_REJECT_RATIO: GucSetting<f64> = GucSetting::<f64>::new(0.01);
pub static THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static CHUNK_KB: GucSetting<i32> = GucSetting::<i32>::new(4096);
pub static MAX_ENTRY_MB: GucSetting<i32> = GucSetting::<i32>::new(65536);
pub static PROGRESS_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static MAX_REJECTS_STORED: GucSetting<i32> = GucSetting::<i32>::new(10_000);
pub static MAX_WORKERS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static TEST_EXIT_AFTER_CHUNKS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static TEST_PANIC_AFTER_CHUNKS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static TEST_COMMIT_EVERY_HOURS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static SETTLE_TIME: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));
pub static SCHEDULER_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static HISTORY_DAYS: GucSetting<i32> = GucSetting::<i32>::new(30);
// A load's budget (`crate::budget`): interactive loads, across loads, and scheduled loads.
pub static MAX_READ_RATE: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static WORKER_NICE: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static WORKER_IO_PRIORITY: GucSetting<IoPriority> = GucSetting::<IoPriority>::new(IoPriority::Normal);
pub static MAX_TOTAL_WORKERS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static MAX_TOTAL_THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static SCHEDULED_MAX_WORKERS: GucSetting<i32> = GucSetting::<i32>::new(1);
pub static SCHEDULED_THREADS: GucSetting<i32> = GucSetting::<i32>::new(1);
pub static SCHEDULED_MAX_READ_RATE: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static SCHEDULED_NICE: GucSetting<i32> = GucSetting::<i32>::new(19);
pub static SCHEDULED_IO_PRIORITY: GucSetting<IoPriority> = GucSetting::<IoPriority>::new(IoPriority::Low);
pub static SCHEDULED_HOURS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
// The quality flags' thresholds (`vs_its_quality`, read when the view is queried).
pub static QUALITY_STUCK_SLOTS: GucSetting<i32> = GucSetting::<i32>::new(36);
pub static QUALITY_MAX_SPEED: GucSetting<f64> = GucSetting::<f64>::new(140.0);
pub static QUALITY_MAX_JUMP: GucSetting<f64> = GucSetting::<f64>::new(80.0);
pub static QUALITY_MAX_MISSING_RATE: GucSetting<f64> = GucSetting::<f64>::new(0.5);

pub fn init() {
    init_workers();
    init_scheduler();
    init_budget();
    init_quality();
    GucRegistry::define_string_guc(
        c"vs_ingest.allowed_dirs",
        c"Directories vs_ingest may read files from (comma separated).",
        c"Only files below these directories, after resolving symbolic links and '..', are loaded. Empty: none.",
        &ALLOWED_DIRS,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"vs_ingest.source_timezone",
        c"Time zone of the local times in the files.",
        c"Also the time zone whose days the hourly table is partitioned by.",
        &SOURCE_TIMEZONE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"vs_ingest.max_reject_ratio",
        c"Share of a file's rows that may be rejected before the file fails.",
        c"",
        &MAX_REJECT_RATIO,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.threads",
        c"Parse threads per load; 0 means one per core.",
        c"",
        &THREADS,
        0,
        1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.chunk_size",
        c"Decompressed bytes per parse chunk.",
        c"",
        &CHUNK_KB,
        64,
        1 << 20,
        GucContext::Userset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.max_entry_size",
        c"Largest decompressed size of one file or archive entry.",
        c"Guards against decompression bombs.",
        &MAX_ENTRY_MB,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.progress_interval",
        c"Seconds between progress NOTICEs of a load; 0 turns them off.",
        c"",
        &PROGRESS_INTERVAL,
        0,
        86_400,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.max_rejects_stored",
        c"Rejected lines kept in vs_ingest.reject per file; all are counted.",
        c"",
        &MAX_REJECTS_STORED,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    // Every vs_ingest.* setting is defined above: a misspelt one (vs_ingest.alowed_dirs) is an
    // error, not a silently ignored placeholder.
    // SAFETY: registers a prefix with the GUC machinery, on the backend's main thread.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"vs_ingest".as_ptr()) };
}

fn init_workers() {
    GucRegistry::define_int_guc(
        c"vs_ingest.max_workers",
        c"Background workers per load; 0 means one per core.",
        c"Also bounded by the number of files and by free max_worker_processes slots.",
        &MAX_WORKERS,
        0,
        1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.test_exit_after_chunks",
        c"TEST ONLY: workers exit abruptly, mid-chunk, after committing this many chunks; 0 is off.",
        c"Fault injection for the crash and resume tests. Never set it on a real load.",
        &TEST_EXIT_AFTER_CHUNKS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.test_commit_every_hours",
        c"TEST ONLY: workers commit every 6 or 12 local hours of a file instead of every local day; 0 is off.",
        c"Lets the crash and resume tests interrupt a one-day file between commits. Never set it on a real load.",
        &TEST_COMMIT_EVERY_HOURS,
        0,
        24,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.test_panic_after_chunks",
        c"TEST ONLY: a worker's main thread panics after committing this many chunks; 0 is off.",
        c"Fault injection for the tests of the failure path. Never set it on a real load.",
        &TEST_PANIC_AFTER_CHUNKS,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.settle_time",
        c"A scheduled load takes a file only once it has not been modified for this long.",
        c"So that a file still being uploaded or copied is not loaded half-written.",
        &SETTLE_TIME,
        0,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
}

fn init_scheduler() {
    // A postmaster-level setting can only be defined while the library is preloaded; without
    // preloading there is no scheduler, so there is nothing to set.
    // SAFETY: a plain read of a postmaster flag.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        GucRegistry::define_string_guc(
            c"vs_ingest.database",
            c"Database the vs_ingest scheduler connects to.",
            c"The scheduler runs when shared_preload_libraries includes vs_ingest; it loads the sources of this database.",
            &DATABASE,
            GucContext::Postmaster,
            GucFlags::default(),
        );
    }
    GucRegistry::define_int_guc(
        c"vs_ingest.scheduler_interval",
        c"Seconds between the scheduler's checks of its sources.",
        c"",
        &SCHEDULER_INTERVAL,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.history_days",
        c"Days of run history the scheduler keeps; 0 keeps everything.",
        c"The ledger rows that tell later loads to skip a file are never pruned.",
        &HISTORY_DAYS,
        0,
        365_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

fn init_quality() {
    GucRegistry::define_int_guc(
        c"vs_ingest.quality_stuck_slots",
        c"Consecutive 5-minute slots with one speed that flag a link-day as stuck.",
        c"36 slots are three hours: a detector or a default fill repeating one value, not traffic.",
        &QUALITY_STUCK_SLOTS,
        2,
        288,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"vs_ingest.quality_max_speed",
        c"A speed above this (km/h) flags its link-day as implausible.",
        c"Files may carry up to 300 km/h; no road link's traffic averages 140 km/h over five minutes.",
        &QUALITY_MAX_SPEED,
        0.0,
        300.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"vs_ingest.quality_max_jump",
        c"A change of speed above this (km/h) between consecutive 5-minute slots flags a jump.",
        c"A jam forming drops a link's speed by tens of km/h in five minutes, not by 80.",
        &QUALITY_MAX_JUMP,
        0.0,
        300.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"vs_ingest.quality_max_missing_rate",
        c"A share of a local day's slots without a sample above this flags the link-day as missing.",
        c"Between 0 and 1.",
        &QUALITY_MAX_MISSING_RATE,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
}

fn init_budget() {
    GucRegistry::define_int_guc(
        c"vs_ingest.max_read_rate",
        c"File bytes a load reads per second, in MB, shared evenly by its workers; 0: no cap.",
        c"Compressed bytes, as stored. Scheduled loads take vs_ingest.scheduled_max_read_rate instead.",
        &MAX_READ_RATE,
        0,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.worker_nice",
        c"CPU nice value of a load's workers and their threads (0 to 19; higher yields more).",
        c"Scheduled loads take vs_ingest.scheduled_nice instead.",
        &WORKER_NICE,
        0,
        19,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"vs_ingest.worker_io_priority",
        c"I/O priority of a load's workers: normal, low (best effort, lowest level) or idle.",
        c"Idle reads only when no other process waits for the disk. Scheduled loads take vs_ingest.scheduled_io_priority instead.",
        &WORKER_IO_PRIORITY,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.max_total_workers",
        c"Workers loading at once across all loads of a database; 0: no cap but max_worker_processes.",
        c"A load's first worker waits for a free place; its other workers leave when there is none.",
        &MAX_TOTAL_WORKERS,
        0,
        1024,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.max_total_threads",
        c"Parse threads at once across all loads of a database; 0: no cap.",
        c"A worker takes the threads it asks for that are free, at least one (it waits for one).",
        &MAX_TOTAL_THREADS,
        0,
        4096,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.scheduled_max_workers",
        c"Background workers per scheduled load; 0 means one per core.",
        c"",
        &SCHEDULED_MAX_WORKERS,
        0,
        1024,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.scheduled_threads",
        c"Parse threads per worker of a scheduled load; 0 means one per core.",
        c"",
        &SCHEDULED_THREADS,
        0,
        1024,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.scheduled_max_read_rate",
        c"File bytes a scheduled load reads per second, in MB; 0: no cap.",
        c"",
        &SCHEDULED_MAX_READ_RATE,
        0,
        1_000_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vs_ingest.scheduled_nice",
        c"CPU nice value of the workers of scheduled loads (0 to 19).",
        c"",
        &SCHEDULED_NICE,
        0,
        19,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"vs_ingest.scheduled_io_priority",
        c"I/O priority of the workers of scheduled loads: normal, low or idle.",
        c"",
        &SCHEDULED_IO_PRIORITY,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"vs_ingest.scheduled_hours",
        c"Hours of the day in which scheduled loads run, in the server's time zone: '22-6', '0-7,19-24'; empty: any.",
        c"Outside them the scheduler starts no load and stops its running ones after their chunk in flight; they resume in the next window.",
        &SCHEDULED_HOURS,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

pub fn string(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting.get().map(|s| s.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
}
