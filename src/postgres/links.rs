//! Links as data: the links a load keeps (a region, `links => 'public.seoul_links'`) and the links
//! a target knows (its reference network, `vs_ingest_set_links`, kept in `vs_ingest.link`).
//!
//! A relation of links is any table or view with a column `link_id`, named as the caller's
//! `search_path` resolves it and read once, by the caller's query as the caller (so its
//! privileges apply). A region's ids travel in the run's request, so a resumed run keeps the links
//! it started with. A network is copied into the catalog (as its owner, after the caller read
//! it), and each worker reads it when it starts. The engine checks both per sample before
//! aggregation (`vs_ingest_engine::links`); what a network lacks is counted per file and link
//! (`vs_ingest.unknown_link`), committed with the chunk it came in.

use std::sync::Arc;

use pgrx::prelude::*;
use vs_ingest_engine::links::{most_frequent, Network, NetworkLink, UnknownCounts, UnknownLinks};

use crate::error::{spi_error, IngestError, Result};
use crate::postgres::access;
use crate::write::target::qualified_name;

/// The unknown links of a committed chunk kept in the ledger, most samples first: a national day
/// commits in one or two chunks, so a file's most frequent unknown links are all there.
pub const UNKNOWN_LINKS_KEPT: usize = 1000;

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
    let name = links_relation(oid)?;
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

/// `read` of a relation stored by oid (a source's), refused as `name` if it was dropped since.
pub fn read_stored(relation: pg_sys::Oid, name: &str) -> Result<Option<(String, Vec<i64>)>> {
    let exists = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = $1)",
        &[relation.into()],
    )
    .map_err(spi_error)?;
    if exists != Some(true) {
        return Err(IngestError::LinksNotFound(name.into()));
    }
    read(Some(relation))
}

/// The qualified name of a relation with an integer column `link_id`.
fn links_relation(oid: pg_sys::Oid) -> Result<String> {
    let name = qualified_name(oid)?;
    let integer = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                         WHERE attrelid = $1 AND attname = 'link_id' AND attnum > 0 AND NOT attisdropped
                           AND atttypid IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
                                            'pg_catalog.int8'::pg_catalog.regtype, 'pg_catalog.numeric'::pg_catalog.regtype))",
        &[oid.into()],
    )
    .map_err(spi_error)?;
    if integer != Some(true) {
        return Err(IngestError::LinksNoColumn(name));
    }
    Ok(name)
}

/// Whether the relation has a column `column`.
fn has_column(oid: pg_sys::Oid, column: &str) -> Result<bool> {
    Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                         WHERE attrelid = $1 AND attname = $2 AND attnum > 0 AND NOT attisdropped)",
        &[oid.into(), column.into()],
    )
    .map(|b| b == Some(true))
    .map_err(spi_error)
}

/// Replaces the network of the target `target` (its hourly view) with the links of `relation`
/// (`None`: removes it); returns how many links it now has. The caller has the privileges of the
/// target's owner; the relation is read as the caller, and only then is the catalog written, as
/// its owner.
pub fn set_network(target: pg_sys::Oid, relation: Option<pg_sys::Oid>) -> Result<i64> {
    let Some(relation) = relation else {
        store_network(target, None)?;
        return Ok(0);
    };
    let name = links_relation(relation)?;
    // Optional columns, each as text (dates in ISO form, whatever the session's DateStyle).
    let optional = |column: &str, cast: &str| -> Result<String> {
        Ok(if has_column(relation, column)? { format!("l.{column}::{cast}") } else { format!("NULL::{cast}") })
    };
    let (region, road_name) = (optional("region", "pg_catalog.text")?, optional("road_name", "pg_catalog.text")?);
    let (valid_from, valid_until) =
        (optional("valid_from", "pg_catalog.date")?, optional("valid_until", "pg_catalog.date")?);
    // Read once (a view need not give the same rows twice): the checks and the stored links come
    // from the same rows.
    let read = Spi::connect(|client| {
        let row = client
            .select(
                &format!(
                    "WITH n AS MATERIALIZED (
                         SELECT l.link_id::pg_catalog.int8 AS link_id, {region} AS region, {road_name} AS road_name,
                                {valid_from} AS valid_from, {valid_until} AS valid_until
                           FROM {name} l WHERE l.link_id IS NOT NULL),
                     twice AS (SELECT n.link_id, pg_catalog.count(*) AS times FROM n GROUP BY n.link_id
                                HAVING pg_catalog.count(*) > 1 ORDER BY n.link_id LIMIT 1),
                     backwards AS (SELECT n.link_id, pg_catalog.to_char(n.valid_from, 'YYYY-MM-DD') AS valid_from,
                                          pg_catalog.to_char(n.valid_until, 'YYYY-MM-DD') AS valid_until
                                     FROM n WHERE n.valid_until <= n.valid_from ORDER BY n.link_id LIMIT 1)
                     SELECT t.link_id, t.times, b.link_id, b.valid_from, b.valid_until,
                            a.ids, a.regions, a.road_names, a.froms, a.untils
                       FROM (SELECT coalesce(pg_catalog.array_agg(n.link_id), '{{}}') AS ids,
                                    pg_catalog.array_agg(n.region) AS regions,
                                    pg_catalog.array_agg(n.road_name) AS road_names,
                                    pg_catalog.array_agg(pg_catalog.to_char(n.valid_from, 'YYYY-MM-DD')) AS froms,
                                    pg_catalog.array_agg(pg_catalog.to_char(n.valid_until, 'YYYY-MM-DD')) AS untils
                               FROM n) a
                       LEFT JOIN twice t ON true LEFT JOIN backwards b ON true"
                ),
                None,
                &[],
            )?
            .first();
        if let Some(link_id) = row.get::<i64>(1)? {
            let times = row.get::<i64>(2)?.unwrap_or_default();
            return Ok(Err(IngestError::NetworkDuplicate { relation: name.clone(), link_id, times }));
        }
        if let Some(link_id) = row.get::<i64>(3)? {
            return Ok(Err(IngestError::NetworkBadValidity {
                relation: name.clone(),
                link_id,
                valid_from: row.get::<String>(4)?.unwrap_or_default(),
                valid_until: row.get::<String>(5)?.unwrap_or_default(),
            }));
        }
        Ok(Ok(NetworkRows {
            ids: row.get::<Vec<i64>>(6)?.unwrap_or_default(),
            regions: row.get::<Vec<Option<String>>>(7)?.unwrap_or_default(),
            road_names: row.get::<Vec<Option<String>>>(8)?.unwrap_or_default(),
            froms: row.get::<Vec<Option<String>>>(9)?.unwrap_or_default(),
            untils: row.get::<Vec<Option<String>>>(10)?.unwrap_or_default(),
        }))
    })
    .map_err(spi_error)??;
    if read.ids.is_empty() {
        return Err(IngestError::LinksEmpty(name));
    }
    let links = read.ids.len() as i64;
    store_network(target, Some(read))?;
    Ok(links)
}

/// A network as read from its relation, column by column (dates as `YYYY-MM-DD`).
struct NetworkRows {
    ids: Vec<i64>,
    regions: Vec<Option<String>>,
    road_names: Vec<Option<String>>,
    froms: Vec<Option<String>>,
    untils: Vec<Option<String>>,
}

/// Replaces the target's rows of `vs_ingest.link` with `rows` (`None`: none), as the catalog's
/// owner.
fn store_network(target: pg_sys::Oid, rows: Option<NetworkRows>) -> Result<()> {
    access::as_catalog_owner(|| {
        lock_network(target)?;
        Spi::run_with_args("DELETE FROM vs_ingest.link WHERE target_oid = $1", &[target.into()]).map_err(spi_error)?;
        let Some(rows) = rows else { return Ok(()) };
        Spi::run_with_args(
            "INSERT INTO vs_ingest.link (target_oid, link_id, region, road_name, valid_from, valid_until)
             SELECT $1, u.l, u.r, u.n, u.f::date, u.t::date
               FROM unnest($2::int8[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(l, r, n, f, t)",
            &[
                target.into(),
                rows.ids.into(),
                rows.regions.into(),
                rows.road_names.into(),
                rows.froms.into(),
                rows.untils.into(),
            ],
        )
        .map_err(spi_error)
    })
}

/// Serialises replacements of one target's network.
fn lock_network(target: pg_sys::Oid) -> Result<()> {
    Spi::run_with_args(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('vs_ingest.link'), $1::pg_catalog.int4)",
        &[(u32::from(target) as i32).into()],
    )
    .map_err(spi_error)
}

/// Whether the target (its hourly view) has a network.
pub fn has_network(target: pg_sys::Oid) -> Result<bool> {
    access::as_catalog_owner(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM vs_ingest.link WHERE target_oid = $1)",
            &[target.into()],
        )
        .map(|b| b.unwrap_or(false))
        .map_err(spi_error)
    })
}

/// The target's network as the engine checks it, with what to do with the links it lacks
/// (`unknown`, as stored in the request: `None` loads them); `None` when it has none.
pub fn network(target: pg_sys::Oid, unknown: Option<&str>) -> Result<Option<(Arc<Network>, UnknownLinks)>> {
    let unknown = match unknown {
        None => UnknownLinks::default(),
        Some(word) => unknown_links(word)?,
    };
    let (ids, froms, untils) = access::as_catalog_owner(|| {
        Spi::connect(|client| {
            let row = client
                .select(
                    "SELECT coalesce(array_agg(link_id), '{}'), array_agg(valid_from - date '1970-01-01'),
                            array_agg(valid_until - date '1970-01-01')
                       FROM vs_ingest.link WHERE target_oid = $1",
                    None,
                    &[target.into()],
                )?
                .first();
            Ok::<_, pgrx::spi::Error>((
                row.get::<Vec<i64>>(1)?.unwrap_or_default(),
                row.get::<Vec<Option<i32>>>(2)?.unwrap_or_default(),
                row.get::<Vec<Option<i32>>>(3)?.unwrap_or_default(),
            ))
        })
        .map_err(spi_error)
    })?;
    if ids.is_empty() {
        return Ok(None);
    }
    let links = ids
        .into_iter()
        .zip(froms.into_iter().zip(untils))
        .map(|(link_id, (valid_from, valid_until))| NetworkLink { link_id, valid_from, valid_until })
        .collect();
    Ok(Some((Arc::new(Network::new(links)), unknown)))
}

/// The choice `unknown_links => word`; 22023 for a word that is not one.
pub fn unknown_links(word: &str) -> Result<UnknownLinks> {
    UnknownLinks::parse(word).ok_or_else(|| IngestError::BadUnknownLinks(word.into()))
}

/// Adds a chunk's most frequent unknown links to the file's, in the chunk's transaction.
pub fn store_unknown(file_id: i64, counts: &UnknownCounts) -> Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let (ids, samples): (Vec<i64>, Vec<i64>) =
        most_frequent(counts, UNKNOWN_LINKS_KEPT).into_iter().map(|(l, n)| (l, n as i64)).unzip();
    access::as_catalog_owner(|| {
        Spi::run_with_args(
            "INSERT INTO vs_ingest.unknown_link (file_id, link_id, samples)
             SELECT $1, u.l, u.n FROM unnest($2::int8[], $3::int8[]) AS u(l, n)
             ON CONFLICT (file_id, link_id) DO UPDATE SET samples = unknown_link.samples + excluded.samples",
            &[file_id.into(), ids.into(), samples.into()],
        )
        .map_err(spi_error)
    })
}
