//! The SQL surface: functions in schema `vs_ingest` (wrapped unqualified in `public` by
//! `src/sql/api.sql`).

pub mod cluster;
pub mod convert;
pub mod hours;
pub mod ingest;
pub mod links;
pub mod monitoring;
pub mod plan;
pub mod quality;
pub mod retention;
pub mod settings;
pub mod source;
pub mod target;
