//! `vs_ingest.settings`: every vs_ingest setting with its value and where it comes from.
//!
//! Postgres knows a library's settings only in sessions that loaded it; in PostgreSQL 15, `ALTER
//! SYSTEM SET vs_ingest.max_workers = 1` in a session that has not is refused as an unrecognized
//! parameter. Calling this function (or reading the view over it) loads the library, so the
//! settings are defined, shown with their real values, and can be set in the same session.

use pgrx::prelude::*;

use crate::error::{spi_error, OrRaise};
use crate::postgres::access::FixedSearchPath;

#[pg_extern(stable, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn settings() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(setting, Option<String>),
        name!(unit, Option<String>),
        name!(source, Option<String>),
        name!(context, Option<String>),
        name!(description, Option<String>),
    ),
> {
    let _path = FixedSearchPath::enter();
    let rows = Spi::connect(|client| {
        client
            .select(
                "SELECT name, setting, unit, source, context, short_desc FROM pg_catalog.pg_settings
                  WHERE name LIKE 'vs\\_ingest.%' ORDER BY name",
                None,
                &[],
            )?
            .map(|row| {
                Ok((
                    row.get::<String>(1)?.unwrap_or_default(),
                    row.get::<String>(2)?,
                    row.get::<String>(3)?,
                    row.get::<String>(4)?,
                    row.get::<String>(5)?,
                    row.get::<String>(6)?,
                ))
            })
            .collect::<std::result::Result<Vec<_>, pgrx::spi::Error>>()
    })
    .map_err(spi_error);
    TableIterator::new(rows.or_raise())
}
