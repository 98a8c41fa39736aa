//! Transactions of a background worker, which has no statement of its own to run in: each is a
//! guard that commits only when told to and rolls back when dropped (an `Err` returned, or a
//! Postgres ERROR or a panic unwinding through it).

use std::panic::AssertUnwindSafe;

use pgrx::prelude::*;

use crate::error::Result;
use crate::postgres::subxact::caught_to_error;

/// An open transaction with an active snapshot.
#[must_use = "a transaction is rolled back when dropped; commit it"]
pub struct Transaction {
    open: bool,
}

impl Transaction {
    pub fn begin() -> Transaction {
        // SAFETY: a worker between transactions, on its main thread.
        unsafe {
            pg_sys::SetCurrentStatementStartTimestamp();
            pg_sys::StartTransactionCommand();
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        Transaction { open: true }
    }

    pub fn commit(mut self) {
        // SAFETY: ends the transaction `begin` started.
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        // Only now: an ERROR raised while committing (a deferred constraint, a Citus node that
        // fails to prepare) unwinds through here, and the guard must still roll back.
        self.open = false;
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.open {
            // SAFETY: rolls back whatever state the transaction is in, snapshots included. pgrx
            // has flushed the error state of an ERROR before it unwinds through here.
            unsafe { pg_sys::AbortCurrentTransaction() }
        }
    }
}

/// Runs `work` in a transaction of its own: committed on `Ok`, rolled back on `Err`, an ERROR or
/// a panic, which come back as an `Err`.
pub fn in_transaction<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    catching(|| {
        let transaction = Transaction::begin();
        let value = work()?;
        transaction.commit();
        Ok(value)
    })
}

/// Runs `work`, turning an ERROR or a panic raised in it into an `Err` (whatever transaction it
/// had open is rolled back by its guard on the way out).
pub fn catching<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    PgTryBuilder::new(AssertUnwindSafe(|| Ok(work())))
        .catch_others(|caught| Err(Box::new(caught)))
        .execute()
        .unwrap_or_else(|caught| Err(caught_to_error(*caught)))
}
