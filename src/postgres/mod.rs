//! The Postgres side of the shell: access checks, the catalog tables, sources, subtransactions and
//! worker transactions. Everything here runs on the backend's main thread only.

pub mod access;
pub mod catalog;
pub mod links;
pub mod source;
pub mod subxact;
pub mod transaction;
