//! The links a load keeps (`links => 'public.seoul_links'`): any table or view with a column
//! `link_id`, named as the caller's `search_path` resolves it and read once, as the caller (so its
//! privileges apply), when the load starts. The set travels in the run's request, so a resumed
//! run keeps the links it started with; the engine drops the other links' samples before
//! aggregation and counts them (`rows_filtered`).

use pgrx::prelude::*;

use crate::error::{spi_error, IngestError, Result};
use crate::postgres::access;
use crate::write::target::qualified_name;

/// The relation `name` names, resolved before the load fixes its `search_path`.
pub fn resolve(name: Option<&str>) -> Result<Option<pg_sys::Oid>> {
    let Some(name) = name else { return Ok(None) };
    match access::relation_oid(name)? {
        Some(oid) => Ok(Some(oid)),
        None => Err(IngestError::LinksNotFound(name.to_string())),
    }
}

/// The relation's name and its distinct non-NULL link ids.
pub fn read(relation: Option<pg_sys::Oid>) -> Result<Option<(String, Vec<i64>)>> {
    let Some(oid) = relation else { return Ok(None) };
    let name = qualified_name(oid)?;
    let has_column = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                         WHERE attrelid = $1 AND attname = 'link_id' AND attnum > 0 AND NOT attisdropped
                           AND atttypid IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
                                            'pg_catalog.int8'::pg_catalog.regtype, 'pg_catalog.numeric'::pg_catalog.regtype))",
        &[oid.into()],
    )
    .map_err(spi_error)?;
    if has_column != Some(true) {
        return Err(IngestError::LinksNoColumn(name));
    }
    let ids = Spi::get_one::<Vec<i64>>(&format!(
        "SELECT coalesce(pg_catalog.array_agg(DISTINCT l.link_id::pg_catalog.int8), '{{}}') FROM {name} l
          WHERE l.link_id IS NOT NULL"
    ))
    .map_err(spi_error)?
    .unwrap_or_default();
    if ids.is_empty() {
        return Err(IngestError::LinksEmpty(name));
    }
    Ok(Some((name, ids)))
}
