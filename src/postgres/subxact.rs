//! Running work in a subtransaction, the way PL/pgSQL's EXCEPTION blocks do: a failure rolls back
//! only that work and comes back as an [`IngestError`]; the caller's transaction goes on.

use std::panic::AssertUnwindSafe;

use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::error::{IngestError, Result};

/// Runs `work` in a subtransaction: committed into the caller's transaction on `Ok`, rolled back
/// on `Err` or on a Postgres ERROR (returned as [`IngestError::Postgres`]). A cancel, a shutdown
/// request or a Rust panic is re-raised after the rollback: those end the whole statement.
pub fn in_subtransaction<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    // SAFETY: the standard subtransaction protocol (see plpgsql's exec_stmt_block), on the main
    // thread; memory context and resource owner are restored on every path.
    unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);

        let outcome =
            PgTryBuilder::new(AssertUnwindSafe(|| Ok(work()))).catch_others(|caught| Err(Box::new(caught))).execute();

        match outcome {
            Ok(Ok(_)) => pg_sys::ReleaseCurrentSubTransaction(),
            _ => pg_sys::RollbackAndReleaseCurrentSubTransaction(),
        }
        pg_sys::MemoryContextSwitchTo(context);
        pg_sys::CurrentResourceOwner = owner;

        match outcome {
            Ok(result) => result,
            Err(caught) => Err(caught_to_error(*caught)),
        }
    }
}

/// A caught Postgres ERROR as an [`IngestError`]; a cancel, a shutdown request, running out of
/// memory or a Rust panic is raised again instead.
pub fn caught_to_error(caught: CaughtError) -> IngestError {
    let report = match &caught {
        CaughtError::PostgresError(report) | CaughtError::ErrorReport(report) => report,
        CaughtError::RustPanic { .. } => caught.rethrow(),
    };
    let code = report.sql_error_code();
    if matches!(
        code,
        PgSqlErrorCode::ERRCODE_QUERY_CANCELED
            | PgSqlErrorCode::ERRCODE_ADMIN_SHUTDOWN
            | PgSqlErrorCode::ERRCODE_CRASH_SHUTDOWN
            | PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY
    ) {
        caught.rethrow();
    }
    IngestError::Postgres {
        code,
        message: report.message().to_string(),
        detail: report.detail().map(str::to_string),
        hint: report.hint().map(str::to_string),
    }
}
