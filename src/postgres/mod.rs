//! The Postgres side of the shell: access checks, catalog tables, subtransactions, COPY and the
//! writer. Everything here runs on the backend's main thread only.

pub mod access;
pub mod catalog;
pub mod copy;
pub mod source;
pub mod subxact;
pub mod target;
pub mod writer;
