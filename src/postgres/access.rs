//! Who may read which server files: the role check, `vs_ingest.allowed_dirs`, path
//! canonicalisation and file-name patterns.

use std::path::{Component, Path, PathBuf};

use pgrx::pg_sys;

use crate::error::{IngestError, Result};
use crate::gucs;

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

fn is_below(path: &Path, allowed: &[PathBuf]) -> bool {
    allowed.iter().any(|dir| path.starts_with(dir))
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
/// reveal what exists elsewhere.
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

pub fn resolve_dir(dir: &str, allowed: &[PathBuf]) -> Result<PathBuf> {
    let real = resolve(dir, allowed, IngestError::DirectoryMissing)?;
    if !real.is_dir() {
        return Err(IngestError::NotADirectory(dir.to_string()));
    }
    Ok(real)
}

/// Regular files directly in `dir` whose names match the glob `pattern`, sorted by name.
pub fn list_matching(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let matcher = file_pattern(pattern)?;
    let entries = std::fs::read_dir(dir)
        .map_err(|e| IngestError::Engine(vs_ingest_engine::error::Error::Io { path: dir.to_owned(), source: e }))?;
    let mut files_in_dir = 0;
    let mut matched = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        files_in_dir += 1;
        if matcher.is_match(entry.file_name()) {
            matched.push(path);
        }
    }
    if matched.is_empty() {
        return Err(IngestError::NoMatch {
            dir: dir.display().to_string(),
            pattern: pattern.to_string(),
            files_in_dir,
        });
    }
    matched.sort();
    Ok(matched)
}

/// Compiles a glob over file names (`*` never crosses a `/`).
pub fn file_pattern(pattern: &str) -> Result<globset::GlobMatcher> {
    Ok(globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| IngestError::BadPattern { pattern: pattern.to_string(), reason: e.kind().to_string() })?
        .compile_matcher())
}

/// Runs `work` with `role` as the current user and `search_path` set to `pg_catalog, pg_temp`,
/// as a SECURITY DEFINER function with `SET search_path` would. The caller's identity and path
/// come back afterwards (on an ERROR, the transaction's abort restores the path). Without the
/// fixed path, the caller's own functions or operators could run with `role`'s rights.
pub fn as_role<T>(role: pg_sys::Oid, work: impl FnOnce() -> T) -> T {
    struct Restore {
        user: pg_sys::Oid,
        context: i32,
        guc_level: i32,
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: puts back what was saved below, on the backend's main thread. While an ERROR
            // unwinds, the (sub)transaction abort pops the GUC level itself.
            unsafe {
                if !std::thread::panicking() {
                    pg_sys::AtEOXact_GUC(true, self.guc_level);
                }
                pg_sys::SetUserIdAndSecContext(self.user, self.context);
            }
        }
    }
    let (mut user, mut context) = (pg_sys::Oid::INVALID, 0);
    // SAFETY: reads and switches the current user and a setting on the backend's main thread.
    let restore = unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        let guc_level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        pg_sys::SetUserIdAndSecContext(role, context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32);
        Restore { user, context, guc_level }
    };
    let out = work();
    drop(restore);
    out
}

/// The bootstrap superuser, who owns the extension's catalog.
pub fn superuser_oid() -> pg_sys::Oid {
    pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID)
}
