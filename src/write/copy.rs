//! Feeding a binary COPY payload to a table through Postgres' own COPY FROM machinery
//! (`BeginCopyFrom` with a data-source callback): partition routing, indexes, constraints and
//! triggers all behave as for `COPY ... FROM STDIN (FORMAT binary)`.

use std::cell::Cell;
use std::ffi::{c_int, c_void};

use pgrx::pg_sys;
use pgrx::spi::Spi;

use crate::error::{spi_error, IngestError, Result};

thread_local! {
    /// The payload being copied: start, length, bytes already handed over. Set only while
    /// `copy_into` runs; COPY's callback has no argument of its own to carry it.
    static INPUT: Cell<(*const u8, usize, usize)> = const { Cell::new((std::ptr::null(), 0, 0)) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn read_input(outbuf: *mut c_void, _minread: c_int, maxread: c_int) -> c_int {
    INPUT.with(|input| {
        let (start, len, done) = input.get();
        let n = (len - done).min(maxread.max(0) as usize);
        if n > 0 {
            // SAFETY: `start..start+len` is the live payload slice of `copy_into`, and COPY gives
            // a buffer of at least `maxread` bytes.
            unsafe { std::ptr::copy_nonoverlapping(start.add(done), outbuf.cast::<u8>(), n) };
        }
        input.set((start, len, done + n));
        n as c_int
    })
}

/// Clears the payload pointer however `copy_into` is left (an ERROR unwinds through it).
struct InputGuard;

impl Drop for InputGuard {
    fn drop(&mut self) {
        INPUT.with(|input| input.set((std::ptr::null(), 0, 0)));
    }
}

/// Copies a complete binary COPY payload into `relation`; returns the number of rows.
pub fn copy_into(relation: pg_sys::Oid, payload: &[u8]) -> u64 {
    INPUT.with(|input| input.set((payload.as_ptr(), payload.len(), 0)));
    let _guard = InputGuard;
    // SAFETY: main thread, inside a transaction with an active snapshot (we run inside a SQL
    // function call); every pointer passed is valid for the duration of the calls.
    unsafe {
        let lockmode = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
        let rel = pg_sys::table_open(relation, lockmode);
        let pstate = check_may_insert(rel, relation);
        let format = pg_sys::makeDefElem(
            c"format".as_ptr().cast_mut(),
            pg_sys::makeString(c"binary".as_ptr().cast_mut()).cast(),
            -1,
        );
        let options = pg_sys::lappend(std::ptr::null_mut(), format.cast());
        let cstate = pg_sys::BeginCopyFrom(
            pstate,
            rel,
            std::ptr::null_mut(),
            std::ptr::null(),
            false,
            Some(read_input),
            std::ptr::null_mut(),
            options,
        );
        let rows = pg_sys::CopyFrom(cstate);
        pg_sys::EndCopyFrom(cstate);
        pg_sys::free_parsestate(pstate);
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        rows
    }
}

/// Copies a complete binary COPY payload into the table `relation` (a quoted, qualified name) by
/// a `COPY ... FROM` statement run through SPI, which Citus's planner sees and routes to the
/// shards (`copy_into` would write past it). The payload goes through a file of this backend's
/// in the server's own temporary directory (`base/pgsql_tmp`, mode 0700, emptied at restart).
/// Needs what that statement needs: INSERT on the table, and reading server files.
pub fn copy_statement(relation: &str, payload: &[u8]) -> Result<u64> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

    // SAFETY: DataDir is the server's data directory, set before any backend code runs.
    let data_dir = unsafe { std::ffi::CStr::from_ptr(pg_sys::DataDir) }.to_string_lossy().into_owned();
    let dir = std::path::Path::new(&data_dir).join("base").join("pgsql_tmp");
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(file_error(&dir, e));
        }
    }
    // SAFETY: a plain read of this backend's pid.
    let path = dir.join(format!("pgsql_tmp_vs_ingest_{}.copy", unsafe { pg_sys::MyProcPid }));
    let _remove = RemoveOnDrop(path.clone());
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .and_then(|mut f| f.write_all(payload))
        .map_err(|e| file_error(&path, e))?;
    let literal = path.display().to_string().replace('\'', "''");
    Spi::connect_mut(|client| {
        client.update(&format!("COPY {relation} FROM '{literal}' (FORMAT binary)"), None, &[]).map(|t| t.len() as u64)
    })
    .map_err(spi_error)
}

/// Checks, as DoCopy does for COPY FROM, that the current role may insert into the open relation
/// `rel` (oid `relation`): INSERT on it and on every column written, and no row-level security
/// applying to it. Returns the parse state whose range table holds the relation (for COPY).
///
/// # Safety
/// Main thread, inside a transaction; `rel` is open.
pub unsafe fn check_may_insert(rel: pg_sys::Relation, relation: pg_sys::Oid) -> *mut pg_sys::ParseState {
    let lockmode = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
    // SAFETY: per the function's contract.
    unsafe {
        let pstate = pg_sys::make_parsestate(std::ptr::null_mut());
        // COPY's executor state resolves its result relation through the range table, and the
        // INSERT privilege is checked on it, on every column written, exactly as DoCopy does for
        // COPY FROM; like DoCopy, a table whose row-level security applies is refused.
        let item = pg_sys::addRangeTableEntryForRelation(pstate, rel, lockmode, std::ptr::null_mut(), false, false);
        let rte = (*item).p_rte;
        (*rte).requiredPerms = pg_sys::ACL_INSERT as pg_sys::AclMode;
        let desc = (*rel).rd_att;
        for attr in (*desc).attrs.as_slice((*desc).natts as usize) {
            if !attr.attisdropped {
                let column = i32::from(attr.attnum) - pg_sys::FirstLowInvalidHeapAttributeNumber;
                (*rte).insertedCols = pg_sys::bms_add_member((*rte).insertedCols, column);
            }
        }
        pg_sys::ExecCheckRTPerms((*pstate).p_rtable, true);
        if pg_sys::check_enable_rls(relation, pg_sys::InvalidOid, false)
            == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
        {
            pgrx::ereport!(
                pgrx::PgLogLevel::ERROR,
                pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "COPY FROM not supported with row-level security"
            );
        }
        pstate
    }
}

/// Removes the payload file however `copy_statement` is left.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn file_error(path: &std::path::Path, e: std::io::Error) -> IngestError {
    IngestError::Postgres {
        code: pgrx::PgSqlErrorCode::ERRCODE_IO_ERROR,
        message: format!("could not write the COPY payload file \"{}\": {e}", path.display()),
        detail: None,
        hint: Some("Check the space and permissions of the data directory's base/pgsql_tmp.".into()),
    }
}
