//! The one error type for user-facing failures, and the one place that maps them onto SQLSTATEs
//! and hints. Internal invariants panic instead (pgrx turns a panic into an ERROR).

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use vs_ingest_engine::error::Error as EngineError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("permission denied to load files with vs_ingest")]
    NotPermitted,

    #[error("argument {0} must not be NULL")]
    NullArgument(&'static str),

    #[error("vs_ingest.allowed_dirs is empty, so no directory may be read")]
    NoAllowedDirs,

    #[error("\"{0}\" is outside the directories vs_ingest may read")]
    OutsideAllowedDirs(String),

    #[error("directory \"{0}\" does not exist")]
    DirectoryMissing(String),

    #[error("\"{0}\" is not a directory")]
    NotADirectory(String),

    #[error("file \"{0}\" does not exist")]
    FileMissing(String),

    #[error("no file in \"{dir}\" matches the pattern \"{pattern}\"")]
    NoMatch { dir: String, pattern: String, files_in_dir: usize },

    #[error("invalid file name pattern \"{pattern}\": {reason}")]
    BadPattern { pattern: String, reason: String },

    #[error("unknown format \"{0}\"")]
    UnknownFormat(String),

    #[error("unknown time zone \"{0}\"")]
    BadTimeZone(String),

    #[error("max_reject_ratio must be between 0 and 1, not {0}")]
    BadRejectRatio(f64),

    #[error("nodes must be 'local' or 'workers', not \"{0}\"")]
    BadNodes(String),

    #[error("invalid target table name \"{0}\"")]
    BadTarget(String),

    #[error("target table name \"{0}\" has a part longer than 63 bytes")]
    TargetNameTooLong(String),

    #[error("{rejected} of {rows} rows of \"{path}\" were rejected, more than max_reject_ratio {max_ratio}")]
    TooManyRejects { path: String, rejected: u64, rows: u64, max_ratio: f64 },

    #[error("\"{0}\" changed while it was being loaded")]
    FileChanged(String),

    #[error("run {0} does not exist")]
    NoSuchRun(i64),

    #[error("run {0} is still running")]
    RunIsLive(i64),

    #[error("no background worker could be started")]
    NoWorkerSlot,

    #[error("source \"{0}\" does not exist")]
    NoSuchSource(String),

    #[error("source \"{0}\" already exists")]
    SourceExists(String),

    #[error("must be the owner of source \"{0}\"")]
    NotSourceOwner(String),

    #[error("{name} must be a positive interval, not {value}")]
    BadInterval { name: &'static str, value: String },

    #[error("retain_action must be 'detach' or 'drop', not \"{0}\"")]
    BadRetainAction(String),

    #[error("min_coverage must be between 0 and 1 (or negative: no coverage alerts), not {0}")]
    BadMinCoverage(f64),

    #[error("must be the role that started run {0}")]
    NotRunOwner(i64),

    #[error("must be the owner of target \"{0}\" to forget its coverage")]
    NotTargetOwner(String),

    #[error("permission denied to read vs_ingest's monitoring figures")]
    NotMonitor,

    #[error("the table run {0} loaded into no longer exists")]
    RunTargetGone(i64),

    #[error("target {0} was dropped during the load")]
    TargetDropped(String),

    #[error("the partition of target {target} for {day} was dropped or detached during the load")]
    DayPartitionGone { target: String, day: String },

    #[error("the load's workers wait for a lock held by this transaction{through}")]
    WorkersBlocked { through: String },

    #[error("a vs_ingest worker panicked: {0}")]
    WorkerPanic(String),

    #[error("the workers of run {0} stopped before it finished")]
    Interrupted(i64),

    #[error("a load cannot wait for its workers in a {0} transaction")]
    IsolationLevel(&'static str),

    #[error("replace => true cannot be spread over the worker nodes (nodes => 'workers'): {0}")]
    ReplaceSpread(String),

    #[error("relation \"{0}\" of links does not exist")]
    LinksNotFound(String),

    #[error("{0} has no column link_id of an integer type")]
    LinksNoColumn(String),

    #[error("{0} lists no link")]
    LinksEmpty(String),

    #[error("a load spread over the worker nodes cannot keep only some links")]
    LinksSpread,

    #[error("unknown_links must be 'load' or 'skip', not \"{0}\"")]
    BadUnknownLinks(String),

    #[error("target {0} has no link network, so no link is unknown to it")]
    NoNetwork(String),

    #[error("target {0} has a link network, which a load spread over the worker nodes does not check")]
    NetworkSpread(String),

    #[error("\"{0}\" is not a vs_ingest target")]
    NotATarget(String),

    #[error("must be the owner of target \"{0}\" to set its links")]
    NotNetworkOwner(String),

    #[error("link {link_id} is listed {times} times in {relation}")]
    NetworkDuplicate { relation: String, link_id: i64, times: i64 },

    #[error("link {link_id} of {relation} is valid until {valid_until}, not after it is valid from {valid_from}")]
    NetworkBadValidity { relation: String, link_id: i64, valid_from: String, valid_until: String },

    #[error("permission denied to replace days of {target}: replacing deletes rows of {storage}")]
    ReplaceNotPermitted { target: String, storage: String },

    /// The file could not be read or decoded.
    #[error(transparent)]
    Engine(#[from] EngineError),

    /// Postgres raised an error while a file was being written.
    #[error("{message}")]
    Postgres { code: PgSqlErrorCode, message: String, detail: Option<String>, hint: Option<String> },
}

impl IngestError {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            IngestError::NotPermitted | IngestError::NoAllowedDirs | IngestError::OutsideAllowedDirs(_) => {
                ERRCODE_INSUFFICIENT_PRIVILEGE
            }
            IngestError::DirectoryMissing(_) | IngestError::FileMissing(_) | IngestError::NoMatch { .. } => {
                ERRCODE_UNDEFINED_FILE
            }
            IngestError::NotADirectory(_) => ERRCODE_WRONG_OBJECT_TYPE,
            IngestError::NullArgument(_) => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            IngestError::BadPattern { .. }
            | IngestError::UnknownFormat(_)
            | IngestError::BadTimeZone(_)
            | IngestError::BadRejectRatio(_)
            | IngestError::BadNodes(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            IngestError::BadTarget(_) => ERRCODE_INVALID_NAME,
            IngestError::TargetNameTooLong(_) => ERRCODE_NAME_TOO_LONG,
            IngestError::TooManyRejects { .. } => ERRCODE_BAD_COPY_FILE_FORMAT,
            IngestError::FileChanged(_) => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            IngestError::NoSuchRun(_) | IngestError::NoSuchSource(_) => ERRCODE_UNDEFINED_OBJECT,
            IngestError::RunTargetGone(_) | IngestError::TargetDropped(_) | IngestError::DayPartitionGone { .. } => {
                ERRCODE_UNDEFINED_TABLE
            }
            IngestError::SourceExists(_) => ERRCODE_DUPLICATE_OBJECT,
            IngestError::NotSourceOwner(_)
            | IngestError::NotRunOwner(_)
            | IngestError::NotTargetOwner(_)
            | IngestError::NotNetworkOwner(_)
            | IngestError::NotMonitor => ERRCODE_INSUFFICIENT_PRIVILEGE,
            IngestError::BadUnknownLinks(_)
            | IngestError::NoNetwork(_)
            | IngestError::NetworkDuplicate { .. }
            | IngestError::NetworkBadValidity { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
            IngestError::NetworkSpread(_) => ERRCODE_FEATURE_NOT_SUPPORTED,
            IngestError::NotATarget(_) => ERRCODE_WRONG_OBJECT_TYPE,
            IngestError::WorkersBlocked { .. } => ERRCODE_LOCK_NOT_AVAILABLE,
            IngestError::BadInterval { .. } | IngestError::BadRetainAction(_) | IngestError::BadMinCoverage(_) => {
                ERRCODE_INVALID_PARAMETER_VALUE
            }
            IngestError::RunIsLive(_) => ERRCODE_OBJECT_IN_USE,
            IngestError::NoWorkerSlot => ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            IngestError::Interrupted(_) => ERRCODE_CONNECTION_FAILURE,
            IngestError::WorkerPanic(_) => ERRCODE_INTERNAL_ERROR,
            IngestError::IsolationLevel(_) => ERRCODE_ACTIVE_SQL_TRANSACTION,
            IngestError::ReplaceSpread(_) | IngestError::LinksSpread => ERRCODE_FEATURE_NOT_SUPPORTED,
            IngestError::LinksNotFound(_) => ERRCODE_UNDEFINED_TABLE,
            IngestError::LinksNoColumn(_) => ERRCODE_UNDEFINED_COLUMN,
            IngestError::LinksEmpty(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            IngestError::ReplaceNotPermitted { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            IngestError::Engine(e) => match e {
                EngineError::Io { .. } => ERRCODE_IO_ERROR,
                EngineError::Corrupt { .. } | EngineError::NoCsvEntry { .. } => ERRCODE_DATA_CORRUPTED,
                EngineError::EntryTooLarge { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                EngineError::UnknownFormat(_) => ERRCODE_INVALID_PARAMETER_VALUE,
                EngineError::NotRegularFile { .. } => ERRCODE_WRONG_OBJECT_TYPE,
                EngineError::OutsideAllowedDirs { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
                EngineError::ChangedWhileReading { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                EngineError::Cancelled => ERRCODE_QUERY_CANCELED,
                EngineError::Panic(_) => ERRCODE_INTERNAL_ERROR,
            },
            IngestError::Postgres { code, .. } => *code,
        }
    }

    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            IngestError::NotPermitted => {
                "Loading reads server files: a superuser must run it, or GRANT pg_read_server_files to the role."
                    .to_string()
            }
            IngestError::NoAllowedDirs
            | IngestError::OutsideAllowedDirs(_)
            | IngestError::Engine(EngineError::OutsideAllowedDirs { .. }) => {
                "A superuser can add the directory to vs_ingest.allowed_dirs, e.g. ALTER SYSTEM SET \
                 vs_ingest.allowed_dirs = '/srv/its'; SELECT pg_reload_conf();"
                    .to_string()
            }
            IngestError::DirectoryMissing(_) | IngestError::FileMissing(_) | IngestError::NotADirectory(_) => {
                "The path is read by the database server, on the server's file system: give an absolute path there."
                    .to_string()
            }
            IngestError::NoMatch { files_in_dir, .. } => format!(
                "The directory holds {files_in_dir} file(s). The pattern matches file names, not paths: \
                 * any characters, ? one character, [abc] one of them, e.g. '*_5Min.zip'."
            ),
            IngestError::NullArgument(_) => "Give a value, or leave the argument out to take its default.".to_string(),
            IngestError::BadPattern { .. } => "Use a glob such as '*_5Min.zip' or '2023??01_*'.".to_string(),
            IngestError::UnknownFormat(_) => {
                format!("Known formats: {}.", vs_ingest_engine::format::NAMES.join(", "))
            }
            IngestError::BadTimeZone(_) => {
                "Use a name from pg_timezone_names, such as 'Asia/Seoul' or 'UTC'.".to_string()
            }
            IngestError::BadRejectRatio(_) => "0 rejects nothing, 1 accepts any number of bad lines.".to_string(),
            IngestError::BadNodes(_) => "'local' (the default) loads here; 'workers', on a Citus coordinator, spreads \
                 the files over the worker nodes."
                .to_string(),
            IngestError::BadTarget(_) => "Give a table name, optionally schema-qualified.".to_string(),
            IngestError::TargetNameTooLong(_) => "PostgreSQL would cut it (a Korean character takes 3 bytes): give a \
                 shorter name."
                .to_string(),
            IngestError::TooManyRejects { .. } => "See vs_ingest.reject for the lines and reasons; raise \
                 max_reject_ratio to load the file anyway."
                .to_string(),
            IngestError::Engine(EngineError::Corrupt { .. }) | IngestError::Engine(EngineError::NoCsvEntry { .. }) => {
                "Fetch the file again from its provider; the other files still load.".to_string()
            }
            IngestError::Engine(EngineError::NotRegularFile { .. }) => {
                "vs_ingest reads regular files only (no FIFO, socket, device or directory), and does not follow \
                 a symbolic link to a file: put the file itself in the directory."
                    .to_string()
            }
            IngestError::Engine(EngineError::ChangedWhileReading { .. }) => {
                "The file was being written or replaced. Its committed hours are kept; load it again once it is \
                 complete, and the load resumes or merges it."
                    .to_string()
            }
            IngestError::Engine(EngineError::EntryTooLarge { .. }) => {
                "A superuser can raise vs_ingest.max_entry_size if the file is genuine.".to_string()
            }
            IngestError::FileChanged(_) => {
                "Its committed chunks stay; load it again with reload_changed => true to merge the new content."
                    .to_string()
            }
            IngestError::NoSuchRun(_) => "See SELECT run_id, status FROM vs_ingest.run.".to_string(),
            IngestError::NoSuchSource(_) => "See SELECT name, dir, enabled FROM vs_ingest.source.".to_string(),
            IngestError::SourceExists(_) => {
                "Pick another name, or change the source with vs_ingest_alter_source.".to_string()
            }
            IngestError::NotSourceOwner(_) => {
                "Only the role that added the source (or a member of it, or a superuser) may change or run it."
                    .to_string()
            }
            IngestError::RunTargetGone(_) => {
                "Its files were partly loaded into a table that was dropped since: load them again with \
                 vs_ingest_dir, which starts them from the beginning."
                    .to_string()
            }
            IngestError::TargetDropped(_) => "What the load committed went with the table; a new load into a \
                 target of that name starts the files from the beginning."
                .to_string(),
            IngestError::DayPartitionGone { .. } => "Retention (a source's retain) or a DROP or DETACH removed the \
                 day, with the blocks this file had committed to it; load the file again to write the whole day."
                .to_string(),
            IngestError::NotRunOwner(_) => {
                "Only the role that started a run (or a member of it, or a superuser) may resume or cancel it."
                    .to_string()
            }
            IngestError::NotTargetOwner(_) => {
                "Only the target's owner (or a member of that role, or a superuser) may forget its coverage; \
                 vs_ingest.apply_retention does it for the days it drops."
                    .to_string()
            }
            IngestError::WorkersBlocked { .. } => {
                "The load was stopped; what its workers committed is kept. Commit or roll back first (the \
                 workers cannot see or pass what this transaction changed or locked, e.g. a TRUNCATE, CREATE or \
                 LOCK of the target), or call it outside a transaction block; then run it again to resume."
                    .to_string()
            }
            IngestError::BadInterval { .. } => "Give an interval such as '5 minutes' or '30 days'.".to_string(),
            IngestError::BadRetainAction(_) => {
                "detach keeps old days as ordinary tables; drop deletes them.".to_string()
            }
            IngestError::BadMinCoverage(_) => {
                "A thin day is one whose links reported are below this share of those expected, e.g. 0.9.".to_string()
            }
            IngestError::RunIsLive(_) => {
                "Wait for it (vs_ingest.progress shows it), or stop it with vs_ingest_cancel(run_id).".to_string()
            }
            IngestError::NoWorkerSlot => {
                "Raise max_worker_processes (needs a restart), or wait for other background workers to finish."
                    .to_string()
            }
            IngestError::Interrupted(run) => format!(
                "Committed chunks are kept. Continue with SELECT * FROM vs_ingest_resume({run}), or run the same \
                 vs_ingest_dir again."
            ),
            IngestError::IsolationLevel(_) => {
                "Run it in READ COMMITTED (the default), or pass wait => false and watch vs_ingest.progress."
                    .to_string()
            }
            IngestError::NotMonitor => {
                "GRANT pg_monitor to the role that reads them (the exporter's role, say).".to_string()
            }
            IngestError::LinksNotFound(_) | IngestError::LinksNoColumn(_) => {
                "Name a table or view with the links in a column link_id (bigint, int or numeric), e.g. \
                 'public.seoul_links'."
                    .to_string()
            }
            IngestError::LinksEmpty(_) => {
                "Fill it with links. A load keeping only its links would store nothing (leave links out to load \
                 every link); a network without links would know none (NULL removes a target's network)."
                    .to_string()
            }
            IngestError::BadUnknownLinks(_) => {
                "'load' loads the samples of links the target's network lacks (and counts them); 'skip' leaves \
                 them out (and counts them)."
                    .to_string()
            }
            IngestError::NoNetwork(target) => format!(
                "Register the links it knows first: SELECT vs_ingest_set_links('{target}', 'public.network_links')."
            ),
            IngestError::NetworkSpread(target) => format!(
                "Load from the coordinator (nodes => 'local'), or remove the network first: \
                 SELECT vs_ingest_set_links('{target}', NULL)."
            ),
            IngestError::NotATarget(_) => {
                "Name the hourly view of a target (vs_ingest_create_target makes one; a first load too).".to_string()
            }
            IngestError::NotNetworkOwner(_) => {
                "Only the target's owner (or a member of that role, or a superuser) may set its links.".to_string()
            }
            IngestError::NetworkDuplicate { .. } => {
                "A network lists each link once, with the local days it is valid (valid_from, valid_until).".to_string()
            }
            IngestError::NetworkBadValidity { .. } => {
                "valid_until is the first day the link no longer exists: it must come after valid_from (NULL: open)."
                    .to_string()
            }
            IngestError::LinksSpread => {
                "Load from the coordinator (nodes => 'local'): it writes through Citus into the shards on every node."
                    .to_string()
            }
            IngestError::ReplaceSpread(_) => {
                "A replacement rebuilds each day in one transaction, and a spread load would write a day from \
                 several nodes. Replace from the coordinator (nodes => 'local'): it writes through Citus into \
                 the shards on every node (README, Corrections)."
                    .to_string()
            }
            IngestError::ReplaceNotPermitted { storage, .. } => {
                format!("GRANT DELETE ON {storage} to the loading role, or replace as the target's owner.")
            }
            IngestError::Postgres { hint, .. } => return hint.clone(),
            _ => return None,
        };
        Some(hint)
    }

    pub fn detail(&self) -> Option<String> {
        match self {
            IngestError::Postgres { detail, .. } => detail.clone(),
            _ => None,
        }
    }

    fn report_at(&self, level: PgLogLevel) {
        let mut report = ErrorReport::new(self.sqlstate(), self.to_string(), "vs_ingest");
        if let Some(detail) = self.detail() {
            report = report.set_detail(detail);
        }
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(level);
    }

    /// Raises this as an ERROR; does not return.
    pub fn raise(self) -> ! {
        self.report_at(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// The value of an SQL argument that must not be NULL (the SQL functions are not STRICT, so that a
/// NULL is an error naming the argument rather than a silent empty result).
pub fn required<T>(name: &'static str, value: Option<T>) -> Result<T> {
    value.ok_or(IngestError::NullArgument(name))
}

/// Raises the error of a failed call as an ERROR.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| e.raise())
    }
}

/// SPI errors other than Postgres ERRORs (which unwind) are invariant failures of our own SQL.
pub fn spi_error(e: pgrx::spi::Error) -> IngestError {
    panic!("vs_ingest's own SQL failed: {e}")
}
