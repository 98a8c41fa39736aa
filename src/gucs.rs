//! Settings (`vs_ingest.*`). Those that widen what the server reads are superuser-only.

use std::ffi::CString;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

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

pub fn init() {
    init_workers();
    init_scheduler();
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

pub fn string(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting.get().map(|s| s.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
}
