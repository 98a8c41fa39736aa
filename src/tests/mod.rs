//! The in-database tests (`cargo pgrx test`, under the `pg_test` feature): each suite's test
//! functions sit in a module `tests` marked `#[pg_schema]`, since pgrx's runner calls them in the
//! schema `tests`. SQL-surface behaviour (argument checks, refusals, reports) is tested by
//! pg_regress (`sql/`, `expected/`) instead.

mod budget;
mod load;
mod network;
mod quality;
mod regions;
mod replace;
mod scheduler;
mod support;
mod workers;
