//! Who may read which server files: the role check, `vs_ingest.allowed_dirs`, path
//! canonicalisation and file-name patterns.

use std::ffi::{CStr, CString};
use std::path::{Component, Path, PathBuf};

use pgrx::{pg_sys, IntoDatum, PgSqlErrorCode};
use vs_ingest_engine::error::Error as EngineError;
use vs_ingest_engine::source::CheckedDir;

use crate::postgres::subxact::in_subtransaction;

use crate::error::{IngestError, Result};
use crate::gucs;
use vs_ingest_engine::source::open::{is_below, kind_name, FileType};

/// Superusers and members of pg_read_server_files may load (EXECUTE is also revoked from PUBLIC;
/// this check holds even if someone grants EXECUTE more widely).
pub fn check_role() -> Result<()> {
    // SAFETY: plain catalog look-ups on the backend's main thread.
    let allowed = unsafe {
        pg_sys::superuser()
            || pg_sys::has_privs_of_role(pg_sys::GetUserId(), pg_sys::Oid::from(pg_sys::ROLE_PG_READ_SERVER_FILES))
    };
    if allowed {
        Ok(())
    } else {
        Err(IngestError::NotPermitted)
    }
}

/// The current user's name.
pub fn current_user_name() -> String {
    // SAFETY: a catalog look-up of the current user, who exists.
    unsafe { CStr::from_ptr(pg_sys::GetUserNameFromId(pg_sys::GetUserId(), false)).to_string_lossy().into_owned() }
}

/// The current user's oid: who a run or a source belongs to (roles are matched by oid, never by
/// name, so a role dropped and created again under the same name is another role).
pub fn current_user_oid() -> pg_sys::Oid {
    // SAFETY: reads the current user of the backend.
    unsafe { pg_sys::GetUserId() }
}

/// Whether a role with this oid exists.
pub fn role_exists(role: pg_sys::Oid) -> bool {
    // SAFETY: a catalog look-up on the backend's main thread; NULL when there is no such role.
    unsafe { !pg_sys::GetUserNameFromId(role, true).is_null() }
}

/// Whether the current user may act for `role` (a run's or a source's owner, by oid; `None` when
/// that role was gone at the upgrade that recorded oids): a superuser, or a role with that role's
/// privileges.
pub fn may_act_for(role: Option<pg_sys::Oid>) -> bool {
    // SAFETY: catalog look-ups on the backend's main thread.
    unsafe {
        pg_sys::superuser()
            || role.is_some_and(|oid| role_exists(oid) && pg_sys::has_privs_of_role(pg_sys::GetUserId(), oid))
    }
}

/// Whether the current user has the privileges of the owner of relation `rel` (or is a
/// superuser). `rel` must exist.
pub fn owns_relation(rel: pg_sys::Oid) -> bool {
    // SAFETY: a catalog look-up on the backend's main thread.
    unsafe { pg_sys::pg_class_ownercheck(rel, pg_sys::GetUserId()) }
}

/// The canonical directories of `vs_ingest.allowed_dirs` (entries that do not exist are ignored).
pub fn allowed_dirs() -> Result<Vec<PathBuf>> {
    let setting = gucs::string(&gucs::ALLOWED_DIRS).unwrap_or_default();
    let dirs: Vec<PathBuf> = setting
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .collect();
    if dirs.is_empty() {
        return Err(IngestError::NoAllowedDirs);
    }
    Ok(dirs)
}

/// `..` and `.` removed without touching the file system, for paths that do not exist.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Resolves `path` (symbolic links, `..`) and checks it lies below an allowed directory. A path
/// that does not exist is reported missing only if it would lie below one, so the error does not
/// reveal what exists elsewhere. This is the early check of a caller's argument; what is read is
/// checked again on the opened descriptor.
pub fn resolve(path: &str, allowed: &[PathBuf], missing: fn(String) -> IngestError) -> Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(real) if is_below(&real, allowed) => Ok(real),
        Ok(_) => Err(IngestError::OutsideAllowedDirs(path.to_string())),
        Err(_) if is_below(&lexical(Path::new(path)), allowed) && Path::new(path).is_absolute() => {
            Err(missing(path.to_string()))
        }
        Err(_) => Err(IngestError::OutsideAllowedDirs(path.to_string())),
    }
}

/// Opens the directory `dir` by descriptor, checked below the allowed directories.
pub fn open_dir(dir: &str, allowed: &[PathBuf]) -> Result<CheckedDir> {
    let real = resolve(dir, allowed, IngestError::DirectoryMissing)?;
    if !real.is_dir() {
        return Err(IngestError::NotADirectory(dir.to_string()));
    }
    Ok(CheckedDir::open(&real, allowed)?)
}

/// Checks that `path` names a regular file below the allowed directories (looked at through its
/// directory's descriptor, not opened: the worker opens it once, when it loads it).
pub fn check_file(path: &str, allowed: &[PathBuf]) -> Result<PathBuf> {
    // Outside or missing, told apart without revealing what exists elsewhere. What follows looks
    // at `path` itself, which may be a symbolic link.
    resolve(path, allowed, IngestError::FileMissing)?;
    let (Some(given_dir), Some(name)) = (Path::new(path).parent(), Path::new(path).file_name()) else {
        return Err(IngestError::FileMissing(path.into()));
    };
    let name = name.to_string_lossy().into_owned();
    let dir = open_dir(&given_dir.display().to_string(), allowed)?;
    match dir.kind_of(&name)? {
        Some(FileType::RegularFile) => Ok(dir.real().join(&name)),
        Some(other) => {
            Err(IngestError::Engine(EngineError::NotRegularFile { path: PathBuf::from(path), kind: kind_name(other) }))
        }
        None => Err(IngestError::FileMissing(path.into())),
    }
}

/// Regular files (and, so that they fail visibly, symbolic links) directly in `dir` whose names
/// match the glob `pattern`, sorted by name, as paths below the directory's real path.
pub fn list_matching(dir: &CheckedDir, pattern: &str) -> Result<Vec<PathBuf>> {
    let matcher = file_pattern(pattern)?;
    let names = dir.names()?;
    let files_in_dir = names.len();
    let mut matched: Vec<PathBuf> =
        names.into_iter().filter(|(name, _)| matcher.is_match(name)).map(|(name, _)| dir.real().join(name)).collect();
    if matched.is_empty() {
        return Err(IngestError::NoMatch {
            dir: dir.real().display().to_string(),
            pattern: pattern.to_string(),
            files_in_dir,
        });
    }
    matched.sort();
    Ok(matched)
}

/// The table name `target` qualified with its schema, as the caller's `search_path` resolves it:
/// an existing table's schema, or the schema a new table would be created in. Done with the
/// catalog look-ups Postgres itself uses (no SQL runs, so no function of the caller's path can),
/// before the load switches to its fixed `search_path`.
pub fn qualify_target(target: &str) -> Result<String> {
    let bad = || IngestError::BadTarget(target.to_string());
    let name = CString::new(target).map_err(|_| bad())?;
    let outcome = in_subtransaction(|| {
        // SAFETY: catalog look-ups on the main thread inside a (sub)transaction; every pointer
        // comes from Postgres and is read before the subtransaction ends.
        unsafe {
            // Postgres cuts a name part longer than 63 bytes to 63 (stringToQualifiedNameList does,
            // silently): a longer one is refused instead of loading into a table of another name.
            // parse_ident does not cut.
            let text = target.into_datum();
            let parts: Option<Vec<String>> =
                pgrx::direct_function_call(pg_sys::parse_ident, &[text, true.into_datum()]);
            if parts.unwrap_or_default().iter().any(|p| p.len() >= pg_sys::NAMEDATALEN as usize) {
                return Err(IngestError::TargetNameTooLong(target.to_string()));
            }
            let names = pg_sys::stringToQualifiedNameList(name.as_ptr());
            if names.is_null() || !(1..=2).contains(&(*names).length) {
                return Err(bad());
            }
            let rv = pg_sys::makeRangeVarFromNameList(names);
            let relid = pg_sys::RangeVarGetRelidExtended(
                rv,
                pg_sys::NoLock as pg_sys::LOCKMODE,
                pg_sys::RVROption::RVR_MISSING_OK,
                None,
                std::ptr::null_mut(),
            );
            let (namespace, relname) = if relid != pg_sys::InvalidOid {
                (pg_sys::get_rel_namespace(relid), CStr::from_ptr(pg_sys::get_rel_name(relid)).to_owned())
            } else {
                (pg_sys::RangeVarGetCreationNamespace(rv), CStr::from_ptr((*rv).relname).to_owned())
            };
            if pg_sys::isAnyTempNamespace(namespace) {
                return Err(bad());
            }
            let quote = |s: &CStr| CStr::from_ptr(pg_sys::quote_identifier(s.as_ptr())).to_string_lossy().into_owned();
            let schema = CStr::from_ptr(pg_sys::get_namespace_name(namespace)).to_owned();
            Ok(format!("{}.{}", quote(&schema), quote(&relname)))
        }
    });
    match outcome {
        // Not a name at all: Postgres' own parsers say so with these codes.
        Err(IngestError::Postgres {
            code: PgSqlErrorCode::ERRCODE_INVALID_NAME | PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            ..
        }) => Err(bad()),
        other => other,
    }
}

/// The oid of the existing relation `name`, as the caller's `search_path` resolves it, with the
/// catalog look-ups Postgres itself uses (no SQL runs); `None` if there is none. As for any name a
/// role gives, naming a schema it may not use is an error (42501).
pub fn relation_oid(name: &str) -> Result<Option<pg_sys::Oid>> {
    let bad = || IngestError::BadTarget(name.to_string());
    let cname = CString::new(name).map_err(|_| bad())?;
    let outcome = in_subtransaction(|| {
        // SAFETY: catalog look-ups on the main thread inside a (sub)transaction.
        unsafe {
            let names = pg_sys::stringToQualifiedNameList(cname.as_ptr());
            if names.is_null() || !(1..=2).contains(&(*names).length) {
                return Err(bad());
            }
            let relid = pg_sys::RangeVarGetRelidExtended(
                pg_sys::makeRangeVarFromNameList(names),
                pg_sys::NoLock as pg_sys::LOCKMODE,
                pg_sys::RVROption::RVR_MISSING_OK,
                None,
                std::ptr::null_mut(),
            );
            Ok((relid != pg_sys::InvalidOid).then_some(relid))
        }
    });
    match outcome {
        // Not a name at all: Postgres' own parsers say so with these codes.
        Err(IngestError::Postgres {
            code: PgSqlErrorCode::ERRCODE_INVALID_NAME | PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            ..
        }) => Err(bad()),
        other => other,
    }
}

/// Compiles a glob over file names (`*` never crosses a `/`).
pub fn file_pattern(pattern: &str) -> Result<globset::GlobMatcher> {
    Ok(globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| IngestError::BadPattern { pattern: pattern.to_string(), reason: e.kind().to_string() })?
        .compile_matcher())
}

/// While alive, `search_path` is `pg_catalog, pg_temp`, as in a function with
/// `SET search_path = pg_catalog, pg_temp`: no function, operator or table of another role can be
/// picked up by the SQL the extension runs. Dropping it restores the caller's path (on an ERROR,
/// the (sub)transaction's abort does).
pub struct FixedSearchPath {
    guc_level: i32,
}

impl FixedSearchPath {
    pub fn enter() -> FixedSearchPath {
        // SAFETY: a GUC nest level and a setting, on the backend's main thread.
        unsafe {
            let guc_level = pg_sys::NewGUCNestLevel();
            pg_sys::set_config_option(
                c"search_path".as_ptr(),
                SAFE_SEARCH_PATH.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
            FixedSearchPath { guc_level }
        }
    }
}

impl Drop for FixedSearchPath {
    fn drop(&mut self) {
        // SAFETY: pops the nest level `enter` pushed. While an ERROR unwinds, the abort does it.
        if !std::thread::panicking() {
            unsafe { pg_sys::AtEOXact_GUC(true, self.guc_level) }
        }
    }
}

/// The `search_path` every piece of the extension's SQL runs with.
pub const SAFE_SEARCH_PATH: &CStr = c"pg_catalog, pg_temp";

/// Sets this process's `search_path` to [`SAFE_SEARCH_PATH`] for good: background workers run
/// nothing but the extension's own SQL, whatever `ALTER ROLE ... SET search_path` says.
///
/// Its transactions are READ COMMITTED whatever `ALTER DATABASE/ROLE ... SET
/// default_transaction_isolation` says: the checks of what a write would run read the catalog with
/// a snapshot taken after the write's locks, which a REPEATABLE READ snapshot taken earlier in the
/// transaction would not be.
pub fn fix_search_path_for_process() {
    // SAFETY: settings of this process, set at the highest priority, on its main thread.
    unsafe {
        pg_sys::SetConfigOption(
            c"search_path".as_ptr(),
            SAFE_SEARCH_PATH.as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_OVERRIDE,
        );
        pg_sys::SetConfigOption(
            c"default_transaction_isolation".as_ptr(),
            c"read committed".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_OVERRIDE,
        );
    }
}

/// Runs `work` with `role` as the current user and the fixed `search_path`, as a SECURITY
/// DEFINER function with `SET search_path` would. The caller's identity and path come back
/// afterwards. Without the fixed path, the caller's own functions or operators could run with
/// `role`'s rights.
pub fn as_role<T>(role: pg_sys::Oid, work: impl FnOnce() -> T) -> T {
    struct Restore {
        user: pg_sys::Oid,
        context: i32,
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: puts back the identity saved below, on the backend's main thread.
            unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) }
        }
    }
    let (mut user, mut context) = (pg_sys::Oid::INVALID, 0);
    let path = FixedSearchPath::enter();
    // SAFETY: reads and switches the current user on the backend's main thread.
    let restore = unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(role, context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32);
        Restore { user, context }
    };
    let out = work();
    drop(restore);
    drop(path);
    out
}

/// Runs `work` as the owner of the extension's catalog (the bootstrap superuser), under the fixed
/// `search_path`: the catalog tables are written only this way, never with the loading role's
/// rights, so no role can forge a run, a ledger row or coverage.
pub fn as_catalog_owner<T>(work: impl FnOnce() -> T) -> T {
    as_role(superuser_oid(), work)
}

/// The bootstrap superuser, who owns the extension's catalog.
pub fn superuser_oid() -> pg_sys::Oid {
    pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID)
}
